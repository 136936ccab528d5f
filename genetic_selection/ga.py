"""Genetic feature selection exactly as the original specified, resumable and deterministic per seed.

Scheme (defaults in brackets): a population [100] of individuals, each ``k`` [5000] unique
feature indices of the fused vector (19488 for multigap + efficientnet). Generation 0 is
random. Then, ``generations`` times: sort by fitness; the best ``elite`` [2] survive
unchanged; the best ``parents`` [50] are parents; ``population - parents`` [50] children
replace the worst, child ``i`` voted from the sliding window of parents
``i .. i + window - 1`` [3] (see :func:`crossover_vote`); the non-elite parents [48] are
mutated keeping ``keep_fraction`` [0.8] of their genes (see :func:`mutate`). Only new or
changed individuals are evaluated; the elites carry their fitness, so the best fitness
never decreases. ``history_`` therefore has ``generations + 1`` entries (0 = initial).

Fitness (``fitness="fc"``, the default) is the validation balanced accuracy of the FC head trained
on the individual's features (:mod:`.fitness`: the whole population as one batched model),
on a stratified validation split drawn once from ``seed``. ``fitness="proxy"`` uses a
ridge-regression stand-in that is much cheaper.

With ``checkpoint_dir`` the run writes ``checkpoint.json`` after every generation and,
at the end, ``history.json`` and ``fitness.png``; started again with the same settings
and data it resumes from the last checkpoint and ends with exactly the result of an
uninterrupted run. Asking for more ``generations`` than a finished run had continues it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from aesthetic.precision import resolve_precision

from .base import Selector, SelectionError, branch_layout, store_layout, store_rows
from .registry import register_selector
from .checkpoint import PLOT, plot_history, read_checkpoint, restore_rng, write_checkpoint, write_history
from .fitness import ArraySource, FCFitness, FitnessFC, ProxyFitness, StoreSource, fitness_fc, read_features
from .ray_fitness import ray_evaluator
from .operators import (check_ga_shape, crossover_vote, init_population, mutate,  # noqa: F401 (re-exported)
                        next_generation, rank)

log = logging.getLogger(__name__)

FITNESS_KINDS = ("fc", "proxy")
#: Rows read per chunk when fitness features are streamed from the store.
STREAM_CHUNK_ROWS = 4096
# Parameters left out of the checkpoint's config: they do not change the result (the feature
# source actually chosen from memory_budget_mb is recorded instead), or, for generations, a
# longer run is the same run continued, so a finished run can be extended.
_RUN_ONLY_PARAMS = ("checkpoint_dir", "resume", "memory_budget_mb", "progress", "generations", "engine")


def binary_labels(labels: Any, label_threshold: float | None, what: str = "y") -> np.ndarray:
    """Labels as float32 0/1: as given when already 0/1, else ``labels >= label_threshold``."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    if not np.all(np.isfinite(y)):
        raise SelectionError(f"{what}: {int((~np.isfinite(y)).sum())} labels are missing (NaN); "
                             f"select labelled rows only")
    if label_threshold is not None:
        y = (y >= float(label_threshold)).astype(np.float64)
    elif not np.all(np.isin(y, (0.0, 1.0))):
        raise SelectionError(f"{what}: GA fitness needs binary labels 0/1, found values like "
                             f"{np.unique(y)[:5].tolist()}; pass label_threshold to binarise scores")
    counts = np.bincount(y.astype(np.int64), minlength=2)
    if counts.min() < 2:
        raise SelectionError(f"{what}: need at least 2 images of each class, got {counts[0]} of 0 and {counts[1]} of 1")
    return y.astype(np.float32)


def stratified_split(y: np.ndarray, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(train, validation)``, sorted, stratified by ``y``, fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < validation_fraction < 1.0:
        raise SelectionError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    try:
        train, val = train_test_split(np.arange(len(y)), test_size=validation_fraction, stratify=y,
                                      random_state=int(seed) % 2**32)
    except ValueError as exc:
        raise SelectionError(f"cannot split {len(y)} images into train/validation "
                             f"(validation_fraction={validation_fraction}): {exc}") from None
    return np.sort(train), np.sort(val)


def _digest_array(digest, a: np.ndarray) -> None:
    a = np.ascontiguousarray(a)
    digest.update(str((a.dtype.str, a.shape)).encode())
    digest.update(a.data if a.dtype != object else "\0".join(map(str, a.ravel())).encode())


def _sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        _digest_array(digest, a)
    return digest.hexdigest()


def _store_sha256(store, idx: np.ndarray, labels: np.ndarray, chunk_rows: int) -> str:
    """``_sha256(store.ids[idx], labels)`` (so checkpoints stay valid) with the ids read ``chunk_rows``
    at a time: at 10^7 rows the whole id column is about a GB of Python strings."""
    digest = hashlib.sha256()
    digest.update(str((np.dtype(object).str, (len(idx),))).encode())
    for lo in range(0, len(idx), chunk_rows):
        joined = "\0".join(map(str, store.ids[idx[lo:lo + chunk_rows]]))
        digest.update(("\0" + joined if lo else joined).encode())
    _digest_array(digest, labels)
    return digest.hexdigest()


@register_selector
class GeneticSelector(Selector):
    """Pick ``k`` of the fused features with the GA described in the module docstring.

    Parameters (GA): ``k``, ``population``, ``elite``, ``parents``, ``window``, ``keep_fraction``,
    ``generations``, ``seed``. Fitness: ``fitness`` ("fc" | "proxy"); for "fc" the FC's
    ``hidden`` widths, ``dropout``, ``epochs``, ``batch_size``, ``learning_rate`` (see
    :class:`.fitness.FitnessFC`, the classifier's ``FCConfig``), ``individuals_per_step`` (None: as many as fit in memory),
    ``precision`` ("fp32" | "bf16" | "auto": the fitness matmuls' precision, :mod:`aesthetic.precision`); for "proxy"
    ``proxy_alpha``, ``proxy_max_rows``. Data: ``validation_fraction``, ``label_threshold``
    (binarise non-0/1 labels), ``memory_budget_mb`` (hold fitness features in RAM if they fit,
    else stream from the store). Run: ``checkpoint_dir``, ``resume``, ``progress``, ``engine`` ("local" |
    "ray": each generation's fitness groups on Ray actors, same result; see :mod:`.ray_fitness`).

    Fitted: ``support_`` (sorted ``(k,)`` fused column indices of the best individual),
    ``best_fitness_``, ``history_`` (one dict per generation: generation, best, mean, std,
    evaluated, seconds), ``population_`` ``(population, k)`` and ``fitness_`` of the last
    generation, ``n_generations_``, ``precision_`` (what the fc fitness computed in, ``fp32`` or
    ``bf16`` with ``auto`` resolved; None for the proxy).
    """

    kind = "ga"

    def __init__(self, k: int = 5000, population: int = 100, elite: int = 2, parents: int = 50,
                 window: int = 3, keep_fraction: float = 0.8, generations: int = 20, seed: int = 0,
                 fitness: str = "fc", hidden: Sequence[int] = (64, 32), dropout: float = 0.3,
                 epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-3,
                 validation_fraction: float = 0.2, individuals_per_step: int | None = None,
                 label_threshold: float | None = None, memory_budget_mb: float = 4096,
                 proxy_alpha: float = 1.0, proxy_max_rows: int = 2000,
                 checkpoint_dir: str | None = None, resume: bool = True, progress: bool = True,
                 engine: str = "local", precision: str = "fp32"):
        self.k = k
        self.population = population
        self.elite = elite
        self.parents = parents
        self.window = window
        self.keep_fraction = keep_fraction
        self.generations = generations
        self.seed = seed
        self.fitness = fitness
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.individuals_per_step = individuals_per_step
        self.precision = precision
        self.label_threshold = label_threshold
        self.memory_budget_mb = memory_budget_mb
        self.proxy_alpha = proxy_alpha
        self.proxy_max_rows = proxy_max_rows
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.progress = progress
        self.engine = engine

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, branches: Mapping[str, int] | None = None) -> "GeneticSelector":
        """Run the GA on an in-memory fused matrix ``X (n_images, n_features)`` with labels ``y (n,)``."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise SelectionError(f"X must be 2-D (n_images, n_features), got shape {X.shape}")
        if X.dtype not in (np.float32, np.float16):
            X = X.astype(np.float32)
        labels = binary_labels(y, self.label_threshold)
        if len(labels) != len(X):
            raise SelectionError(f"y has {len(labels)} labels but X has {len(X)} rows")
        layout = branch_layout(branches, X.shape[1])
        train, val = stratified_split(labels, self.validation_fraction, self.seed)
        sources = (ArraySource(X, train, labels[train]), ArraySource(X, val, labels[val]))
        data = {"source": "array", "rows": len(X), "layout": layout, "feature_dtype": X.dtype.name,
                "sha256": _sha256(X, labels)}
        return self._run(layout, sources, data)

    def fit_store(self, store, rows: Any = None, branches: Sequence[str] | None = None,
                  chunk_rows: int = STREAM_CHUNK_ROWS) -> "GeneticSelector":
        """Run the GA on a feature store (default rows: extracted and labelled).

        Fitness features are read once into RAM (float32, or float16 when only that fits
        ``memory_budget_mb``), or else streamed from the store every epoch; either way the store
        is read ``chunk_rows`` rows at a time (features and ids), never whole. Streamed, the chunk
        size orders the batches (it is part of the checkpoint's config); read into RAM it changes nothing.
        """
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
            raise SelectionError(f"chunk_rows must be a positive int, got {chunk_rows!r}")
        chunk_rows = int(chunk_rows)
        layout = store_layout(store, branches)
        self._check_settings(sum(layout.values()))
        idx = store_rows(store, store.ok & store.has_labels if rows is None else rows)
        if len(idx) and not np.all(store.ok[idx]):
            raise SelectionError(f"{store.source}: {int((~store.ok[idx]).sum())} of the rows were not "
                                 f"extracted (status not ok)")
        labels = binary_labels(store.labels[idx], self.label_threshold, what=f"{store.source} labels")
        train, val = stratified_split(labels, self.validation_fraction, self.seed)
        n_features = sum(layout.values())
        budget = float(self.memory_budget_mb) * 1024**2
        names = list(layout)
        if len(idx) * n_features * 4 <= budget or len(idx) * n_features * 2 <= budget:
            dtype = np.float32 if len(idx) * n_features * 4 <= budget else np.float16
            X = read_features(store, names, idx, dtype, chunk_rows)
            sources = (ArraySource(X, train, labels[train]), ArraySource(X, val, labels[val]))
            mode = f"memory-{np.dtype(dtype).name}"
        else:
            sources = (StoreSource(store, names, idx[train], labels[train], chunk_rows),
                       StoreSource(store, names, idx[val], labels[val], chunk_rows))
            mode = f"stream-{chunk_rows}"
        log.info("GA fitness features: %d images x %d, %s (%d train, %d validation)",
                 len(idx), n_features, mode, len(train), len(val))
        data = {"source": "store", "rows": len(idx), "layout": layout, "feature_source": mode,
                "sha256": _store_sha256(store, idx, labels, chunk_rows)}
        return self._run(layout, sources, data)

    # -- the run ----------------------------------------------------------------------
    def _spec(self) -> FitnessFC:
        """The fitness FC these parameters describe (bad values raise SelectionError)."""
        return fitness_fc(hidden=tuple(self.hidden), dropout=self.dropout, epochs=self.epochs,
                          batch_size=self.batch_size, learning_rate=self.learning_rate, precision=self.precision)

    def _evaluator(self, sources):
        # the fitness kind was checked by _check_settings
        if self.fitness == "fc":
            local = FCFitness(*sources, self._spec(), self.seed, self.individuals_per_step)
        else:
            local = ProxyFitness(*sources, self.seed, alpha=self.proxy_alpha, max_rows=int(self.proxy_max_rows))
        return ray_evaluator(local, self.engine)

    def _config(self, data: Mapping[str, Any], evaluator) -> dict[str, Any]:
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in _RUN_ONLY_PARAMS}
        evaluator = getattr(evaluator, "local", evaluator)  # the local evaluator inside a RayFitness
        if isinstance(evaluator, FCFitness):  # the grouping decides dropout streams
            params["individuals_per_step"] = evaluator.step_size(int(self.k))
            # what ran, not "auto": a resume on hardware that resolves auto otherwise is refused
            params["precision"] = resolve_precision(self.precision)
        return json.loads(json.dumps({"params": params, "data": dict(data)}, default=list))

    def _check_settings(self, n_features: int) -> None:
        """Every setting that can be checked without the data (bad values raise SelectionError), so a
        mistyped option fails before a large store is read."""
        check_ga_shape(population=self.population, k=self.k, n_features=int(n_features), elite=self.elite,
                       parents=self.parents, window=self.window, keep_fraction=self.keep_fraction)
        if int(self.generations) < 0:
            raise SelectionError(f"generations must be >= 0, got {self.generations}")
        if self.fitness not in FITNESS_KINDS:
            raise SelectionError(f"fitness must be one of {', '.join(FITNESS_KINDS)}, got {self.fitness!r}")
        if self.fitness == "fc":
            self._spec()

    def _run(self, layout: Mapping[str, int], sources, data: Mapping[str, Any]) -> "GeneticSelector":
        n_features = int(sum(layout.values()))
        self._check_settings(n_features)
        evaluator = self._evaluator(sources)
        config = self._config(data, evaluator)
        run_dir = Path(self.checkpoint_dir) if self.checkpoint_dir else None
        saved = None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            if self.resume:
                saved = read_checkpoint(run_dir, config)

        if saved is not None:
            generation, population = saved["generation"], saved["population"]
            fitness, history = saved["fitness"], saved["history"]
            rng = restore_rng(saved["rng_state"])
            if generation > int(self.generations):
                raise SelectionError(f"{run_dir}: the checkpoint is already at generation {generation}, past "
                                     f"generations={self.generations}; ask for at least {generation}")
            log.info("GA: resuming %s after generation %d", run_dir, generation)
        else:
            rng = np.random.default_rng(int(self.seed))
            started = time.perf_counter()
            population = init_population(int(self.population), n_features, int(self.k), rng)
            fitness = evaluator(population, 0)
            generation, history = 0, [self._stats(0, fitness, len(population), started)]
            self._save(run_dir, config, generation, population, fitness, rng, history)

        from aesthetic.progress import Progress

        remaining = max(0, int(self.generations) - generation)
        with Progress(remaining, "GA generations", unit="generations", enabled=bool(self.progress)) as bar:
            for generation in range(generation + 1, int(self.generations) + 1):
                started = time.perf_counter()
                population, elite_rows = next_generation(
                    population, fitness, n_features=n_features, elite=int(self.elite),
                    parents=int(self.parents), window=int(self.window),
                    keep_fraction=float(self.keep_fraction), rng=rng)
                fitness = np.concatenate([fitness[elite_rows], evaluator(population[len(elite_rows):], generation)])
                history.append(self._stats(generation, fitness, len(population) - len(elite_rows), started))
                self._save(run_dir, config, generation, population, fitness, rng, history)
                bar.update(1)

        best = int(rank(fitness)[0])
        self._set_layout(layout)
        self.support_ = np.sort(population[best]).astype(np.int64)
        self.n_features_out_ = int(len(self.support_))
        self.best_fitness_ = float(fitness[best])
        self.history_ = list(history)
        self.population_, self.fitness_ = population, fitness
        self.n_generations_ = int(history[-1]["generation"])
        self.precision_ = config["params"]["precision"] if self.fitness == "fc" else None
        if run_dir is not None:
            write_history(run_dir, config=config, history=history, best_individual=self.support_,
                          best_fitness=self.best_fitness_)
            plot_history(history, run_dir / PLOT, title=f"GA fitness (k={self.k}, population={self.population})")
        return self

    @staticmethod
    def _stats(generation: int, fitness: np.ndarray, evaluated: int, started: float) -> dict[str, Any]:
        entry = {"generation": int(generation), "best": float(np.max(fitness)), "mean": float(np.mean(fitness)),
                 "std": float(np.std(fitness)), "evaluated": int(evaluated),
                 "seconds": round(time.perf_counter() - started, 3)}
        log.info("GA generation %d: best %.4f, mean %.4f, std %.4f (%d evaluated, %.1fs)", generation,
                 entry["best"], entry["mean"], entry["std"], evaluated, entry["seconds"])
        return entry

    @staticmethod
    def _save(run_dir, config, generation, population, fitness, rng, history) -> None:
        if run_dir is not None:
            write_checkpoint(run_dir, config=config, generation=generation, population=population,
                             fitness=fitness, rng=rng, history=history)

    # -- transform ----------------------------------------------------------------------
    def _branch_columns(self) -> dict[str, np.ndarray]:
        """Selected columns of each branch, in branch-local coordinates (branches with none left out)."""
        out = {}
        for b, s in self.column_slices().items():
            local = self.support_[(self.support_ >= s.start) & (self.support_ < s.stop)] - s.start
            if len(local):
                out[b] = local
        return out

    def raw_output_columns(self, branch: str) -> np.ndarray | None:
        start = 0
        for b, local in self._branch_columns().items():  # the output is these blocks, in this order
            if b == branch:
                return np.arange(start, start + len(local))
            start += len(local)
        return np.zeros(0, np.int64)

    def _needed_branches(self) -> list[str]:
        return list(self._branch_columns())

    def _transform_blocks(self, blocks: Mapping[str, np.ndarray]) -> np.ndarray:
        cols = self._branch_columns()
        return np.concatenate([np.asarray(blocks[b], dtype=np.float32)[:, c] for b, c in cols.items()], axis=1)

    def get_support(self, indices: bool = False) -> np.ndarray:
        """Mask ``(n_features_in_,)`` of the selected fused columns, or their sorted indices."""
        self._check_fitted()
        if indices:
            return self.support_.copy()
        mask = np.zeros(self.n_features_in_, dtype=bool)
        mask[self.support_] = True
        return mask

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._state()
        state.update(best_fitness=self.best_fitness_, history=self.history_, n_generations=self.n_generations_,
                     precision=self.precision_)
        arrays["support"] = self.support_
        return state, arrays

    def _set_state(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        super()._set_state(state, arrays)
        self.support_ = np.asarray(arrays["support"], dtype=np.int64)
        self.best_fitness_ = float(state["best_fitness"])
        self.history_ = list(state["history"])
        self.n_generations_ = int(state["n_generations"])
        self.precision_ = state.get("precision")  # selectors saved before it was recorded: None

    def _state_problem(self) -> str | None:
        problem = super()._state_problem()
        if problem:
            return problem
        support = self.support_
        if support.ndim != 1 or len(support) != self.n_features_out_ or len(support) != int(self.k):
            return (f"it selects {support.size} features, but records n_features_out={self.n_features_out_} "
                    f"and k={self.k}")
        if support.size and (support.min() < 0 or support.max() >= self.n_features_in_):
            return f"a selected index is outside the {self.n_features_in_} input features"
        if len(np.unique(support)) != len(support):
            return "it selects a feature twice"
        return None
