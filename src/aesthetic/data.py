"""Labelled images: the one model of an image with its label, and every reader that makes one.

A user points at images as a folder, a glob, a CSV of paths (with or without labels), a
folder per class, or a label file of mean scores or 10-bin rating distributions. All of
them end in the same few types:

- :class:`Manifest`: images in a fixed order (ids, paths, labels as float32 0/1 or NaN when
  absent) plus every file the listing saw and did not take, with the reason (``skipped``);
- :class:`LabeledImage`: one item of a manifest (absolute path, label 0/1 or None, key, and the
  human 1-10 mean score when its source carries one);
- :class:`LabelTable`: labels, mean scores and 10-bin vote counts per image id from a label file,
  joined onto a feature store;
- :class:`LabelRule`: how scores become labels (saved with every model bundle).

There is one CSV reader (:func:`_read_csv`), one 0/1 label check (:func:`parse_label`),
one mean of a 10-bin distribution (:func:`mean_from_distribution`) and one error,
:class:`DataError`, whose message names the file (and line) and the problem.

Score rules: a mean score is aesthetic when ``score > threshold`` (margin 0) or, with a
margin, when ``score >= threshold + margin``; it is not when ``score <= threshold`` (margin
0) or ``score <= threshold - margin``; scores in between are dropped (NaN). The AVA
convention is threshold 5. The mean of a distribution is ``sum(i * c_i) / sum(c_i)`` for
``i = 1..10``.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import logging
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Sequence, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic.fileio import PathLike, read_json
from aesthetic.imageio import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

N_BINS = 10


class DataError(ValueError):
    """Images or labels that cannot be used; the message names the file (and line) and the problem."""


# --------------------------------------------------------------------------- one labelled image

@dataclass(frozen=True)
class LabeledImage:
    """One image: ``path`` as resolved (absolute), ``key`` as written in its source, label or None,
    and ``score``: its human mean rating on the 1-10 scale, when the source carries one."""

    path: Path
    label: int | None
    key: str
    score: float | None = None


@dataclass
class Manifest:
    """Images in a fixed order. ``ids`` are stable names (relative paths); ``labels`` (n,) float32,
    0/1 or NaN when absent. ``skipped`` lists ``(path, reason)`` for every file the listing saw
    and did not take (unsupported type, dangling symlink, unreadable folder, ...)."""

    ids: list[str]
    paths: list[str]
    labels: np.ndarray  # (n,) float32
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def fingerprint(self) -> str:
        """Hash of ids and paths: a resumed job must see the same list."""
        digest = hashlib.sha256()
        for i, p in zip(self.ids, self.paths):
            digest.update(f"{i}\0{p}\n".encode())
        return digest.hexdigest()

    def items(self, where: str = "", require_labels: bool = False) -> list[LabeledImage]:
        """The manifest as :class:`LabeledImage` items (labels must be present when required)."""
        out = []
        for key, path, value in zip(self.ids, self.paths, self.labels.tolist()):
            label = None if math.isnan(value) else int(value)
            if require_labels and label is None:
                raise DataError(f"{where}, {key}: missing label (0 or 1)")
            out.append(LabeledImage(path=Path(path).resolve(), label=label, key=key))
        return out

    @staticmethod
    def concat(parts: Sequence["Manifest"]) -> "Manifest":
        return Manifest([i for m in parts for i in m.ids], [p for m in parts for p in m.paths],
                        np.concatenate([m.labels for m in parts]) if parts else np.zeros(0, np.float32),
                        [s for m in parts for s in m.skipped])


def parse_label(value: str | float | None, where: str) -> float:
    """The one 0/1 label check: ``1``/``0`` (also ``1.0``) -> float, empty -> NaN (no label).

    Anything else, ``nan`` and ``inf`` included, raises :class:`DataError` naming ``where``.
    """
    text = "" if value is None else str(value).strip()
    if text == "":
        return math.nan
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if number not in (0.0, 1.0):
        raise DataError(f"{where}: label {text!r} is not 0 or 1")
    return number


# --------------------------------------------------------------------------- scores -> labels

class LabelRule(BaseModel):
    """How scores become binary labels; saved with every model bundle.

    ``source``: ``"binary"`` reads 0/1 labels; ``"mean"`` reads a mean score column;
    ``"distribution"`` reads 10-bin vote counts and takes their mean. For the last two,
    a score is aesthetic when ``score > threshold`` (margin 0) or, with ``margin > 0``,
    when ``score >= threshold + margin``; it is not aesthetic when ``score <= threshold``
    (margin 0) or ``score <= threshold - margin``; scores in between are dropped (NaN).
    """

    model_config = ConfigDict(frozen=True)
    source: Literal["binary", "mean", "distribution"] = "binary"
    threshold: float = 5.0
    margin: float = Field(0.0, ge=0.0)
    path_column: str = "path"
    label_column: str = "label"
    score_column: str = "mean_score"
    distribution_column: str = "rating_distribution"

    def describe(self) -> str:
        if self.source == "binary":
            return f"binary column {self.label_column!r}"
        what = "mean score" if self.source == "mean" else "mean of 10-bin rating distribution"
        if self.margin:
            return (f"{what} >= {self.threshold + self.margin:g} -> 1, <= {self.threshold - self.margin:g} -> 0, "
                    f"between dropped")
        return f"{what} > {self.threshold:g} -> 1, else 0"

    @property
    def value_column(self) -> str:
        return {"binary": self.label_column, "mean": self.score_column,
                "distribution": self.distribution_column}[self.source]


@dataclass
class LabelTable:
    """Labels per image id. ``labels`` is ``(n,) float32`` in {0, 1} or NaN (dropped as ambiguous);
    ``scores`` is ``(n,) float32`` mean scores (NaN for binary sources); ``distributions`` is
    ``(n, 10) float64`` vote counts (NaN rows where a source has none: binary and mean sources);
    ``source`` names the file (for messages)."""

    ids: list[str]
    labels: np.ndarray
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    distributions: np.ndarray = field(default_factory=lambda: np.zeros((0, N_BINS)))
    source: str = "labels"

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32)
        if self.scores.size == 0:
            self.scores = np.full(len(self.ids), np.nan, np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.distributions.size == 0:
            self.distributions = np.full((len(self.ids), N_BINS), np.nan)
        self.distributions = np.asarray(self.distributions, dtype=np.float64).reshape(-1, N_BINS)
        if not (len(self.ids) == len(self.labels) == len(self.scores) == len(self.distributions)):
            raise DataError("ids, labels, scores and distributions must have the same length")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kept(self) -> np.ndarray:
        """Mask of images with a label (not dropped by the margin)."""
        return ~np.isnan(self.labels)

    def as_dict(self) -> dict[str, float]:
        """id -> label (NaN kept so a caller can tell "dropped" from "unknown")."""
        return {i: float(v) for i, v in zip(self.ids, self.labels)}

    def lookup(self, ids: Sequence[str]) -> np.ndarray:
        """Labels for ``ids`` in that order; NaN for ids this table does not have."""
        table = self.as_dict()
        return np.array([table.get(str(i), np.nan) for i in ids], dtype=np.float32)

    def _rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each of ``ids`` in this table, -1 where absent."""
        where = {i: k for k, i in enumerate(self.ids)}
        return np.array([where.get(str(i), -1) for i in ids], dtype=np.int64)

    def lookup_scores(self, ids: Sequence[str]) -> np.ndarray:
        """Mean scores ``(len(ids),) float32`` for ``ids`` in that order; NaN where unknown."""
        rows = self._rows(ids)
        out = np.full(len(rows), np.nan, np.float32)
        out[rows >= 0] = self.scores[rows[rows >= 0]]
        return out

    def lookup_distributions(self, ids: Sequence[str]) -> np.ndarray:
        """Vote counts ``(len(ids), 10) float64`` for ``ids`` in that order; NaN rows where unknown."""
        rows = self._rows(ids)
        out = np.full((len(rows), N_BINS), np.nan)
        known = rows >= 0
        out[known] = self.distributions[rows[known]]
        return out

    def join(self, ids: Sequence[str], what: str = "the feature store") -> np.ndarray:
        """:meth:`lookup` that says how well the table covers ``ids``.

        No id in common raises :class:`DataError`; a partial match is logged as one warning
        with the counts (images without a row are left out of training, not guessed).
        """
        wanted = [str(i) for i in ids]
        table = self.as_dict()
        unique = set(wanted)
        matched = sum(1 for i in unique if i in table)
        if unique and matched == 0:
            raise DataError(f"{self.source}: none of its {len(self)} ids match the {len(unique)} images of "
                            f"{what} (e.g. {self.ids[0] if self.ids else '-'!r} vs {wanted[0]!r})")
        if matched < len(unique):
            unused = len(set(table) - unique)
            log.warning("%s: labels %d of the %d images of %s; %d have no row and are left out "
                        "(%d rows of the file match no image)", self.source, matched, len(unique), what,
                        len(unique) - matched, unused)
        return np.array([table.get(i, np.nan) for i in wanted], dtype=np.float32)


def mean_from_distribution(counts: Sequence[float] | np.ndarray) -> np.ndarray | float:
    """Mean rating of 10-bin vote counts: ``sum(i * c_i) / sum(c_i)``, ``i = 1..10``.

    ``counts`` is ``(10,)`` or ``(n, 10)``; returns a float or ``(n,)`` float64.
    """
    arr = np.asarray(counts, dtype=np.float64)
    single = arr.ndim == 1
    arr = np.atleast_2d(arr)
    if arr.ndim != 2 or arr.shape[1] != N_BINS:
        raise DataError(f"a rating distribution needs {N_BINS} counts, got shape {np.shape(counts)}")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise DataError("rating counts must be finite and non-negative")
    totals = arr.sum(axis=1)
    if np.any(totals <= 0):
        raise DataError(f"rating distribution with no votes at row(s) {np.flatnonzero(totals <= 0).tolist()}")
    means = arr @ np.arange(1, N_BINS + 1, dtype=np.float64) / totals
    return float(means[0]) if single else means


def labels_from_scores(scores: Sequence[float] | np.ndarray, threshold: float = 5.0,
                       margin: float = 0.0) -> np.ndarray:
    """Binary labels ``(n,) float32`` from mean scores; NaN where dropped (see :class:`LabelRule`)."""
    if margin < 0:
        raise DataError(f"margin must be >= 0, got {margin}")
    s = np.asarray(scores, dtype=np.float64)
    out = np.full(s.shape, np.nan, np.float32)
    if margin == 0:
        out[s > threshold] = 1.0
        out[s <= threshold] = 0.0
    else:
        out[s >= threshold + margin] = 1.0
        out[s <= threshold - margin] = 0.0
    out[np.isnan(s)] = np.nan
    return out


def _parse_score(cell: str, source: str, where: str) -> tuple[float, list[float]]:
    """A mean score and the 10-bin vote counts it came from (NaN counts for a mean-score cell)
    from one cell; empty -> NaN (dropped)."""
    no_counts = [math.nan] * N_BINS
    if not cell:
        return math.nan, no_counts
    if source == "mean":
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(f"{where}: score {cell!r} is not a finite number")
        return value, no_counts
    parts = cell.replace(",", " ").split()
    try:
        counts = [float(p) for p in parts]
    except ValueError:
        raise DataError(f"{where}: rating distribution {cell!r} is not numbers") from None
    if len(counts) != N_BINS:
        raise DataError(f"{where}: rating distribution has {len(counts)} counts, expected {N_BINS}")
    try:
        return float(mean_from_distribution(counts)), counts
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- the one CSV reader

def _headerless(first: list[str]) -> bool:
    """Whether a first row without a ``path`` column is data (``path[,label]``) rather than a header."""
    try:
        return len(first) < 2 or not math.isnan(parse_label(first[1], "")) or first[1].strip() == ""
    except DataError:
        return False


def _read_csv(path: Path, rule: LabelRule,
              require_values: bool) -> tuple[list[str], list[float], list[float], list[list[float]]]:
    """(keys, labels, scores, distributions) of a CSV, one per row with a path (distributions are
    the 10-bin vote counts of a distribution source, NaN rows otherwise).

    A header row names the columns (``rule.path_column`` and the rule's value column, matched
    without regard to case); a list of images may have no header and then reads as ``path[,label]``.
    ``require_values``: every row needs a value (a label file), else it may be empty (a list of
    images). The same path twice with different labels is refused.
    """
    if not path.is_file():
        raise DataError(f"{path}: CSV file not found")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as a UTF-8 CSV ({getattr(exc, 'strerror', None) or exc})") from None
    if not rows:
        raise DataError(f"{path}: empty CSV")
    header = [c.strip().lower() for c in rows[0]]
    value_column = rule.value_column.lower()
    if rule.path_column.lower() in header:
        path_col = header.index(rule.path_column.lower())
        value_col = header.index(value_column) if value_column in header else None
        body, first_line = rows[1:], 2
    elif not require_values and _headerless(rows[0]):
        path_col, value_col, body, first_line = 0, (1 if len(rows[0]) > 1 else None), rows, 1
    else:
        raise DataError(f"{path}: no column {rule.path_column!r} (has {', '.join(rows[0]) or 'none'})")
    if value_col is None and require_values:
        raise DataError(f"{path}: no column {rule.value_column!r} (has {', '.join(rows[0]) or 'none'})")
    keys: list[str] = []
    labels: list[float] = []
    scores: list[float] = []
    dists: list[list[float]] = []
    first_seen: dict[str, tuple[int, float, float]] = {}
    for line, row in enumerate(body, start=first_line):
        if len(row) <= path_col or not row[path_col].strip():
            continue
        where = f"{path}:{line}"
        key = row[path_col].strip()
        cell = row[value_col].strip() if value_col is not None and value_col < len(row) else ""
        if rule.source == "binary":
            label, score, counts = parse_label(cell, where), math.nan, [math.nan] * N_BINS
            if require_values and math.isnan(label):
                raise DataError(f"{where}: label '' is not 0 or 1")
        else:
            score, counts = _parse_score(cell, rule.source, where)
            label = math.nan  # set from the scores below
        seen = first_seen.setdefault(key, (line, label, score))
        if not (np.array_equal(seen[1:], (label, score), equal_nan=True)):
            raise DataError(f"{where}: {key} is listed again with another value than on line {seen[0]}")
        keys.append(key)
        labels.append(label)
        scores.append(score)
        dists.append(counts)
    if rule.source != "binary":
        labels = labels_from_scores(scores, rule.threshold, rule.margin).tolist()
    return keys, labels, scores, dists


def read_csv_labels(path: PathLike, rule: LabelRule = LabelRule()) -> LabelTable:
    """A label file (CSV) read by ``rule``. Rows whose score/distribution cell is empty are dropped (NaN)."""
    path = Path(path)
    keys, labels, scores, dists = _read_csv(path, rule, require_values=True)
    return LabelTable(keys, np.asarray(labels, np.float32), np.asarray(scores, np.float32),
                      np.asarray(dists, np.float64).reshape(-1, N_BINS), source=str(path))


def read_ava_json(path: PathLike, threshold: float = 5.0, margin: float = 0.0) -> LabelTable:
    """Labels from the NIMA tools' JSON: ``[{"image_id": "953619", "label": [c1..c10]}, ...]``."""
    path = Path(path)
    records = read_json(path, "label file", DataError)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of {{'image_id', 'label'}} records")
    ids, counts = [], []
    for k, rec in enumerate(records):
        if not isinstance(rec, dict) or "image_id" not in rec or "label" not in rec:
            raise DataError(f"{path}: record {k} lacks 'image_id' or 'label'")
        if not isinstance(rec["label"], list) or len(rec["label"]) != N_BINS:
            raise DataError(f"{path}: record {k} ({rec['image_id']}): 'label' must be a list of {N_BINS} counts")
        ids.append(str(rec["image_id"]))
        counts.append(rec["label"])
    if not ids:
        return LabelTable([], np.zeros(0, np.float32), np.zeros(0, np.float32), source=str(path))
    try:
        means = mean_from_distribution(np.asarray(counts, dtype=np.float64))
    except (DataError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: {exc}") from None
    return LabelTable(ids, labels_from_scores(means, threshold, margin), np.asarray(means, np.float32),
                      np.asarray(counts, np.float64), source=str(path))


def read_human_scores(csv_path: PathLike, column: str) -> dict[str, float]:
    """Human mean scores (1-10) of a labels CSV's rows, by ``path`` as written; rows with an empty
    cell are left out. ``column`` holds mean scores or 10 space-separated vote counts (AVA rating
    distributions; their mean is taken), told apart by the first non-empty cell."""
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            first = next((row.get(column) or "" for row in csv.DictReader(fh) if (row.get(column) or "").strip()), "")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_path}: cannot read as a UTF-8 CSV ({getattr(exc, 'strerror', None) or exc})") from None
    source = "distribution" if len(first.replace(",", " ").split()) > 1 else "mean"
    try:
        table = read_csv_labels(csv_path, LabelRule(source=source, score_column=column, distribution_column=column))
    except DataError as exc:
        raise DataError(f"scores column {column!r}: {exc}") from None
    known = ~np.isnan(table.scores)
    if not known.any():
        raise DataError(f"{csv_path}: scores column {column!r} is empty in every row")
    low, high = float(table.scores[known].min()), float(table.scores[known].max())
    if low < 1.0 or high > 10.0:
        raise DataError(f"{csv_path}: scores column {column!r} must hold 1-10 mean ratings or rating "
                        f"distributions; found values from {low:g} to {high:g}")
    return {i.strip(): float(v) for i, v, k in zip(table.ids, table.scores, known) if k}


def load_labels(path: PathLike, rule: LabelRule = LabelRule()) -> LabelTable:
    """Labels from ``path`` by its kind: ``.json`` is AVA/NIMA distributions, anything else a CSV read by ``rule``."""
    if Path(path).suffix.lower() == ".json":
        return read_ava_json(path, rule.threshold, rule.margin)
    return read_csv_labels(path, rule)


# --------------------------------------------------------------------------- listing images

_NAMED_UNSUPPORTED = {".gif": "GIF", ".heic": "HEIC", ".heif": "HEIF", ".avif": "AVIF", ".jxl": "JPEG XL"}


def unused_reason(path: Path) -> str | None:
    """Why a file seen by a folder scan is not an image to read, or None when it is one."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "symlink loop"
        if path.is_symlink():
            return f"dangling symlink (points to {os.readlink(path)})"
        return f"cannot read ({exc.strerror or exc})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, socket or device)"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return None
    if suffix in _NAMED_UNSUPPORTED:
        return f"{_NAMED_UNSUPPORTED[suffix]} is not a supported format (convert it to JPEG or PNG)"
    return f"not an image type this tool reads ({suffix or 'no suffix'})"


def scan_folder(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files under ``root`` (recursive, sorted) and ``(path, reason)`` for everything else seen.

    Symlinks to files are followed; symlinks to folders are listed, not entered (no loops).
    """
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []

    def unreadable(exc: OSError) -> None:
        skipped.append((str(exc.filename), f"folder not readable ({exc.strerror or exc})"))

    for folder, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=False):
        here = Path(folder)
        for name in list(dirnames):
            if (here / name).is_symlink():
                skipped.append((str(here / name), "symlink to a folder (not followed)"))
        dirnames.sort()
        for name in sorted(filenames):
            reason = unused_reason(here / name)
            if reason is None:
                files.append(here / name)
            else:
                skipped.append((str(here / name), reason))
    return sorted(files), sorted(skipped)


def _unlabelled(ids: list[str], paths: list[str], skipped: list[tuple[str, str]] | None = None) -> Manifest:
    return Manifest(ids, paths, np.full(len(ids), np.nan, np.float32), skipped or [])


def _from_folder(root: Path) -> Manifest:
    files, skipped = scan_folder(root)
    for path, reason in skipped:
        log.info("not used: %s: %s", path, reason)
    return _unlabelled([p.relative_to(root).as_posix() for p in files], [str(p) for p in files], skipped)


def _from_glob(pattern: str) -> Manifest:
    files, skipped = [], []
    for match in sorted(glob.glob(pattern, recursive=True)):
        if os.path.isdir(match):
            continue
        reason = unused_reason(Path(match))
        (files.append(Path(match)) if reason is None or reason.startswith("not an image type")
         else skipped.append((match, reason)))
    return _unlabelled([p.as_posix() for p in files], [str(p) for p in files], skipped)


def read_manifest_csv(csv_path: PathLike) -> Manifest:
    """A CSV of images: a ``path`` column (relative to the CSV's folder) and an optional 0/1
    ``label`` column (empty = no label); a headerless CSV is read as ``path[,label]``."""
    csv_path = Path(csv_path)
    keys, labels, _, _ = _read_csv(csv_path, LabelRule(), require_values=False)
    paths = [str(Path(k) if os.path.isabs(k) else csv_path.parent / k) for k in keys]
    return Manifest(keys, paths, np.asarray(labels, dtype=np.float32))


def load_manifest(spec: Union[PathLike, Sequence[PathLike]]) -> Manifest:
    """A folder (recursive), a glob pattern, a CSV (path[,label]), an image file, or a list of these."""
    if isinstance(spec, (list, tuple)):
        return Manifest.concat([load_manifest(s) for s in spec])
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        manifest = _from_folder(path)
    elif path.suffix.lower() == ".csv" and path.is_file():
        manifest = read_manifest_csv(path)
    elif os.path.lexists(path):  # one file, taken as named; the decoder says if it is not an image
        manifest = _unlabelled([path.name], [str(path)])
    elif any(ch in text for ch in "*?["):
        manifest = _from_glob(text)
    else:
        raise DataError(f"{text}: no such folder, CSV, image or glob match")
    if len(manifest) == 0:
        seen = f"; {len(manifest.skipped)} other files seen, e.g. {manifest.skipped[0][0]}: " \
               f"{manifest.skipped[0][1]}" if manifest.skipped else ""
        raise DataError(f"{text}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}{seen})")
    return manifest


def read_labels_csv(csv_path: PathLike, require_labels: bool = True) -> list[LabeledImage]:
    """Items of a CSV of images (see :func:`read_manifest_csv`); with ``require_labels`` every row needs 0/1."""
    csv_path = Path(csv_path)
    manifest = read_manifest_csv(csv_path)
    if len(manifest) == 0:
        raise DataError(f"{csv_path}: no rows")
    return manifest.items(str(csv_path), require_labels)


def list_folder(folder: PathLike, label: int | None = None) -> list[LabeledImage]:
    """Every image file under ``folder`` (recursive, sorted), all with ``label``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    return [LabeledImage(i.path, label, i.key) for i in load_manifest(folder).items()]


def read_class_folders(folders: dict[str, PathLike]) -> list[LabeledImage]:
    """``{"1": dir, "0": dir}``: every image in each folder gets that folder's label."""
    items: list[LabeledImage] = []
    for raw_label, folder in sorted(folders.items()):
        try:
            label = parse_label(raw_label, f"folders key {raw_label!r}")
        except DataError:
            label = math.nan
        if math.isnan(label):
            raise DataError(f"folders key {raw_label!r}: a class folder's key must be the label 0 or 1")
        items.extend(LabeledImage(i.path, int(label), f"{int(label)}/{i.key}") for i in list_folder(folder))
    return items


def resolve_input(spec: str) -> list[LabeledImage]:
    """A command-line input (:func:`load_manifest`: folder, glob, CSV or one image).

    A folder whose images all sit in sub-folders named ``0`` and ``1`` is read as a
    folder per class; labels elsewhere come from a CSV or are None.
    """
    path = Path(spec)
    if path.is_dir():
        class_dirs = {d.name: d for d in path.iterdir() if d.is_dir() and d.name in ("0", "1")}
        loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if class_dirs and not loose:
            return read_class_folders(dict(class_dirs))
    return load_manifest(spec).items(spec)


# --------------------------------------------------------------------------- the split

Part = Literal["train", "test"]


def split_key(seed: int, key: str) -> str:
    """Stable sort key of one image for the split: sha256 of ``"seed:key"``."""
    return hashlib.sha256(f"{seed}:{key}".encode("utf-8")).hexdigest()


def deterministic_split(items: Sequence[LabeledImage], part: Part, test_fraction: float,
                        seed: int) -> list[LabeledImage]:
    """The ``part`` of a stratified split that depends only on each image's key, label and seed.

    Within each label, images are ordered by ``split_key(seed, key)`` and the first
    ``round(n_label * test_fraction)`` form the test part. The two parts are disjoint
    and cover ``items``; adding images elsewhere in the source does not move the
    others between parts much (only through the per-label count). Order of the
    result is the order of ``items``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"split test_fraction must be in (0, 1), got {test_fraction}")
    by_label: dict[int | None, list[LabeledImage]] = {}
    for item in items:
        by_label.setdefault(item.label, []).append(item)
    test_keys: set[str] = set()
    for group in by_label.values():
        ranked = sorted(group, key=lambda i: split_key(seed, i.key))
        test_keys.update(i.key for i in ranked[:int(round(len(group) * test_fraction))])
    want_test = part == "test"
    return [i for i in items if (i.key in test_keys) == want_test]


def labels_csv_text(items: Iterable[LabeledImage], relative_to: Path) -> str:
    """A labels CSV (path,label,key[,mean_score]) of resolved items with paths relative to ``relative_to``.

    Written next to a report it is itself a valid input of :func:`read_labels_csv`,
    so the exact membership of every set can be re-read and re-scored. ``mean_score``
    (the human 1-10 score) is written when any item has one.
    """
    items = list(items)
    rated = any(i.score is not None for i in items)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "label", "key"] + (["mean_score"] if rated else []))
    for item in items:
        rel = Path(os.path.relpath(item.path, relative_to)).as_posix()
        row = [rel, "" if item.label is None else item.label, item.key]
        writer.writerow(row + (["" if item.score is None else f"{item.score:.4f}"] if rated else []))
    return out.getvalue()
