"""Where labelled images come from: a labels CSV, a folder per class, a folder or a glob.

Listing is :mod:`aesthetic.datasets` (one parser for the whole project); this module
adds 0/1 label checks, class folders and the split. Every reader returns :class:`LabeledImage` items (absolute path, label 0/1 or None)
and fails with :class:`SourceError` naming the file, line and value that are wrong.
The deterministic train/test split used by benchmark suites lives here too, so the
suite file and the audit see the same membership.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np

from aesthetic import datasets
from aesthetic.datasets import Manifest, ManifestError
from aesthetic.imageio import IMAGE_SUFFIXES
from aesthetic.labels import LabelError, LabelRule, read_csv_labels


class SourceError(ValueError):
    """A labels file, folder or pattern that cannot be used; the message names it."""


@dataclass(frozen=True)
class LabeledImage:
    """One image: ``path`` as resolved (absolute), ``key`` as written in its source, label or None,
    and ``score``: its human mean rating on the 1-10 scale, when the source carries one."""

    path: Path
    label: int | None
    key: str
    score: float | None = None


def read_human_scores(csv_path: str | Path, column: str) -> dict[str, float]:
    """Human mean scores (1-10) of a labels CSV's rows, by ``path`` as written; rows with an empty
    cell are left out. ``column`` holds mean scores or 10 space-separated vote counts (AVA rating
    distributions; their mean is taken), told apart by the first non-empty cell."""
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            first = next((row.get(column) or "" for row in csv.DictReader(fh) if (row.get(column) or "").strip()), "")
        source = "distribution" if len(first.replace(",", " ").split()) > 1 else "mean"
        table = read_csv_labels(csv_path, LabelRule(source=source, score_column=column, distribution_column=column))
    except (LabelError, OSError) as exc:
        raise SourceError(f"scores column {column!r}: {exc}") from None
    known = ~np.isnan(table.scores)
    if not known.any():
        raise SourceError(f"{csv_path}: scores column {column!r} is empty in every row")
    low, high = float(table.scores[known].min()), float(table.scores[known].max())
    if low < 1.0 or high > 10.0:
        raise SourceError(f"{csv_path}: scores column {column!r} must hold 1-10 mean ratings or rating "
                          f"distributions; found values from {low:g} to {high:g}")
    return {i.strip(): float(v) for i, v, k in zip(table.ids, table.scores, known) if k}


def _as_label(value: float, where: str) -> int | None:
    if np.isnan(value):
        return None
    if value not in (0.0, 1.0):
        raise SourceError(f"{where}: label {value:g} is not 0 or 1")
    return int(value)


def from_manifest(manifest: Manifest, where: str, require_labels: bool) -> list[LabeledImage]:
    """Items of a :class:`aesthetic.datasets.Manifest`; labels must be 0/1 (or absent, unless required)."""
    items = []
    for key, path, value in zip(manifest.ids, manifest.paths, manifest.labels.tolist()):
        label = _as_label(value, f"{where}, {key}")
        if require_labels and label is None:
            raise SourceError(f"{where}, {key}: missing label (0 or 1)")
        items.append(LabeledImage(path=Path(path).resolve(), label=label, key=key))
    return items


def read_labels_csv(csv_path: str | Path, require_labels: bool = True) -> list[LabeledImage]:
    """Rows of a CSV with a ``path`` column (relative to the CSV's folder) and a 0/1 ``label``
    column (the format of :func:`aesthetic.datasets.read_labels_csv`; other columns ignored)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise SourceError(f"{csv_path}: labels CSV not found")
    try:
        manifest = datasets.read_labels_csv(csv_path)
    except ManifestError as exc:
        raise SourceError(str(exc)) from None
    if len(manifest) == 0:
        raise SourceError(f"{csv_path}: no rows")
    return from_manifest(manifest, str(csv_path), require_labels)


def list_folder(folder: str | Path, label: int | None = None) -> list[LabeledImage]:
    """Every image file under ``folder`` (recursive, sorted), all with ``label``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: folder not found")
    try:
        manifest = datasets.load_manifest(folder)
    except ManifestError as exc:
        raise SourceError(str(exc)) from None
    return [LabeledImage(path=Path(p).resolve(), label=label, key=k)
            for k, p in zip(manifest.ids, manifest.paths)]


def read_class_folders(folders: dict[str, str | Path]) -> list[LabeledImage]:
    """``{"1": dir, "0": dir}``: every image in each folder gets that folder's label."""
    items: list[LabeledImage] = []
    for raw_label, folder in sorted(folders.items()):
        try:
            label = _as_label(float(raw_label), f"folders key {raw_label!r}")
        except ValueError:
            label = None
        if label is None:
            raise SourceError(f"folders key {raw_label!r}: a class folder's key must be the label 0 or 1")
        items.extend(LabeledImage(i.path, label, f"{label}/{i.key}") for i in list_folder(folder, label))
    return items


def resolve_input(spec: str) -> list[LabeledImage]:
    """A command-line input (``aesthetic.datasets.load_manifest``: folder, glob, CSV or one image).

    A folder whose images all sit in sub-folders named ``0`` and ``1`` is read as a
    folder per class; labels elsewhere come from a CSV or are None.
    """
    path = Path(spec)
    if path.is_dir():
        class_dirs = {d.name: d for d in path.iterdir() if d.is_dir() and d.name in ("0", "1")}
        loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if class_dirs and not loose:
            return read_class_folders(dict(class_dirs))
    try:
        manifest = datasets.load_manifest(spec)
    except ManifestError as exc:
        raise SourceError(str(exc)) from None
    return from_manifest(manifest, spec, require_labels=False)


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
        raise SourceError(f"split test_fraction must be in (0, 1), got {test_fraction}")
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
