"""Turn what a user points at (a folder, a glob or a CSV) into an ordered manifest of images."""

from __future__ import annotations

import csv
import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from .imageio import IMAGE_SUFFIXES

PathLike = Union[str, os.PathLike]


class ManifestError(ValueError):
    """An image source that cannot be listed."""


@dataclass
class Manifest:
    """Images in a fixed order. ``ids`` are stable names (relative paths); labels NaN when absent."""

    ids: list[str]
    paths: list[str]
    labels: np.ndarray  # (n,) float32

    def __len__(self) -> int:
        return len(self.ids)

    def fingerprint(self) -> str:
        """Hash of ids and paths: a resumed job must see the same list."""
        digest = hashlib.sha256()
        for i, p in zip(self.ids, self.paths):
            digest.update(f"{i}\0{p}\n".encode())
        return digest.hexdigest()

    @staticmethod
    def concat(parts: Sequence["Manifest"]) -> "Manifest":
        return Manifest([i for m in parts for i in m.ids], [p for m in parts for p in m.paths],
                        np.concatenate([m.labels for m in parts]) if parts else np.zeros(0, np.float32))


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _from_folder(root: Path) -> Manifest:
    files = sorted(p for p in root.rglob("*") if p.is_file() and _is_image(p))
    ids = [p.relative_to(root).as_posix() for p in files]
    return Manifest(ids, [str(p) for p in files], np.full(len(files), np.nan, np.float32))


def _from_glob(pattern: str) -> Manifest:
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    return Manifest([p.as_posix() for p in files], [str(p) for p in files],
                    np.full(len(files), np.nan, np.float32))


def _parse_label(value: str, csv_path: Path, line: int) -> float:
    value = (value or "").strip()
    if value == "":
        return float("nan")
    try:
        return float(value)
    except ValueError:
        raise ManifestError(f"{csv_path}:{line}: label {value!r} is not a number") from None


def read_labels_csv(csv_path: PathLike, label_column: str = "label") -> Manifest:
    """CSV with a ``path`` column (relative to the CSV's folder) and an optional label column.

    A headerless CSV is read as ``path[,label]``.
    """
    csv_path = Path(csv_path)
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ManifestError(f"{csv_path}: empty CSV")
    header = [c.strip().lower() for c in rows[0]]
    if "path" in header:
        path_col = header.index("path")
        label_col = header.index(label_column) if label_column in header else None
        body, first_line = rows[1:], 2
    else:
        path_col, label_col, body, first_line = 0, (1 if len(rows[0]) > 1 else None), rows, 1
    ids, paths, labels = [], [], []
    for line, row in enumerate(body, start=first_line):
        if not row or not row[path_col].strip():
            continue
        rel = row[path_col].strip()
        ids.append(rel)
        paths.append(str((csv_path.parent / rel) if not os.path.isabs(rel) else Path(rel)))
        labels.append(_parse_label(row[label_col], csv_path, line) if label_col is not None and label_col < len(row)
                      else float("nan"))
    return Manifest(ids, paths, np.asarray(labels, dtype=np.float32))


def load_manifest(spec: Union[PathLike, Sequence[PathLike]]) -> Manifest:
    """A folder (recursive), a glob pattern, a CSV (path[,label]), an image file, or a list of these."""
    if isinstance(spec, (list, tuple)):
        parts = [load_manifest(s) for s in spec]
        return Manifest.concat(parts)
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        manifest = _from_folder(path)
    elif path.suffix.lower() == ".csv" and path.is_file():
        manifest = read_labels_csv(path)
    elif path.is_file():
        manifest = Manifest([path.name], [str(path)], np.full(1, np.nan, np.float32))
    elif any(ch in text for ch in "*?["):
        manifest = _from_glob(text)
    else:
        raise ManifestError(f"{text}: no such folder, CSV, image or glob match")
    if len(manifest) == 0:
        raise ManifestError(f"{text}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return manifest
