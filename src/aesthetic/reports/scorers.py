"""Scorers: everything a report compares, behind one small interface, and the loop that runs them.

A report never knows what a model is. The project's classifier, the NIMA peer and
every hand-crafted baseline are each a :class:`Scorer`: a name, a decision
threshold, whether its score is a probability, and
``score_images(list of (H, W, 3) uint8 RGB) -> (n,) float`` where higher means
more aesthetic. :func:`score_items` decodes each image once per batch and hands the
batch to every scorer; unreadable files are recorded, never fatal.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from aesthetic.imageio import ImageReadError, read_image
from aesthetic.progress import Progress
from aesthetic.reports.sources import LabeledImage

log = logging.getLogger(__name__)

ImageTransform = Callable[[np.ndarray], np.ndarray]


class ScorerError(RuntimeError):
    """A scorer returned something that is not one finite score per image."""


@runtime_checkable
class Scorer(Protocol):
    """What a report runs. ``score_images`` returns ``(n,)`` scores, higher = more aesthetic;
    an image is called aesthetic when ``score > threshold`` (``>=`` when ``inclusive``)."""

    name: str
    kind: str            # "model", "peer" or "baseline"
    threshold: float
    inclusive: bool      # decision is score >= threshold (else score > threshold)
    probabilistic: bool  # scores are P(aesthetic) in [0, 1] (reliability is meaningful)
    score_label: str     # axis label, with units

    def score_images(self, images: list[np.ndarray]) -> np.ndarray: ...


class ModelScorer:
    """The project's classifier (``aesthetic.model.load_model``): P(aesthetic) and its own threshold."""

    kind = "model"
    inclusive = True  # aesthetic.classifier decides p >= threshold
    probabilistic = True
    score_label = "P(aesthetic)"

    def __init__(self, model, name: str):
        self.model = model
        self.name = name
        self.threshold = float(model.threshold)
        metrics = getattr(model, "metrics", {}) or {}
        calibration = (getattr(model, "config", {}) or {}).get("calibration")
        #: ECE before/after the bundle's calibration, on its out-of-fold training scores (None if unknown)
        self.calibration_summary = None if "ece_raw" not in metrics else {
            "method": (calibration or {}).get("method", "none"), "ece_raw": metrics.get("ece_raw"),
            "ece_calibrated": metrics.get("ece_calibrated"), "threshold_from": metrics.get("threshold_from")}

    def score_images(self, images: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict_images(images), dtype=np.float64).reshape(-1)


class NimaPeerScorer:
    """The NIMA peer (``aesthetic.nima.NimaScorer``): mean of the predicted 1..10 rating
    distribution, called aesthetic when above 5 (the AVA convention)."""

    kind = "peer"
    inclusive = False  # mean > 5
    probabilistic = False
    score_label = "NIMA mean score (1-10)"
    threshold = 5.0

    def __init__(self, nima, name: str = "NIMA (MobileNet, AVA)"):
        self.nima = nima
        self.name = name

    def score_images(self, images: list[np.ndarray]) -> np.ndarray:
        _, mean_scores = self.nima.predict_images(images)
        return np.asarray(mean_scores, dtype=np.float64).reshape(-1)


def check_scorers(scorers: Sequence[Scorer]) -> None:
    """Every object implements the protocol and names are unique (they key the report)."""
    names = [getattr(s, "name", None) for s in scorers]
    for s in scorers:
        if not isinstance(s, Scorer):
            raise TypeError(f"{s!r} is not a Scorer (needs name, kind, threshold, inclusive, "
                            f"probabilistic, score_label and score_images)")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"scorer names must be unique; repeated: {', '.join(map(str, dupes))}")


@dataclass
class ScoreTable:
    """Scores of every scorer for a list of images, NaN where the image could not be read."""

    items: list[LabeledImage]
    scores: dict[str, np.ndarray]                      # scorer name -> (n,) float64
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason

    @property
    def ok(self) -> np.ndarray:
        """(n,) bool: images every scorer scored."""
        if not self.scores:
            return np.array([str(i.path) not in self.failed for i in self.items])
        return np.all([np.isfinite(v) for v in self.scores.values()], axis=0)


def _read(item: LabeledImage) -> np.ndarray | ImageReadError:
    try:
        return read_image(item.path)
    except ImageReadError as exc:
        return exc


def iter_image_batches(items: Sequence[LabeledImage], batch_size: int, workers: int = 2
                       ) -> Iterator[tuple[list[int], list[np.ndarray], dict[str, str]]]:
    """Decode in batches: ``(indices of readable items, their images, {path: reason} of failures)``."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            idx, images, failed = [], [], {}
            for offset, result in enumerate(pool.map(_read, chunk)):
                if isinstance(result, ImageReadError):
                    failed[str(chunk[offset].path)] = result.reason
                    log.warning("skipping unreadable image %s: %s", result.path, result.reason)
                else:
                    idx.append(start + offset)
                    images.append(result)
            yield idx, images, failed


def _run_one(scorer: Scorer, images: list[np.ndarray]) -> np.ndarray:
    out = np.asarray(scorer.score_images(images), dtype=np.float64)
    if out.shape != (len(images),):
        raise ScorerError(f"scorer {scorer.name!r} returned shape {out.shape} for {len(images)} images")
    if not np.all(np.isfinite(out)):
        raise ScorerError(f"scorer {scorer.name!r} returned non-finite scores")
    return out


def score_items(scorers: Sequence[Scorer], items: Sequence[LabeledImage], batch_size: int = 16,
                transform: ImageTransform | None = None, description: str = "scoring",
                progress: bool = True) -> ScoreTable:
    """Run every scorer on every image (decoded once per batch, optionally transformed)."""
    items = list(items)
    scores = {s.name: np.full(len(items), np.nan) for s in scorers}
    failed: dict[str, str] = {}
    with Progress(len(items), description, "images", enabled=progress) as bar:
        for idx, images, batch_failed in iter_image_batches(items, batch_size):
            failed.update(batch_failed)
            if images:
                if transform is not None:
                    images = [transform(im) for im in images]
                for scorer in scorers:
                    scores[scorer.name][idx] = _run_one(scorer, images)
            bar.update(len(idx) + len(batch_failed))
    return ScoreTable(items=items, scores=scores, failed=failed)
