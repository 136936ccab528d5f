"""Binary aesthetic labels from the formats people actually have.

Three sources, one result (:class:`LabelTable`: ids and float32 labels, NaN where an
image is dropped as ambiguous):

- a CSV of binary labels (``path,label`` with 0/1);
- mean scores with a threshold (AVA convention: mean > 5 is aesthetic) and an
  optional margin that drops ambiguous images (margin 0.5: >= 5.5 is 1, <= 4.5 is 0,
  anything between is dropped);
- AVA-style 10-bin rating distributions, either the NIMA tools' JSON
  ``[{"image_id": ..., "label": [c1, ..., c10]}]`` or a CSV column of 10
  space-separated counts (``rating_distribution``, as in shared/data/rated_smoke).
  The mean of a distribution is ``sum(i * c_i) / sum(c_i)`` for ``i = 1..10``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

PathLike = Union[str, os.PathLike]
N_BINS = 10


class LabelError(ValueError):
    """A label file or value that cannot be turned into labels; names the file/row and the problem."""


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


@dataclass
class LabelTable:
    """Labels per image id. ``labels`` is ``(n,) float32`` in {0, 1} or NaN (dropped as ambiguous);
    ``scores`` is ``(n,) float32`` mean scores (NaN for binary sources); ``distributions`` is
    ``(n, 10) float64`` vote counts (NaN rows where a source has none: binary and mean sources)."""

    ids: list[str]
    labels: np.ndarray
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    distributions: np.ndarray = field(default_factory=lambda: np.zeros((0, N_BINS)))

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32)
        if self.scores.size == 0:
            self.scores = np.full(len(self.ids), np.nan, np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.distributions.size == 0:
            self.distributions = np.full((len(self.ids), N_BINS), np.nan)
        self.distributions = np.asarray(self.distributions, dtype=np.float64).reshape(-1, N_BINS)
        if not (len(self.ids) == len(self.labels) == len(self.scores) == len(self.distributions)):
            raise LabelError("ids, labels, scores and distributions must have the same length")

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


# --------------------------------------------------------------------------- computations

def mean_from_distribution(counts: Sequence[float] | np.ndarray) -> np.ndarray | float:
    """Mean rating of 10-bin vote counts: ``sum(i * c_i) / sum(c_i)``, ``i = 1..10``.

    ``counts`` is ``(10,)`` or ``(n, 10)``; returns a float or ``(n,)`` float64.
    """
    arr = np.asarray(counts, dtype=np.float64)
    single = arr.ndim == 1
    arr = np.atleast_2d(arr)
    if arr.ndim != 2 or arr.shape[1] != N_BINS:
        raise LabelError(f"a rating distribution needs {N_BINS} counts, got shape {np.shape(counts)}")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise LabelError("rating counts must be finite and non-negative")
    totals = arr.sum(axis=1)
    if np.any(totals <= 0):
        raise LabelError(f"rating distribution with no votes at row(s) {np.flatnonzero(totals <= 0).tolist()}")
    means = arr @ np.arange(1, N_BINS + 1, dtype=np.float64) / totals
    return float(means[0]) if single else means


def labels_from_scores(scores: Sequence[float] | np.ndarray, threshold: float = 5.0,
                       margin: float = 0.0) -> np.ndarray:
    """Binary labels ``(n,) float32`` from mean scores; NaN where dropped (see :class:`LabelRule`)."""
    if margin < 0:
        raise LabelError(f"margin must be >= 0, got {margin}")
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


def _parse_binary(value: str, where: str) -> float:
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        raise LabelError(f"{where}: label {value!r} is not 0 or 1") from None
    if number not in (0.0, 1.0):
        raise LabelError(f"{where}: label {value!r} is not 0 or 1")
    return number


def _parse_counts(value: str, where: str) -> list[float]:
    parts = value.replace(",", " ").split()
    try:
        counts = [float(p) for p in parts]
    except ValueError:
        raise LabelError(f"{where}: rating distribution {value!r} is not numbers") from None
    if len(counts) != N_BINS:
        raise LabelError(f"{where}: rating distribution has {len(counts)} counts, expected {N_BINS}")
    return counts


# --------------------------------------------------------------------------- readers

def read_csv_labels(path: PathLike, rule: LabelRule = LabelRule()) -> LabelTable:
    """Labels from a CSV with a header. Rows whose score/distribution cell is empty are dropped (NaN)."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: label file not found")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        needed = {"binary": rule.label_column, "mean": rule.score_column,
                  "distribution": rule.distribution_column}[rule.source]
        for col in (rule.path_column, needed):
            if col not in columns:
                raise LabelError(f"{path}: no column {col!r} (has {', '.join(columns) or 'none'})")
        ids, labels, scores, dists = [], [], [], []
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            ids.append(row[rule.path_column])
            cell = (row.get(needed) or "").strip()
            dists.append([math.nan] * N_BINS)
            if rule.source == "binary":
                labels.append(_parse_binary(cell, where))
                scores.append(math.nan)
                continue
            if not cell:
                scores.append(math.nan)
            elif rule.source == "mean":
                try:
                    scores.append(float(cell))
                except ValueError:
                    raise LabelError(f"{where}: score {cell!r} is not a number") from None
            else:
                try:
                    dists[-1] = _parse_counts(cell, where)
                    scores.append(mean_from_distribution(dists[-1]))
                except LabelError as exc:
                    raise LabelError(f"{where}: {exc}") from None
            labels.append(math.nan)
    scores_arr = np.asarray(scores, dtype=np.float64)
    if rule.source != "binary":
        labels = labels_from_scores(scores_arr, rule.threshold, rule.margin)
    return LabelTable(ids, np.asarray(labels, np.float32), scores_arr.astype(np.float32),
                      np.asarray(dists, np.float64).reshape(-1, N_BINS))


def read_ava_json(path: PathLike, threshold: float = 5.0, margin: float = 0.0) -> LabelTable:
    """Labels from the NIMA tools' JSON: ``[{"image_id": "953619", "label": [c1..c10]}, ...]``."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: label file not found")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LabelError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(records, list):
        raise LabelError(f"{path}: expected a JSON list of {{'image_id', 'label'}} records")
    ids, counts = [], []
    for k, rec in enumerate(records):
        if not isinstance(rec, dict) or "image_id" not in rec or "label" not in rec:
            raise LabelError(f"{path}: record {k} lacks 'image_id' or 'label'")
        if not isinstance(rec["label"], list) or len(rec["label"]) != N_BINS:
            raise LabelError(f"{path}: record {k} ({rec['image_id']}): 'label' must be a list of {N_BINS} counts")
        ids.append(str(rec["image_id"]))
        counts.append(rec["label"])
    if not ids:
        return LabelTable([], np.zeros(0, np.float32), np.zeros(0, np.float32))
    try:
        means = mean_from_distribution(np.asarray(counts, dtype=np.float64))
    except (LabelError, ValueError, TypeError) as exc:
        raise LabelError(f"{path}: {exc}") from None
    return LabelTable(ids, labels_from_scores(means, threshold, margin), np.asarray(means, np.float32),
                      np.asarray(counts, np.float64))


def load_labels(path: PathLike, rule: LabelRule = LabelRule()) -> LabelTable:
    """Labels from ``path`` by its kind: ``.json`` is AVA/NIMA distributions, anything else a CSV read by ``rule``."""
    if Path(path).suffix.lower() == ".json":
        return read_ava_json(path, rule.threshold, rule.margin)
    return read_csv_labels(path, rule)
