"""Best of each burst: group the photos, score them with a model bundle, keep the top one per group.

:func:`cull` returns a :class:`CullResult`; :meth:`CullResult.to_csv` writes ``picks.csv`` with
the columns ``path,group,p_aesthetic,best[,mean_score][,p_content,p_clean],error`` (``mean_score``
only when the bundle's predictions carry one, i.e. a bundle with a rating head; ``p_content`` and
``p_clean`` for a bundle with quality heads: what a frame shows and how clean it is, so a frame that
lost to its burst for blur or darkness says so), and
:func:`aesthetic.culling.html.write_picks_html` the page beside it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from aesthetic.culling.grouping import GroupingConfig, PhotoScan, group_scans, scan_photos
from aesthetic.fileio import atomic_write_text
from aesthetic.explain.pipeline import explain_file, output_stems
from aesthetic.imageio import ImageReadError

log = logging.getLogger(__name__)

CSV_COLUMNS = ("path", "group", "p_aesthetic", "best")


@dataclass
class CulledPhoto:
    """One input photo: its group, score (NaN when it could not be scored) and whether it is the pick."""

    index: int                      # position in the input
    path: str
    group: int
    p_aesthetic: float
    best: bool
    error: str
    mean_score: Optional[float] = None
    scan: Optional[PhotoScan] = None
    #: The aesthetic head's P and the quality heads' factor (a bundle with quality heads), else None.
    p_content: Optional[float] = None
    p_clean: Optional[float] = None

    @property
    def scored(self) -> bool:
        return math.isfinite(self.p_aesthetic)


@dataclass
class CullResult:
    photos: list[CulledPhoto]
    config: GroupingConfig
    threshold: float
    has_mean_score: bool = False
    has_heads: bool = False
    #: path of a pick -> its explanation overlay PNG (filled by :func:`explain_picks`)
    explanations: dict[str, Path] = field(default_factory=dict)

    def groups(self) -> list[tuple[int, list[CulledPhoto]]]:
        """``(group, members)`` by group number; members best first (see :func:`rank_key`)."""
        by_group: dict[int, list[CulledPhoto]] = {}
        for photo in self.photos:
            by_group.setdefault(photo.group, []).append(photo)
        return [(g, sorted(members, key=rank_key)) for g, members in sorted(by_group.items())]

    def picks(self) -> list[CulledPhoto]:
        return [p for p in self.photos if p.best]

    def failures(self) -> list[CulledPhoto]:
        return [p for p in self.photos if p.error]

    @property
    def columns(self) -> tuple[str, ...]:
        return (CSV_COLUMNS + (("mean_score",) if self.has_mean_score else ())
                + (("p_content", "p_clean") if self.has_heads else ()) + ("error",))

    def to_csv(self, path: str | Path) -> Path:
        """Write one row per input photo, in input order, atomically."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for p in self.photos:
            row = [p.path, p.group, f"{p.p_aesthetic:.6f}" if p.scored else "", int(p.best)]
            if self.has_mean_score:
                row.append(_cell(p.mean_score, 4))
            if self.has_heads:
                row += [_cell(p.p_content, 6), _cell(p.p_clean, 6)]
            writer.writerow(row + [p.error])
        atomic_write_text(path, buf.getvalue())
        return Path(path)


def _cell(value: Optional[float], digits: int) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def rank_key(photo: CulledPhoto) -> tuple[int, float, int]:
    """Best first: scored before unscored, higher P first, and on a tie the earlier input first."""
    return (0 if photo.scored else 1, -photo.p_aesthetic if photo.scored else 0.0, photo.index)


def choose_best(groups: Sequence[int], scores: Sequence[float]) -> np.ndarray:
    """``(n,) bool``: per group the highest finite score (ties: the first in input order); a group
    with no scored photo has no pick."""
    best = np.zeros(len(groups), dtype=bool)
    winner: dict[int, int] = {}
    for i, (g, s) in enumerate(zip(groups, scores)):
        if not math.isfinite(s):
            continue
        if g not in winner or s > scores[winner[g]]:
            winner[g] = i
    best[list(winner.values())] = True
    return best


def _column(prediction: Any, n: int, name: str = "mean_score") -> Optional[np.ndarray]:
    """A per-photo column of the prediction when the bundle gives it (``mean_score`` with a rating
    head, ``p_content``/``p_clean`` with quality heads), else None."""
    values = getattr(prediction, name, None)
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return values if len(values) == n else None


def cull(model: Any, paths: Sequence[str], config: GroupingConfig | None = None, batch_size: int = 32,
         workers: int = 4, progress: bool = True, skipped: Sequence[tuple[str, str]] = ()) -> CullResult:
    """Group ``paths`` (:mod:`aesthetic.culling.grouping`), score them with ``model.predict`` (a loaded
    bundle, :func:`aesthetic.bundles.model.load_model`) and mark the best of each group.

    A file that cannot be read is kept as a group of its own with its reason in ``error``; so is
    each ``(path, reason)`` of ``skipped`` (files the folder scan saw and did not take).
    """
    config = config or GroupingConfig()
    paths = [str(p) for p in paths]
    scans = scan_photos(paths, workers=workers, progress=progress)
    paths += [str(p) for p, _ in skipped]
    scans += [PhotoScan(path=str(p), error=reason) for p, reason in skipped]
    groups = group_scans(scans, config)
    readable = [p for p, s in zip(paths, scans) if not s.error]
    scores = np.full(len(paths), np.nan)
    errors = [s.error for s in scans]
    extra = {name: np.full(len(paths), np.nan) for name in ("mean_score", "p_content", "p_clean")}
    given: set[str] = set()
    if readable:
        prediction = model.predict(readable, batch_size=batch_size, progress=progress)
        rows = [i for i, s in enumerate(scans) if not s.error]
        scores[rows] = np.asarray(prediction.p_aesthetic, dtype=np.float64)
        for i, reason in zip(rows, prediction.errors):
            errors[i] = errors[i] or reason
        for name, column in extra.items():
            values = _column(prediction, len(rows), name)
            if values is not None:
                column[rows] = values
                given.add(name)
    best = choose_best(groups.tolist(), scores.tolist())
    heads = {"p_content", "p_clean"} <= given

    def value(name: str, i: int, present: bool) -> Optional[float]:
        return float(extra[name][i]) if present else None

    photos = [CulledPhoto(index=i, path=p, group=int(g), p_aesthetic=float(s), best=bool(b), error=e,
                          mean_score=value("mean_score", i, "mean_score" in given), scan=scan,
                          p_content=value("p_content", i, heads), p_clean=value("p_clean", i, heads))
              for i, (p, g, s, b, e, scan) in enumerate(zip(paths, groups, scores, best, errors, scans))]
    return CullResult(photos=photos, config=config, threshold=float(getattr(model, "threshold", 0.5)),
                      has_mean_score="mean_score" in given, has_heads=heads)


def explain_picks(result: CullResult, score_fn: Callable[[np.ndarray], np.ndarray], out_dir: Path,
                  explain_config: Any, progress: bool = True) -> list[str]:
    """Explain every pick with :func:`aesthetic.explain.pipeline.explain_file` into ``out_dir``;
    records each overlay in ``result.explanations`` and returns the failures as sentences."""

    picks = result.picks()
    method = explain_config.methods[0]
    failures = []
    for photo, stem in zip(picks, output_stems([Path(p.path) for p in picks])):
        try:
            explain_file(Path(photo.path), stem, out_dir, score_fn, explain_config,
                         extra={"culled_group": photo.group}, threshold=result.threshold, progress=progress)
        except (ImageReadError, ValueError) as exc:  # ImageReadError names the file already
            failures.append(str(exc) if isinstance(exc, ImageReadError) else f"{photo.path}: {exc}")
            log.warning("could not explain %s: %s", photo.path, exc)
            continue
        result.explanations[photo.path] = out_dir / f"{stem}.{method}.png"
    return failures
