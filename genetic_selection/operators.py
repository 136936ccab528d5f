"""The GA's operators as pure functions of (arrays, numpy Generator): easy to test, deterministic per seed.

An *individual* is a sorted ``(k,)`` int64 array of unique feature indices in
``[0, n_features)``; a *population* is a ``(population, k)`` array of them.
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError


def random_individual(n_features: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct indices out of ``n_features``, sorted."""
    return np.sort(rng.choice(n_features, size=k, replace=False)).astype(np.int64)


def init_population(population: int, n_features: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``(population, k)`` random individuals."""
    return np.stack([random_individual(n_features, k, rng) for _ in range(population)])


def crossover_vote(window_parents: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """One child from a window of parents: the ``k`` indices that occur in most parents win.

    ``window_parents``: ``(n, k_parent)`` indices. Indices are ranked by how many parents
    hold them; among indices with equal counts at the cut-off, a random draw from
    ``rng`` decides. Returns ``(k,)`` sorted unique indices.
    """
    window_parents = np.asarray(window_parents)
    if window_parents.ndim != 2 or len(window_parents) == 0:
        raise SelectionError(f"crossover_vote: window_parents must be (n_parents, k), got shape {window_parents.shape}")
    values, counts = np.unique(window_parents, return_counts=True)
    if len(values) < k:
        raise SelectionError(f"crossover_vote: the window holds only {len(values)} distinct indices, k={k}")
    tie_break = rng.random(len(values))
    order = np.lexsort((tie_break, -counts))  # most votes first, then random among equals
    return np.sort(values[order[:k]]).astype(np.int64)


def mutate(individual: np.ndarray, n_features: int, keep_fraction: float,
           rng: np.random.Generator) -> np.ndarray:
    """Keep ``round(keep_fraction * k)`` random genes, replace the rest by indices the individual lacks.

    Replacements come from outside the original individual, so exactly the requested
    number of original genes survives and all indices stay unique. Returns sorted ``(k,)``.
    """
    individual = np.asarray(individual, dtype=np.int64)
    k = len(individual)
    n_keep = int(round(keep_fraction * k))
    n_new = k - n_keep
    outside = np.ones(n_features, dtype=bool)
    outside[individual] = False
    pool = np.flatnonzero(outside)
    if len(pool) < n_new:
        raise SelectionError(f"mutate: {n_new} new genes needed but only {len(pool)} features lie outside "
                             f"the individual (k={k}, n_features={n_features}); raise keep_fraction or lower k")
    kept = rng.choice(individual, size=n_keep, replace=False)
    fresh = rng.choice(pool, size=n_new, replace=False)
    return np.sort(np.concatenate([kept, fresh])).astype(np.int64)


def rank(fitness: np.ndarray) -> np.ndarray:
    """Indices best first; equal fitness keeps population order (stable), so runs are reproducible."""
    return np.argsort(-np.asarray(fitness, dtype=np.float64), kind="stable")


def next_generation(population: np.ndarray, fitness: np.ndarray, *, n_features: int, elite: int,
                    parents: int, window: int, keep_fraction: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One generation of the original scheme.

    Sort by fitness; the best ``parents`` are parents, the best ``elite`` of them are kept
    as they are; child ``i`` (``population - parents`` of them, replacing the worst) is
    ``crossover_vote`` of parents ``i, i+1, ..., i+window-1`` (wrapping); the non-elite
    parents are mutated. Children are made from the parents *before* mutation.

    Returns ``(new_population, elite_rows)``: rows ``[0, elite)`` of the new population
    are ``population[elite_rows]`` unchanged (their fitness can be carried over), then the
    mutated parents, then the children.
    """
    population = np.asarray(population)
    size, k = population.shape
    order = rank(fitness)
    ranked_parents = population[order[:parents]]
    n_children = size - parents
    children = [crossover_vote(ranked_parents[(i + np.arange(window)) % parents], k, rng)
                for i in range(n_children)]
    mutated = [mutate(p, n_features, keep_fraction, rng) for p in ranked_parents[elite:]]
    new = np.stack(list(ranked_parents[:elite]) + mutated + children)
    return new, order[:elite]


def check_ga_shape(*, population: int, k: int, n_features: int, elite: int, parents: int, window: int,
                   keep_fraction: float) -> None:
    """Reject sizes the scheme cannot run with, naming the parameter."""
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise SelectionError(message)

    for name, value in (("population", population), ("k", k), ("elite", elite), ("parents", parents),
                        ("window", window)):
        need(isinstance(value, (int, np.integer)) and not isinstance(value, bool),
             f"{name} must be an int, got {value!r}")
    need(1 <= k <= n_features, f"k must be in [1, {n_features}] (the number of features), got {k}")
    need(population >= 2, f"population must be >= 2, got {population}")
    need(1 <= parents < population, f"parents must be in [1, population - 1 = {population - 1}], got {parents}")
    need(0 <= elite <= parents, f"elite must be in [0, parents = {parents}], got {elite}")
    need(1 <= window <= parents, f"window must be in [1, parents = {parents}], got {window}")
    need(isinstance(keep_fraction, (int, float)) and 0.0 <= keep_fraction <= 1.0,
         f"keep_fraction must be in [0, 1], got {keep_fraction!r}")
    n_new = k - int(round(keep_fraction * k))
    need(elite == parents or n_features - k >= n_new,
         f"mutation needs {n_new} indices outside each individual but only {n_features - k} exist "
         f"(k={k}, n_features={n_features}); raise keep_fraction or lower k")
