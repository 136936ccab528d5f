"""What every population model of the GA fitness shares, whatever computes it.

``P`` FC classifiers over ``k`` of ``n_features`` fused columns, stacked and trained together
(:mod:`.fitness` explains the maths). Two implementations: :mod:`.population_tf` (TensorFlow
graphs with fused Adam kernels, the default backend's fast path) and :mod:`.population_ops`
(backend-neutral ``keras.ops`` with each backend's own autodiff, for JAX and PyTorch). Both take
their initial weights, batch order and dropout keys from here, so a population starts the same
on every backend, and their precision (``spec.precision``, ``auto`` resolved once here), so
both compute their matmuls in the same dtype.
"""

from __future__ import annotations

import math

import numpy as np

from aesthetic.precision import resolve_precision

from .errors import SelectionError

# Keys that separate the random streams drawn from one run seed.
_INIT, _SHUFFLE, _DROPOUT = 0, 1, 2
#: Batch-norm epsilon: Keras's default, which ``build_fc`` uses.
BN_EPSILON = 1e-3
#: Adam as ``keras.optimizers.Adam``'s defaults.
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-7
#: The matmuls' dtype for each resolved precision. bf16 is mixed precision: the gathered features
#: and the kernels are cast to bfloat16 for each matmul, whose output comes back as float32;
#: variables, optimizer state, batch norm and the loss stay float32.
COMPUTE_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *[int(k) for k in keys]])


class PopulationBase:
    """Initialisation, the training loop and scoring; subclasses hold the tensors.

    Subclasses implement ``_load(kernels)`` (fresh weights and optimizer state from numpy
    Glorot-uniform kernels), ``_train_step(x, y, dropout_seed)`` with ``dropout_seed`` two ints,
    and ``logits(X)``, computing their matmuls in :attr:`compute_dtype`.
    """

    def __init__(self, P: int, k: int, n_features: int, spec):
        self.spec, self.P, self.k, self.n_features = spec, int(P), int(k), int(n_features)
        self.sizes = [self.k, *spec.hidden, 1]
        #: ``fp32`` or ``bf16``: ``spec.precision`` with ``auto`` resolved for this machine
        self.precision = resolve_precision(spec.precision)
        #: the matmuls' dtype name, ``float32`` or ``bfloat16`` (see :data:`COMPUTE_DTYPES`)
        self.compute_dtype = COMPUTE_DTYPES[self.precision]

    def reset(self, indices: np.ndarray, seed: int, generation: int, init_ids: np.ndarray | None = None,
              group: int = 0) -> "PopulationBase":
        """Load ``(P, k)`` individuals with fresh weights: Glorot-uniform kernels keyed by
        ``(seed, generation, init_ids[p])`` (so an individual starts alike in any group), zero
        output bias, unit batch-norm scale, fresh Adam state (Keras's defaults)."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.shape != (self.P, self.k):
            raise SelectionError(f"indices of shape {indices.shape}, this model holds ({self.P}, {self.k})")
        init_ids = np.arange(self.P) if init_ids is None else np.asarray(init_ids)
        self.seed, self.generation, self.group = int(seed), int(generation), int(group)
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        kernels = [np.empty((self.P, a, b), np.float32) for a, b in pairs]  # Glorot-uniform
        for p, ident in enumerate(init_ids):
            rng = _rng(seed, generation, _INIT, ident)
            for layer, (fan_in, fan_out) in enumerate(pairs):
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                kernels[layer][p] = rng.uniform(-limit, limit, (fan_in, fan_out))
        self._load(kernels, indices)
        return self

    def _load(self, kernels: list[np.ndarray], indices: np.ndarray) -> None:
        raise NotImplementedError

    def _train_step(self, x: np.ndarray, y: np.ndarray, dropout_seed: tuple[int, int]) -> None:
        raise NotImplementedError

    def logits(self, X: np.ndarray) -> np.ndarray:
        """``(P, n)`` logits for a fused batch ``X (n, n_features)`` (inference mode)."""
        raise NotImplementedError

    def fit(self, source) -> "PopulationBase":
        """Train on every row of ``source`` for ``spec.epochs`` passes (after :meth:`reset`)."""
        shuffle = _rng(self.seed, self.generation, _SHUFFLE)
        base = _rng(self.seed, self.generation, _DROPOUT, self.group).integers(0, 2**30, size=2)
        step = 0
        for _ in range(self.spec.epochs):
            for xb, yb in source.batches(self.spec.batch_size, shuffle):
                self._train_step(xb, yb, (int(base[0]), int(base[1]) + step))
                step += 1
        return self

    def accuracy(self, source, eval_batch: int = 256) -> np.ndarray:
        """``(P,)`` fraction of ``source`` rows each individual classifies right (threshold 0.5)."""
        correct = np.zeros(self.P, dtype=np.int64)
        for xb, yb in source.batches(eval_batch, None):
            correct += ((self.logits(xb) > 0) == (yb[None, :] > 0.5)).sum(axis=1)
        return correct / max(1, len(source))

    def balanced_accuracy(self, source, eval_batch: int = 256) -> np.ndarray:
        """``(P,)`` balanced accuracy on ``source`` rows (threshold 0.5): the GA's fitness."""
        hits = np.zeros((self.P, 2), dtype=np.int64)
        counts = np.zeros(2, dtype=np.int64)
        for xb, yb in source.batches(eval_batch, None):
            called = self.logits(xb) > 0
            pos = yb > 0.5
            hits[:, 1] += called[:, pos].sum(axis=1)
            hits[:, 0] += (~called[:, ~pos]).sum(axis=1)
            counts += (int((~pos).sum()), int(pos.sum()))
        present = counts > 0
        return (hits[:, present] / counts[present]).mean(axis=1) if present.any() else np.zeros(self.P)
