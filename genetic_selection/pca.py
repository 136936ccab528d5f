"""PCA per branch, fitted out of core: memory is bounded by the branch width, never by the image count.

Why not ``IncrementalPCA``: with the original's 8464 components of the 16928-d multigap
branch, every ``partial_fit`` needs a batch of at least 8464 rows and an SVD of a
``(8464 + batch) x 16928`` matrix, ``O(width * (k + batch)^2)`` per batch. Accumulating
the covariance instead costs one symmetric rank-``batch`` update per chunk
(``dsyrk``, ``O(batch * width^2)``, in place in a ``(width, width)`` float64 matrix)
and a single symmetric eigendecomposition of only the top ``k`` eigenpairs at the end.
It is exact (equal to ``sklearn.decomposition.PCA`` up to the sign of each
component), any chunk size works, and peak memory is about ``8 * width^2`` bytes (the
covariance) plus ``12 * width * k`` (the eigenvectors in float64 and their float32 copy)
plus one chunk, whether there are 10^3 or 10^7 images: ~4.4 GB for multigap at 8464
components, ~120 MB for efficientnet at 1280 (``benchmarks/speed/bench_selection.py`` measures
it). Time is one pass over the data plus the eigensolver, ``O(width^3)``, which dominates
for multigap (minutes on a multi-core machine). Sums are taken around the first chunk's
mean to avoid cancellation. With no more images than the width, the rows themselves are
kept (no more memory than the covariance) and one thin SVD, ``O(n^2 * width)``, replaces
the eigensolver.

Branches not named in a mapping ``n_components`` are passed through unchanged
(``remainder="passthrough"``, the default) or dropped (``remainder="drop"``);
a mapping that names none of the fitted branches is an error.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from scipy.linalg import blas, eigh, svd

from .base import Selector, SelectionError, branch_layout, store_layout, store_rows
from .registry import register_selector

log = logging.getLogger(__name__)

#: Components per branch used by the original work (half of each branch's width).
ORIGINAL_COMPONENTS: dict[str, int] = {"multigap": 8464, "efficientnet": 1280}

REDUCE, PASSTHROUGH, DROP = "pca", "passthrough", "drop"


def resolve_components(spec: Any, branch: str, width: int) -> int | None:
    """Components wanted for one branch: int as is, a float in (0, 1] as a fraction of ``width``.

    Returns None when ``spec`` is a mapping that does not name ``branch``.
    """
    if isinstance(spec, Mapping):
        if branch not in spec:
            return None
        spec = spec[branch]
    if isinstance(spec, bool) or not isinstance(spec, (int, float, np.integer, np.floating)):
        raise SelectionError(f"n_components for {branch!r}: expected an int, a fraction in (0, 1] "
                             f"or a mapping branch -> one of those, got {spec!r}")
    if isinstance(spec, (float, np.floating)):
        if not 0.0 < spec <= 1.0:
            raise SelectionError(f"n_components for {branch!r}: a float must be a fraction in (0, 1], got {spec}")
        return max(1, int(round(float(spec) * width)))
    if spec < 1:
        raise SelectionError(f"n_components for {branch!r}: must be >= 1, got {spec}")
    return int(spec)


def _components(mean: np.ndarray, values: np.ndarray, vectors: np.ndarray,
                total_variance: float) -> dict[str, np.ndarray]:
    """Package the top components (rows of ``vectors``, best first) with a deterministic sign:
    the largest-magnitude loading of each component is positive."""
    signs = np.sign(vectors[np.arange(len(vectors)), np.abs(vectors).argmax(axis=1)])
    signs[signs == 0] = 1.0
    vectors = vectors * signs[:, None]
    values = np.clip(values, 0.0, None)
    return {
        "mean": np.asarray(mean, dtype=np.float32),
        "components": np.ascontiguousarray(vectors, dtype=np.float32),
        "explained_variance": values.astype(np.float64),
        "explained_variance_ratio": (values / total_variance if total_variance > 0
                                     else np.zeros_like(values)).astype(np.float64),
    }


class _CovarianceAccumulator:
    """Running mean and scatter of one branch, updated chunk by chunk, in ``O(width^2)`` memory."""

    def __init__(self, width: int):
        self.width = width
        self.n = 0
        self.shift: np.ndarray | None = None
        self.sum = np.zeros(width, dtype=np.float64)
        # Fortran order so dsyrk/dsyr update it in place; only the upper triangle is kept.
        self.scatter = np.zeros((width, width), dtype=np.float64, order="F")

    def update(self, block: np.ndarray) -> None:
        if len(block) == 0:
            return
        if self.shift is None:
            self.shift = block.mean(axis=0, dtype=np.float64)
        centred = np.asarray(block, dtype=np.float64) - self.shift
        self.sum += centred.sum(axis=0)
        blas.dsyrk(1.0, centred.T, beta=1.0, c=self.scatter, trans=0, lower=0, overwrite_c=1)
        self.n += len(block)

    def finish(self, n_components: int) -> dict[str, np.ndarray]:
        """Mean, top components and their variances, from the top eigenpairs; frees the scatter."""
        n, w = self.n, self.width
        delta = self.sum / n
        cov = self.scatter
        blas.dsyr(-float(n), delta, a=cov, lower=0, overwrite_a=1)
        cov /= (n - 1)
        total_variance = float(np.trace(cov))
        values, vectors = eigh(cov, lower=False, overwrite_a=True, check_finite=False,
                               subset_by_index=[w - n_components, w - 1], driver="evr")
        self.scatter = None  # type: ignore[assignment]
        return _components(self.shift + delta, values[::-1], vectors[:, ::-1].T, total_variance)


class _RowAccumulator:
    """Few images (``n <= width``): keep the rows and take one thin SVD.

    ``n * width`` values are no more than the covariance would hold, and the SVD costs
    ``O(n^2 * width)`` instead of the ``O(width^3)`` eigensolver: seconds instead of
    hours for a few hundred images of the 16928-wide multigap branch.
    """

    def __init__(self, n_rows: int, width: int):
        self.rows = np.empty((n_rows, width), dtype=np.float64)
        self.n = 0

    def update(self, block: np.ndarray) -> None:
        self.rows[self.n:self.n + len(block)] = block
        self.n += len(block)

    def finish(self, n_components: int) -> dict[str, np.ndarray]:
        X = self.rows[:self.n]
        mean = X.mean(axis=0)
        X -= mean
        _, singular, vt = svd(X, full_matrices=False, overwrite_a=True, check_finite=False)
        self.rows = None  # type: ignore[assignment]
        values = singular**2 / (self.n - 1)
        return _components(mean, values[:n_components], vt[:n_components], float(values.sum()))


@register_selector
class BranchPCA(Selector):
    """PCA of each branch separately, outputs concatenated in branch order.

    Parameters
    ----------
    n_components : None, int, float or mapping
        None: the original's ``{"multigap": 8464, "efficientnet": 1280}``. An int or a
        fraction in (0, 1] of each branch's width applies to every branch (0.5 reproduces
        the original for both). A mapping gives per-branch values. Capped at
        ``min(n_images, width)`` with a logged warning.
    remainder : "passthrough" or "drop"
        What happens to branches a mapping does not name.
    whiten : bool
        Divide each component by its standard deviation.
    batch_size : int
        Rows read and accumulated at a time (bounds memory together with the width).

    Fitted attributes: ``plan_`` (branch -> "pca" / "passthrough" / "drop"), ``n_components_``,
    ``mean_``, ``components_`` ``(k, width)``, ``explained_variance_``,
    ``explained_variance_ratio_`` (each a dict per reduced branch), ``n_samples_seen_``.
    """

    kind = "pca"

    def __init__(self, n_components: Any = None, remainder: str = PASSTHROUGH, whiten: bool = False,
                 batch_size: int = 2048):
        self.n_components = n_components
        self.remainder = remainder
        self.whiten = whiten
        self.batch_size = batch_size

    # -- fitting -------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, branches: Mapping[str, int] | None = None) -> "BranchPCA":
        """Fit on an in-memory fused matrix ``(n_images, n_features)``; ``branches`` maps name -> width."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise SelectionError(f"X must be 2-D (n_images, n_features), got shape {X.shape}")
        layout = branch_layout(branches, X.shape[1])
        starts = np.cumsum([0] + list(layout.values()))
        slices = {b: slice(int(starts[i]), int(starts[i + 1])) for i, b in enumerate(layout)}

        def blocks(needed: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
            for lo in range(0, len(X), self._batch_size()):
                yield {b: np.asarray(X[lo:lo + self._batch_size(), slices[b]], dtype=np.float32) for b in needed}

        return self._fit(layout, len(X), blocks)

    def fit_store(self, store, rows: Any = None, branches: Sequence[str] | None = None) -> "BranchPCA":
        """Fit from a feature store, ``batch_size`` rows at a time (default rows: those with status ok)."""
        layout = store_layout(store, branches)
        idx = store_rows(store, store.ok if rows is None else rows)

        def blocks(needed: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
            for lo in range(0, len(idx), self._batch_size()):
                chunk = idx[lo:lo + self._batch_size()]
                yield {b: store.read(b, chunk) for b in needed}

        return self._fit(layout, len(idx), blocks)

    def _batch_size(self) -> int:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) \
                or self.batch_size < 1:
            raise SelectionError(f"batch_size must be a positive int, got {self.batch_size!r}")
        return int(self.batch_size)

    def _plan(self, layout: Mapping[str, int], n_samples: int) -> tuple[dict[str, str], dict[str, int]]:
        if self.remainder not in (PASSTHROUGH, DROP):
            raise SelectionError(f"remainder must be {PASSTHROUGH!r} or {DROP!r}, got {self.remainder!r}")
        spec = ORIGINAL_COMPONENTS if self.n_components is None else self.n_components
        plan, counts = {}, {}
        for b, width in layout.items():
            k = resolve_components(spec, b, width)
            if k is None:
                plan[b] = self.remainder
                continue
            cap = min(n_samples, width)
            if k > cap:
                log.warning("PCA %s: %d components asked, but %d images x %d features allow at most %d; using %d",
                            b, k, n_samples, width, cap, cap)
                k = cap
            plan[b], counts[b] = REDUCE, k
        if not counts:
            named = ", ".join(spec) if isinstance(spec, Mapping) else str(spec)
            raise SelectionError(
                f"n_components names none of the branches to fit ({', '.join(layout)}), only {named}; "
                f"give an int, a fraction of the width or a mapping for these branches")
        if all(p == DROP for p in plan.values()):
            raise SelectionError("every branch would be dropped")
        return plan, counts

    def _fit(self, layout: Mapping[str, int], n_samples: int, blocks) -> "BranchPCA":
        if n_samples < 2:
            raise SelectionError(f"PCA needs at least 2 images, got {n_samples}")
        plan, counts = self._plan(layout, n_samples)
        acc = {b: (_RowAccumulator(n_samples, layout[b]) if n_samples <= layout[b]
                   else _CovarianceAccumulator(layout[b])) for b in counts}
        for block in blocks(list(acc)):
            for b, a in acc.items():
                a.update(block[b])
        fitted = {b: a.finish(counts[b]) for b, a in acc.items()}
        self._set_layout(layout)
        self.plan_ = plan
        self.n_components_ = dict(counts)
        self.mean_ = {b: f["mean"] for b, f in fitted.items()}
        self.components_ = {b: f["components"] for b, f in fitted.items()}
        self.explained_variance_ = {b: f["explained_variance"] for b, f in fitted.items()}
        self.explained_variance_ratio_ = {b: f["explained_variance_ratio"] for b, f in fitted.items()}
        self.n_samples_seen_ = int(n_samples)
        self.n_features_out_ = sum(counts.get(b, layout[b]) for b in layout if plan[b] != DROP)
        for b in counts:
            log.info("PCA %s: %d -> %d components, %.1f%% of variance", b, layout[b], counts[b],
                     100 * self.explained_variance_ratio_[b].sum())
        return self

    # -- transform -------------------------------------------------------------
    def _needed_branches(self) -> list[str]:
        return [b for b in self.branches_ if self.plan_[b] != DROP]

    def _transform_blocks(self, blocks: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = []
        for b in self._needed_branches():
            x = np.asarray(blocks[b], dtype=np.float32)
            if self.plan_[b] == REDUCE:
                x = (x - self.mean_[b]) @ self.components_[b].T
                if self.whiten:
                    x /= np.sqrt(np.maximum(self.explained_variance_[b], 1e-12)).astype(np.float32)
            parts.append(x)
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def get_support(self, indices: bool = False) -> np.ndarray:
        """Input columns the output depends on (all but dropped branches): PCA mixes, it does not pick."""
        self._check_fitted()
        mask = np.zeros(self.n_features_in_, dtype=bool)
        for b, s in self.column_slices().items():
            mask[s] = self.plan_[b] != DROP
        return np.flatnonzero(mask) if indices else mask

    # -- persistence -------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._state()
        state.update(plan=self.plan_, n_components=self.n_components_, n_samples_seen=self.n_samples_seen_)
        for b in self.n_components_:
            arrays[f"{b}/mean"] = self.mean_[b]
            arrays[f"{b}/components"] = self.components_[b]
            arrays[f"{b}/explained_variance"] = self.explained_variance_[b]
            arrays[f"{b}/explained_variance_ratio"] = self.explained_variance_ratio_[b]
        return state, arrays

    def _set_state(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        super()._set_state(state, arrays)
        self.plan_ = dict(state["plan"])
        self.n_components_ = {b: int(k) for b, k in state["n_components"].items()}
        self.n_samples_seen_ = int(state["n_samples_seen"])
        self.mean_ = {b: np.asarray(arrays[f"{b}/mean"]) for b in self.n_components_}
        self.components_ = {b: np.asarray(arrays[f"{b}/components"]) for b in self.n_components_}
        self.explained_variance_ = {b: np.asarray(arrays[f"{b}/explained_variance"]) for b in self.n_components_}
        self.explained_variance_ratio_ = {b: np.asarray(arrays[f"{b}/explained_variance_ratio"])
                                          for b in self.n_components_}

    def _state_problem(self) -> str | None:
        problem = super()._state_problem()
        if problem:
            return problem
        if set(self.plan_) != set(self.branches_) or not set(self.plan_.values()) <= {REDUCE, PASSTHROUGH, DROP}:
            return f"its plan {self.plan_} does not give pca, passthrough or drop for each branch"
        out = 0
        for b in self.branches_:
            width = self.branch_widths_[b]
            if self.plan_[b] == PASSTHROUGH:
                out += width
            elif self.plan_[b] == REDUCE:
                k = self.n_components_.get(b, 0)
                if not 1 <= k <= width or self.components_[b].shape != (k, width) or self.mean_[b].shape != (width,) \
                        or self.explained_variance_[b].shape != (k,):
                    return f"the PCA arrays of branch {b!r} do not fit {k} components of width {width}"
                if not (np.isfinite(self.components_[b]).all() and np.isfinite(self.mean_[b]).all()):
                    return f"the PCA arrays of branch {b!r} hold NaN or infinite values"
                out += k
        if out != self.n_features_out_:
            return f"its branches give {out} features, but it records n_features_out={self.n_features_out_}"
        return None

