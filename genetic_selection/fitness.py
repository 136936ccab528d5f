"""Fitness of GA individuals: validation *balanced* accuracy of the FC classifier on their features,
for a whole population at once.

Balanced accuracy (the mean of the recall of each class, at the FC's 0.5 cut) rather than
plain accuracy: on 1:7 data an individual whose FC answers "not aesthetic" for every photo
has accuracy 0.88 but balanced accuracy 0.5, so the GA cannot climb by predicting the
majority class. With one class in the validation rows it is that class's recall.

The FC is the project's classifier head, :func:`aesthetic.classifier.fc.build_fc`, described by
the classifier's config (:class:`FitnessFC` is an ``FCConfig``): ``hidden`` dense layers
without bias, each followed by batch norm, ReLU and dropout, then one dense unit with bias
and a sigmoid, trained with Adam on binary cross-entropy (plus ``l2`` on the hidden
kernels). Only the initial weights differ: Glorot-uniform drawn from numpy here, so that
they are keyed per individual. :class:`PopulationFC` trains ``P`` of them *as one model*: every weight
has a leading population axis (``(P, fan_in, fan_out)``), the input of a batch is
gathered once per step into ``(P, k, batch)`` (individual ``p`` sees columns
``indices[p]``), and each layer is one batched matmul. The loss is the *sum* over
individuals of each one's mean batch loss, so every individual gets exactly the
gradient it would get alone (its parameters appear in no other term), and Adam's
update is per parameter: ``P`` independent models, one kernel launch per layer instead
of ``P`` Keras ``fit`` calls. It runs on the GPU when the backend sees one: on TensorFlow as traced
graphs with fused Adam kernels (:mod:`.population_tf`), on JAX and PyTorch as the same maths in
``keras.ops`` with the backend's own autodiff (:mod:`.population_ops`).

Determinism: initial weights come from numpy generators keyed by
``(seed, generation, individual)``, batch order from ``(seed, generation)``, dropout masks
from the backend's stateless random ops keyed by ``(seed, generation, group, step)``; nothing reads
global random state, so a resumed GA run scores exactly as an uninterrupted one.

:func:`one_at_a_time_fitness` (a Keras ``Sequential`` per individual, same
hyperparameters) is the baseline the benchmark compares against. :class:`ProxyFitness`
(ridge regression in dual form on a row sample) is a cheaper, optional stand-in.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Iterator, Sequence

import numpy as np
from pydantic import Field, ValidationError, field_validator

from aesthetic.backend import ONEDNN_ENV, onednn_enabled, to_numpy
from aesthetic.classifier.fc import FCConfig, build_fc
from aesthetic.precision import Precision

from .errors import SelectionError
from .population import _DROPOUT, _INIT, _SHUFFLE, BN_EPSILON, PopulationBase, _rng  # noqa: F401 (re-exported)
from .population_ops import OpsPopulationFC
from .population_tf import PopulationFC

log = logging.getLogger(__name__)

#: Memory one group of individuals may use for weights, optimizer state and activations.
GROUP_MEMORY_BYTES = 2 * 1024**3


class FitnessFC(FCConfig):
    """The FC each individual trains: the classifier's :class:`~aesthetic.classifier.fc.FCConfig`
    (same architecture, same field names) with defaults sized for CPU and one GA-only setting.

    Fields read here: ``hidden`` (64, 32), ``dropout`` 0.3, ``l2`` 0 (on the hidden kernels,
    as ``build_fc``), ``epochs`` 10, ``batch_size`` 64, ``learning_rate`` 1e-3 (Adam), and
    ``bn_momentum`` 0.9 (so the moving statistics settle within a short training run).
    Fitness has no early stopping, class weights or threshold search: ``patience``,
    ``class_weight``, ``threshold_metric``, ``validation_fraction`` and ``seed`` are the GA's
    own business (the split and seed come from :class:`~.ga.GeneticSelector`); ``threshold_folds``
    and ``calibration`` do not apply (fitness is balanced accuracy at P 0.5).
    """

    hidden: tuple[int, ...] = (64, 32)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    l2: float = Field(0.0, ge=0.0)
    learning_rate: float = Field(1e-3, gt=0.0)
    batch_size: int = Field(64, gt=0)
    epochs: int = Field(10, gt=0)
    bn_momentum: float = Field(0.9, gt=0.0, lt=1.0)
    precision: Precision = Field("fp32", description="fp32 | bf16 | auto: compute precision of the matmuls "
                                                     "(variables, batch norm and the loss stay float32)")

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden: tuple[int, ...]) -> tuple[int, ...]:
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden must be one or more positive layer widths, got {hidden}")
        return hidden


def fitness_fc(**settings) -> FitnessFC:
    """:class:`FitnessFC` from keyword settings, a bad value raised as one :class:`SelectionError` line."""
    try:
        return FitnessFC(**settings)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SelectionError(f"GA fitness FC settings: {problems}") from None


# -- where the features come from ----------------------------------------------------
def epoch_order(n: int, chunk_rows: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Row positions for one pass in chunks of ``chunk_rows``: chunk order and rows within each
    chunk shuffled by ``rng`` (kept in order when None). Each yielded array is one chunk."""
    starts = np.arange(0, n, chunk_rows)
    for c in (rng.permutation(len(starts)) if rng is not None else range(len(starts))):
        rows = np.arange(starts[c], min(starts[c] + chunk_rows, n))
        yield rows[rng.permutation(len(rows))] if rng is not None else rows


def read_features(store, branches: Sequence[str], rows: np.ndarray, dtype=np.float32,
                  chunk_rows: int = 8192) -> np.ndarray:
    """Fused features of store ``rows`` (any order) as one ``(len(rows), width)`` array of ``dtype``,
    read ``chunk_rows`` at a time: peak memory is the result plus one chunk, not the result plus a
    float32 copy of every branch."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), store.total_width(list(branches))), dtype=dtype)
    for lo in range(0, len(rows), chunk_rows):
        out[lo:lo + chunk_rows] = store.features(list(branches), rows[lo:lo + chunk_rows])
    return out


class ArraySource:
    """Rows ``rows`` of an in-memory fused matrix ``X`` (float32 or float16) with their 0/1 labels."""

    def __init__(self, X: np.ndarray, rows: np.ndarray, labels: np.ndarray):
        self.X, self.rows = X, np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.float32)
        self.n_features = X.shape[1]

    def __len__(self) -> int:
        return len(self.rows)

    def batches(self, batch_size: int, rng: np.random.Generator | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(X (b, n_features) float32, y (b,) float32)`` batches of one pass."""
        for chunk in epoch_order(len(self), len(self), rng):
            for lo in range(0, len(chunk), batch_size):
                pos = chunk[lo:lo + batch_size]
                yield np.asarray(self.X[self.rows[pos]], dtype=np.float32), self.labels[pos]

    def matrix(self, positions: np.ndarray) -> np.ndarray:
        return np.asarray(self.X[self.rows[positions]], dtype=np.float32)


class StoreSource:
    """Rows of a feature store read ``chunk_rows`` at a time each pass, for data too big for memory.

    Shuffling is by chunk order and within chunks; with ``chunk_rows >= len(rows)`` the batches
    are exactly those of an :class:`ArraySource` over the same rows and generator.
    """

    def __init__(self, store, branches: Sequence[str], rows: np.ndarray, labels: np.ndarray,
                 chunk_rows: int = 8192):
        self.store, self.branches = store, list(branches)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.float32)
        self.chunk_rows = int(chunk_rows)
        self.n_features = store.total_width(self.branches)

    def __len__(self) -> int:
        return len(self.rows)

    def batches(self, batch_size: int, rng: np.random.Generator | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for chunk in epoch_order(len(self), self.chunk_rows, rng):
            in_file_order = np.sort(chunk)
            block = self.store.features(self.branches, self.rows[in_file_order])
            where = np.searchsorted(in_file_order, chunk)  # chunk's (shuffled) order within the block
            for lo in range(0, len(chunk), batch_size):
                yield block[where[lo:lo + batch_size]], self.labels[chunk[lo:lo + batch_size]]

    def matrix(self, positions: np.ndarray) -> np.ndarray:
        return read_features(self.store, self.branches, self.rows[np.asarray(positions)], chunk_rows=self.chunk_rows)


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Balanced accuracy of each row of ``predicted`` (``(P, n)`` or ``(n,)`` booleans: called
    aesthetic) against binary ``labels (n,)``: the mean over the classes present of the fraction
    of that class called right."""
    pred = np.atleast_2d(np.asarray(predicted, dtype=bool))
    pos = np.asarray(labels) > 0.5
    recalls = [(pred[:, mask] == value).mean(axis=1) for mask, value in ((pos, True), (~pos, False))
               if mask.any()]
    out = np.mean(recalls, axis=0) if recalls else np.zeros(len(pred))
    return out if np.ndim(predicted) == 2 else out[0]


# -- the batched population model ------------------------------------------------------
def group_size(k: int, spec: FitnessFC, eval_batch: int, budget_bytes: int = GROUP_MEMORY_BYTES) -> int:
    """How many individuals one training step can hold within ``budget_bytes``."""
    sizes = [k, *spec.hidden, 1]
    params = sum(a * b + 4 * b for a, b in zip(sizes[:-1], sizes[1:]))
    # weights + gradient + two Adam moments; gathered input for a train and an eval batch, twice
    # (forward copy and the one kept for the weight gradient); hidden activations.
    per_individual = 4 * (4 * params + 2 * k * max(spec.batch_size, eval_batch)
                          + 4 * sum(spec.hidden) * max(spec.batch_size, eval_batch))
    return max(1, int(budget_bytes // per_individual))


#: How :class:`FCFitness` computes: "auto" (TensorFlow's fused graphs on TensorFlow, ``keras.ops``
#: elsewhere), "tf" or "ops" (the backend-neutral model, on any backend).
IMPLEMENTATIONS = ("auto", "tf", "ops")


@functools.cache
def _hint_onednn() -> None:
    """Say once, where it matters, that TensorFlow's oneDNN CPU kernels are off in this process."""
    import tensorflow as tf

    if onednn_enabled() is False and ONEDNN_ENV not in os.environ and not tf.config.list_physical_devices("GPU"):
        log.info("GA fitness: TensorFlow's oneDNN CPU kernels are off in this process (TensorFlow started "
                 "before the GA could ask for them); the batched FCs train about 2.5x faster with them: start "
                 "the process with %s=1, or run `aesthetic select ga` on its own", ONEDNN_ENV)


def population_fc(P: int, k: int, n_features: int, spec: FitnessFC, implementation: str = "auto") -> PopulationBase:
    """The population model for the running Keras backend (see :data:`IMPLEMENTATIONS`)."""
    import keras

    on_tf = keras.backend.backend() == "tensorflow"
    if implementation == "tf" and not on_tf:
        raise SelectionError(f"fitness implementation 'tf' needs the TensorFlow backend, "
                             f"Keras runs on '{keras.backend.backend()}'")
    if implementation == "tf" or (implementation == "auto" and on_tf):
        _hint_onednn()
        return PopulationFC(P, k, n_features, spec)
    return OpsPopulationFC(P, k, n_features, spec)


class FCFitness:
    """Validation balanced accuracy of the FC on each individual's features, populations trained in groups.

    ``individuals_per_step``: individuals per batched model; None picks the most that fit
    :data:`GROUP_MEMORY_BYTES` (the whole population of 100 x 5000 at the default sizes).
    """

    name = "fc"

    def __init__(self, train, validation, spec: FitnessFC, seed: int, individuals_per_step: int | None = None,
                 eval_batch: int = 256, implementation: str = "auto"):
        if implementation not in IMPLEMENTATIONS:
            raise SelectionError(f"fitness implementation must be one of {', '.join(IMPLEMENTATIONS)}, "
                                 f"got '{implementation}'")
        self.implementation = implementation
        self.train, self.validation, self.spec = train, validation, spec
        self.seed, self.eval_batch = int(seed), int(eval_batch)
        self.individuals_per_step = individuals_per_step
        self._models: dict[tuple[int, int], PopulationBase] = {}

    def step_size(self, k: int) -> int:
        if self.individuals_per_step is not None:
            if int(self.individuals_per_step) < 1:
                raise SelectionError(f"individuals_per_step must be >= 1, got {self.individuals_per_step}")
            return int(self.individuals_per_step)
        return group_size(k, self.spec, self.eval_batch)

    def _model(self, P: int, k: int) -> PopulationBase:
        """The traced model for groups of ``P``; the two most recent shapes are kept (a full group
        and the remainder, or generation 0's population and the later ones without the elite)."""
        key = (int(P), int(k))
        if key not in self._models:
            while len(self._models) >= 2:
                self._models.pop(next(iter(self._models)))
            self._models[key] = population_fc(P, k, self.train.n_features, self.spec, self.implementation)
        else:
            self._models[key] = self._models.pop(key)  # most recently used last
        return self._models[key]

    def evaluate_group(self, individuals: np.ndarray, ids: np.ndarray, group: int, generation: int) -> np.ndarray:
        """Balanced accuracies of one group of :meth:`__call__`'s split: population rows ``ids``, whose genes are
        ``individuals`` ``(len(ids), k)``, trained as group number ``group``. Groups share nothing, so
        they may run in any order or place (``ray_fitness`` sends them to Ray actors)."""
        model = self._model(len(ids), individuals.shape[1])
        model.reset(individuals, self.seed, generation, init_ids=ids, group=group)
        return model.fit(self.train).balanced_accuracy(self.validation, self.eval_batch)

    def __call__(self, individuals: np.ndarray, generation: int) -> np.ndarray:
        """``(P, k)`` individuals -> ``(P,)`` validation balanced accuracies."""
        individuals = np.asarray(individuals)
        step = self.step_size(individuals.shape[1])
        out = np.empty(len(individuals), dtype=np.float64)
        for group, lo in enumerate(range(0, len(individuals), step)):
            ids = np.arange(lo, min(lo + step, len(individuals)))
            out[ids] = self.evaluate_group(individuals[ids], ids, group, generation)
        return out


# -- baselines and alternatives ------------------------------------------------------
def build_single_fc(k: int, spec: FitnessFC, seed: int = 0):
    """The FC for one individual: the classifier's ``build_fc``, compiled as the fitness trains it
    (the one-at-a-time baseline)."""
    import keras

    model = build_fc(k, hidden=spec.hidden, dropout=spec.dropout, l2=spec.l2, seed=seed,
                     bn_momentum=spec.bn_momentum)
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def one_at_a_time_fitness(individuals: np.ndarray, X_train: np.ndarray, y_train: np.ndarray,
                          X_val: np.ndarray, y_val: np.ndarray, spec: FitnessFC, seed: int) -> np.ndarray:
    """The unbatched way: one Keras model per individual, trained with ``fit`` one after another.

    Exists for the benchmark and for checking :class:`FCFitness` against it.
    """
    import keras

    out = np.empty(len(individuals), dtype=np.float64)
    for p, idx in enumerate(np.asarray(individuals)):
        keras.backend.clear_session()
        individual_seed = (int(seed) * 1_000_003 + p) % 2**31
        keras.utils.set_random_seed(individual_seed)
        model = build_single_fc(len(idx), spec, seed=individual_seed)
        model.fit(X_train[:, idx], y_train, epochs=spec.epochs, batch_size=spec.batch_size,
                  shuffle=True, verbose=0)
        # Direct calls, not predict(): predict retraces for every new model and warns about it.
        prob = np.concatenate([to_numpy(model(X_val[lo:lo + 1024][:, idx], training=False))[:, 0]
                               for lo in range(0, len(X_val), 1024)])
        out[p] = float(balanced_accuracy(prob > 0.5, y_val))
    return out


class ProxyFitness:
    """Cheap stand-in for the FC: ridge regression on the individual's standardised features, fitted
    on at most ``max_rows`` training rows; fitness is validation balanced accuracy at threshold 0.5.

    The penalty is ``alpha`` times the mean squared row norm of the selected features. The system
    solved is the smaller of the primal ``(k, k)`` and the dual ``(n, n)`` one (same solution).
    """

    name = "proxy"

    def __init__(self, train, validation, seed: int, alpha: float = 1.0, max_rows: int = 2000):
        rng = _rng(seed, 0, _SHUFFLE)
        positions = np.sort(rng.permutation(len(train))[:max_rows])
        X = train.matrix(positions)
        self.mean = X.mean(axis=0)
        self.scale = X.std(axis=0)
        self.scale[self.scale == 0] = 1.0
        self.X_train = (X - self.mean) / self.scale
        self.y_train = train.labels[positions]
        self.X_val = (validation.matrix(np.arange(len(validation))) - self.mean) / self.scale
        self.y_val = validation.labels
        self.alpha = float(alpha)

    def __call__(self, individuals: np.ndarray, generation: int) -> np.ndarray:
        out = np.empty(len(individuals), dtype=np.float64)
        centre = float(self.y_train.mean())
        target = (self.y_train - centre).astype(np.float64)
        for p, idx in enumerate(np.asarray(individuals)):
            A = self.X_train[:, idx].astype(np.float64)
            n, k = A.shape
            penalty = self.alpha * max(float(np.sum(A * A)) / n, 1e-12)
            if k <= n:
                coef = np.linalg.solve(A.T @ A + penalty * np.eye(k), A.T @ target)
            else:
                coef = A.T @ np.linalg.solve(A @ A.T + penalty * np.eye(n), target)
            pred = self.X_val[:, idx] @ coef + centre
            out[p] = float(balanced_accuracy(pred > 0.5, self.y_val))
        return out
