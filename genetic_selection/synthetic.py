"""Synthetic data with known informative features, for tests, benchmarks and demos of the selectors."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from aesthetic.feature_store import BranchData, write_store
from aesthetic.fileio import PathLike


def planted_features(n_images: int, n_features: int, informative: Sequence[int] | int, shift: float = 0.5,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian noise features where only ``informative`` columns carry the label.

    Labels are balanced 0/1 draws; each informative column is shifted by ``+shift`` for
    label 1 and ``-shift`` for label 0 (so alone it separates the classes with
    d' = 2 * shift; together they separate them much better). ``informative`` is a list of
    column indices or a count (then spread evenly over the columns).
    Returns ``(X (n_images, n_features) float32, y (n_images,) float32, informative indices)``.
    """
    rng = np.random.default_rng(seed)
    if isinstance(informative, (int, np.integer)):
        informative = np.linspace(0, n_features - 1, int(informative)).round().astype(np.int64)
    informative = np.unique(np.asarray(informative, dtype=np.int64))
    y = rng.permutation(np.arange(n_images) % 2).astype(np.float32)
    X = rng.standard_normal((n_images, n_features)).astype(np.float32)
    X[:, informative] += (2 * y[:, None] - 1) * shift
    return X, y, informative


def write_synthetic_store(path: PathLike, X: np.ndarray, labels: np.ndarray | None = None,
                          branches: Mapping[str, int] | None = None, dtype: str = "float32",
                          chunk_rows: int = 256) -> Path:
    """Write ``X`` as a feature store whose branches split its columns (``{name: width}``, in order)."""
    X = np.asarray(X)
    branches = dict(branches or {"synthetic": X.shape[1]})
    if sum(branches.values()) != X.shape[1]:
        raise ValueError(f"branches {branches} do not add up to X's {X.shape[1]} columns")
    blocks, start = {}, 0
    for name, width in branches.items():
        blocks[name] = BranchData(X[:, start:start + width], {"width": width, "weights": "synthetic"})
        start += width
    n = len(X)
    return write_store(path, ids=[f"img{i:06d}" for i in range(n)],
                       paths=[f"synthetic/img{i:06d}.jpg" for i in range(n)],
                       labels=labels, status=[1] * n, errors=[""] * n, branches=blocks,
                       metadata={"synthetic": True}, dtype=dtype, chunk_rows=chunk_rows)
