"""What every feature selector shares: the fused-column bookkeeping, width checks, chunked store reads.

A selector is fitted on the *fused* feature vector: the store's branches concatenated
in a fixed order (``FeatureStore.column_slices``). It remembers that order and the
widths (``branches_``, ``branch_widths_``, ``n_features_in_``) and refuses a matrix
or store of any other shape, so a selector fitted on multigap+efficientnet can never
be silently applied to mobilenet features.

Subclasses implement two hooks:

* ``_needed_branches()`` - branches whose columns the output depends on, so
  :meth:`Selector.transform_store` reads nothing else from disk;
* ``_transform_blocks(blocks)`` - map ``{branch: (n, width) float32}`` to ``(n, n_out)``.

and ``get_support``. State that :mod:`aesthetic.genetic_selection.io` saves goes
through ``_state()`` / ``_set_state()``; a subclass decorated with
:func:`~aesthetic.genetic_selection.registry.register_selector` is saved and loaded by its
``kind``. Imports only look down: errors <- registry <- io <- base <- pca, ga.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import SelectionError
from .io import load_selector, save_selector
from .registry import register_selector

__all__ = ["PLAIN_BRANCH", "AllFeatures", "SelectionError", "Selector", "branch_layout", "store_layout",
           "store_rows"]

#: Branch name used when a selector is fitted on a plain matrix with no branch names.
PLAIN_BRANCH = "features"


def branch_layout(branches: Mapping[str, int] | None, n_features: int) -> dict[str, int]:
    """Validate a ``{branch: width}`` mapping (fusion order) against a matrix width."""
    if branches is None:
        return {PLAIN_BRANCH: int(n_features)}
    layout = {str(b): int(w) for b, w in branches.items()}
    if any(w <= 0 for w in layout.values()):
        raise SelectionError(f"branches: widths must be positive, got {layout}")
    if sum(layout.values()) != n_features:
        raise SelectionError(
            f"branches: widths {layout} add up to {sum(layout.values())}, but X has {n_features} columns")
    return layout


class Selector(TransformerMixin, BaseEstimator):
    """Base of all selectors (scikit-learn shape: ``fit`` / ``transform`` / ``get_support``).

    Fitted attributes common to all: ``branches_`` (list, fusion order),
    ``branch_widths_`` (dict branch -> width), ``n_features_in_`` (int, fused width),
    ``n_features_out_`` (int).
    """

    #: Name written to saved files and used by ``load_selector`` to pick the class.
    kind: str = ""

    # -- fitted layout ---------------------------------------------------
    def _set_layout(self, layout: Mapping[str, int]) -> None:
        self.branches_ = list(layout)
        self.branch_widths_ = {b: int(w) for b, w in layout.items()}
        self.n_features_in_ = int(sum(layout.values()))

    def _check_fitted(self) -> None:
        if not hasattr(self, "branches_"):
            raise SelectionError(f"this {type(self).__name__} is not fitted yet: call fit or fit_store first")

    def _layout_text(self) -> str:
        return " + ".join(f"{b} ({w})" for b, w in self.branch_widths_.items())

    def column_slices(self) -> dict[str, slice]:
        """Where each fitted branch sits in the fused input vector."""
        self._check_fitted()
        out, start = {}, 0
        for b in self.branches_:
            out[b] = slice(start, start + self.branch_widths_[b])
            start += self.branch_widths_[b]
        return out

    def raw_output_columns(self, branch: str) -> np.ndarray | None:
        """Positions of the output columns that are ``branch``'s own features, unchanged (empty when
        none is kept), or None when this kind of selector does not pass raw columns through (PCA)."""
        return None

    def check_matrix(self, X: Any) -> np.ndarray:
        """``X`` as a 2-D float32 array of the fitted width, or a clear error."""
        self._check_fitted()
        X = np.asarray(X)
        if X.ndim != 2:
            raise SelectionError(f"X must be 2-D (n_images, n_features), got shape {X.shape}")
        if X.shape[1] != self.n_features_in_:
            raise SelectionError(
                f"X has {X.shape[1]} features, but this {type(self).__name__} was fitted on "
                f"{self.n_features_in_}: {self._layout_text()}")
        return X.astype(np.float32, copy=False)

    def check_store(self, store) -> None:
        """Refuse a store that lacks a fitted branch or has it at another width."""
        self._check_fitted()
        for b in self.branches_:
            if b not in store.branches:
                hint = (" (it was fitted on a plain matrix; use transform(store.features(...)))"
                        if b == PLAIN_BRANCH else "")
                raise SelectionError(
                    f"{store.source}: no branch {b!r}, which this {type(self).__name__} was fitted on{hint}; "
                    f"the store has {', '.join(store.branches)}")
            if store.widths[b] != self.branch_widths_[b]:
                raise SelectionError(
                    f"{store.source}: branch {b!r} is {store.widths[b]} wide, but this "
                    f"{type(self).__name__} was fitted on width {self.branch_widths_[b]}")

    # -- transform -------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """Fused features ``(n, n_features_in_)`` -> selected/projected ``(n, n_features_out_)`` float32."""
        X = self.check_matrix(X)
        blocks = {b: X[:, s] for b, s in self.column_slices().items() if b in self._needed_branches()}
        return self._transform_blocks(blocks)

    def transform_store(self, store, rows: Any = None, chunk_rows: int = 4096) -> np.ndarray:
        """Transform rows of a feature store, reading only the needed branches, ``chunk_rows`` at a time.

        ``rows``: None (all), a slice, a boolean mask or indices (any order), as ``FeatureStore.read``.
        Returns ``(len(rows), n_features_out_)`` float32.
        """
        self.check_store(store)
        idx = store_rows(store, rows)
        needed = self._needed_branches()
        out = np.empty((len(idx), self.n_features_out_), dtype=np.float32)
        for start in range(0, len(idx), chunk_rows):
            block = idx[start:start + chunk_rows]
            out[start:start + len(block)] = self._transform_blocks({b: store.read(b, block) for b in needed})
        return out

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """Names of the output columns (``<kind><i>``), for scikit-learn pipelines."""
        self._check_fitted()
        return np.array([f"{self.kind}{i}" for i in range(self.n_features_out_)], dtype=object)

    # -- hooks -------------------------------------------------------------
    def _needed_branches(self) -> list[str]:
        raise NotImplementedError

    def _transform_blocks(self, blocks: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def get_support(self, indices: bool = False) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Fitted state as (JSON-able dict, arrays). Subclasses extend the base layout."""
        self._check_fitted()
        return {"branches": self.branches_, "branch_widths": self.branch_widths_,
                "n_features_out": int(self.n_features_out_)}, {}

    def _set_state(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        widths = state["branch_widths"]
        self._set_layout({b: int(widths[b]) for b in state["branches"]})
        self.n_features_out_ = int(state["n_features_out"])

    def _state_problem(self) -> str | None:
        """What makes loaded state inconsistent (None when sound); subclasses add their arrays' checks."""
        if not self.branches_ or len(set(self.branches_)) != len(self.branches_):
            return "its branch list is empty or names a branch twice"
        if any(w < 1 for w in self.branch_widths_.values()):
            return f"a branch width is not positive ({self._layout_text()})"
        if not 1 <= self.n_features_out_ <= self.n_features_in_:
            return f"it gives {self.n_features_out_} features out of {self.n_features_in_}"
        return None

    # -- persistence (no pickle: see io.py) --------------------------------
    def save(self, path) -> Any:
        """Write to ``path``: a directory (``selector.h5`` inside), a ``.h5`` or a ``.json`` file."""
        return save_selector(self, path)

    @classmethod
    def load(cls, path) -> "Selector":
        selector = load_selector(path)
        if not isinstance(selector, cls):
            raise SelectionError(f"{path}: holds a {type(selector).__name__}, not a {cls.__name__}")
        return selector


@register_selector
class AllFeatures(Selector):
    """Identity selector: every fused column, unchanged (so the classifier can skip selection)."""

    kind = "all"

    def fit(self, X: Any, y: Any = None, *, branches: Mapping[str, int] | None = None) -> "AllFeatures":
        X = np.asarray(X)
        if X.ndim != 2:
            raise SelectionError(f"X must be 2-D (n_images, n_features), got shape {X.shape}")
        self._set_layout(branch_layout(branches, X.shape[1]))
        self.n_features_out_ = self.n_features_in_
        return self

    def fit_store(self, store, rows: Any = None, branches: Sequence[str] | None = None) -> "AllFeatures":
        """Record the store's branch layout (no data is read)."""
        self._set_layout(store_layout(store, branches))
        self.n_features_out_ = self.n_features_in_
        return self

    def _needed_branches(self) -> list[str]:
        return list(self.branches_)

    def _transform_blocks(self, blocks: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(blocks[b], dtype=np.float32) for b in self.branches_], axis=1)

    def raw_output_columns(self, branch: str) -> np.ndarray | None:
        s = self.column_slices().get(branch)
        return np.zeros(0, np.int64) if s is None else np.arange(s.start, s.stop)

    def get_support(self, indices: bool = False) -> np.ndarray:
        self._check_fitted()
        mask = np.ones(self.n_features_in_, dtype=bool)
        return np.flatnonzero(mask) if indices else mask

    def _state_problem(self) -> str | None:
        problem = super()._state_problem()
        if problem is None and self.n_features_out_ != self.n_features_in_:
            return f"it keeps every feature, yet gives {self.n_features_out_} of {self.n_features_in_}"
        return problem


def store_rows(store, rows: Any = None) -> np.ndarray:
    """Row indices of ``store`` for ``rows``: None (all), a slice, a boolean mask or indices (kept in order)."""
    n = len(store)
    if rows is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(rows, slice):
        return np.arange(n, dtype=np.int64)[rows]
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise SelectionError(f"{store.source}: a row mask must have {n} entries, got {rows.shape}")
        return np.flatnonzero(rows)
    if rows.size and (rows.min() < -n or rows.max() >= n):
        raise SelectionError(f"{store.source}: row indices must be in [0, {n}), got {rows.min()}..{rows.max()}")
    return rows.astype(np.int64).ravel() % max(n, 1)


def store_layout(store, branches: Sequence[str] | None = None) -> dict[str, int]:
    """``{branch: width}`` for ``branches`` (default: all of the store's), validated."""
    names = list(branches or store.branches)
    missing = [b for b in names if b not in store.branches]
    if missing:
        raise SelectionError(f"{store.source}: no branch {', '.join(map(repr, missing))} "
                             f"(has {', '.join(store.branches)})")
    if len(set(names)) != len(names):
        raise SelectionError(f"branches: {names} names a branch twice")
    return {b: int(store.widths[b]) for b in names}
