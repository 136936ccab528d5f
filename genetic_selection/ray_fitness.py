"""GA fitness of a generation spread over Ray actors, with exactly the local result.

:class:`RayFitness` wraps a local evaluator (:class:`~.fitness.FCFitness`,
:class:`~.fitness.ProxyFitness`, or any ``(individuals (P, k), generation) -> (P,)`` callable
whose individuals are scored independently) and has the same call signature, so the GA
cannot tell them apart.

Why the result is the local one, bit for bit: the FC fitness trains individuals in *groups*
(``FCFitness.step_size``) and a group's dropout stream is keyed by ``(seed, generation,
group)``; its initial weights by ``(seed, generation, individual)``. The Ray evaluator cuts the
population into exactly those groups, sends each group with its index to an actor that holds
its own copy of the evaluator, and puts the results back in population order. Which actor runs
which group does not matter: every group starts from a full reset. The parallelism is therefore
the number of groups: set ``individuals_per_step`` to ``population / workers`` (and the same in
a local run you want to compare with).

The fitness features are put in the object store once (``ray.put``) and shared by all actors on
a node; a store-backed source travels as its path and is reopened on the worker (so the store
must be on a filesystem every node sees). ``ray`` is imported only inside methods.
"""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from aesthetic.backend import allow_gpu_memory_growth, prefer_onednn
from aesthetic.feature_store import FeatureStore
from aesthetic.raycluster import init_ray

from .errors import SelectionError
from .fitness import ArraySource, FCFitness, StoreSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _StoreSourceRecipe:
    """A :class:`StoreSource` as plain data: reopened from its path on the worker."""

    store_path: str
    branches: tuple[str, ...]
    rows: np.ndarray
    labels: np.ndarray
    chunk_rows: int

    def build(self) -> StoreSource:
        return StoreSource(FeatureStore.open(self.store_path), list(self.branches), self.rows, self.labels,
                           self.chunk_rows)


def _portable_source(source):
    if isinstance(source, StoreSource):
        return _StoreSourceRecipe(str(source.store.source), tuple(source.branches), source.rows, source.labels,
                                  source.chunk_rows)
    if isinstance(source, ArraySource):
        return source
    raise SelectionError(f"cannot send a fitness source of type {type(source).__name__} to Ray workers")


def _built_source(recipe):
    return recipe.build() if isinstance(recipe, _StoreSourceRecipe) else recipe


@dataclass(frozen=True)
class _FCRecipe:
    """What rebuilds an :class:`FCFitness` in a worker (its TensorFlow models cannot travel)."""

    train: Any
    validation: Any
    spec: Any
    seed: int
    individuals_per_step: Optional[int]
    eval_batch: int

    def build(self) -> FCFitness:
        return FCFitness(_built_source(self.train), _built_source(self.validation), self.spec, self.seed,
                         self.individuals_per_step, self.eval_batch)


def _recipe(evaluator):
    if isinstance(evaluator, FCFitness):
        return _FCRecipe(_portable_source(evaluator.train), _portable_source(evaluator.validation), evaluator.spec,
                         evaluator.seed, evaluator.individuals_per_step, evaluator.eval_batch)
    return evaluator  # numpy-only evaluators (ProxyFitness) travel as they are


def evaluate_group(evaluator, individuals: np.ndarray, ids: np.ndarray, group: int, generation: int) -> np.ndarray:
    """Fitness of one group: population rows ``ids``, genes ``individuals`` ``(len(ids), k)``.

    FCFitness scores it as group number ``group`` of its own split (``FCFitness.evaluate_group``);
    any other evaluator scores each individual on its own, so the group is just a slice.
    """
    if isinstance(evaluator, FCFitness):
        return evaluator.evaluate_group(individuals, ids, group, generation)
    return np.asarray(evaluator(individuals, generation), dtype=np.float64)


class _FitnessWorker:
    """A Ray actor holding one evaluator; its traced models are reused across generations."""

    def __init__(self, recipe):
        prefer_onednn()  # as `aesthetic select ga` does in its own process
        allow_gpu_memory_growth()
        self.evaluator = recipe.build() if isinstance(recipe, _FCRecipe) else recipe

    def evaluate(self, individuals: np.ndarray, ids: np.ndarray, group: int, generation: int) -> np.ndarray:
        return evaluate_group(self.evaluator, np.asarray(individuals), np.asarray(ids), group, generation)


class RayFitness:
    """``local`` evaluated on Ray: ``(P, k)`` individuals, generation -> ``(P,)`` fitness, as ``local`` gives.

    ``address``: None uses the Ray this process initialised, or starts a local one;
    ``"auto"``/``"ray://..."`` joins a cluster. ``workers``: actors (default: one per CPU of the
    cluster, or per ``gpus_per_worker`` GPUs). Call :meth:`close` (or use ``with``) to free them.
    """

    def __init__(self, local, *, address: Optional[str] = None, workers: Optional[int] = None,
                 gpus_per_worker: float = 0.0):
        if workers is not None and int(workers) < 1:
            raise SelectionError(f"workers must be >= 1, got {workers}")
        if gpus_per_worker < 0:
            raise SelectionError(f"gpus_per_worker must be >= 0, got {gpus_per_worker}")
        self.local = local
        self.name = f"{getattr(local, 'name', type(local).__name__)}@ray"
        self.address, self.workers, self.gpus_per_worker = address, workers, float(gpus_per_worker)
        self._actors: list = []
        self._started_ray = False
        self._finalizer = None

    # -- the evaluator's interface ----------------------------------------------------
    def groups(self, population: int, k: int) -> list[np.ndarray]:
        """Population rows of each group, in order: the local evaluator's groups when it has them
        (``step_size``: FC dropout streams depend on them), else one contiguous part per actor."""
        if hasattr(self.local, "step_size"):
            step = int(self.local.step_size(k))
        else:
            step = max(1, math.ceil(population / max(1, len(self._actors))))
        return [np.arange(lo, min(lo + step, population)) for lo in range(0, population, step)]

    def __call__(self, individuals: np.ndarray, generation: int) -> np.ndarray:
        import ray

        individuals = np.asarray(individuals)
        if hasattr(self.local, "step_size"):  # no more actors than groups: each one holds the features
            actors = self._start(math.ceil(len(individuals) / int(self.local.step_size(individuals.shape[1]))))
        else:
            actors = self._start(len(individuals))
        groups = self.groups(len(individuals), individuals.shape[1])
        refs = [actors[g % len(actors)].evaluate.remote(individuals[ids], ids, g, int(generation))
                for g, ids in enumerate(groups)]
        out = np.empty(len(individuals), dtype=np.float64)
        for ids, scores in zip(groups, ray.get(refs)):
            out[ids] = scores
        return out

    # -- actors ----------------------------------------------------------------------------
    def _start(self, most: int) -> list:
        if self._actors:
            return self._actors
        import ray

        started = not ray.is_initialized()
        if started:
            init_ray(self.address, logging_level=logging.WARNING)
        # Freed when this object goes away (the GA drops its evaluator when a run ends or fails).
        self._actors, self._started_ray = [], started
        self._finalizer = weakref.finalize(self, _release, self._actors, started)
        resources = ray.cluster_resources()
        if self.gpus_per_worker > 0:
            gpus = float(resources.get("GPU", 0))
            if gpus < self.gpus_per_worker:
                raise SelectionError(f"gpus_per_worker {self.gpus_per_worker}: the Ray cluster has {gpus:g} GPUs")
            default = int(gpus // self.gpus_per_worker)
        else:
            default = int(resources.get("CPU", 1))
        n = max(1, min(int(self.workers or default), int(most)))
        recipe = ray.put(_recipe(self.local))  # features into the object store once, shared by every actor
        actor_cls = ray.remote(num_cpus=1, num_gpus=self.gpus_per_worker or None, max_restarts=-1,
                               max_task_retries=-1)(_FitnessWorker)
        self._actors.extend(actor_cls.remote(recipe) for _ in range(n))
        log.info("GA fitness on Ray: %d actor(s)", n)
        return self._actors

    def close(self) -> None:
        """Free the actors now (and shut down the Ray this object started)."""
        if self._finalizer is not None:
            self._finalizer()
        self._actors, self._started_ray, self._finalizer = [], False, None

    def __enter__(self) -> "RayFitness":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _release(actors: list, shutdown: bool) -> None:
    import ray

    if not ray.is_initialized():
        return
    for actor in actors:
        ray.kill(actor)
    if shutdown:
        ray.shutdown()


def ray_evaluator(local, engine: str = "local", **ray_options) -> Any:
    """The GA's one hook: ``evaluator = ray_evaluator(evaluator, self.engine)`` keeps ``local`` for
    ``engine="local"`` and wraps it in :class:`RayFitness` for ``engine="ray"``."""
    if engine == "local":
        return local
    if engine == "ray":
        return RayFitness(local, **ray_options)
    raise SelectionError(f"engine must be local or ray, got {engine!r}")


__all__: Sequence[str] = ("RayFitness", "evaluate_group", "ray_evaluator")
