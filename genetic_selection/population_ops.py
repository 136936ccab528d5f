"""The GA's population model in backend-neutral ``keras.ops``: the same maths on JAX, PyTorch or TensorFlow.

The forward pass, loss and Adam update are written once in ``keras.ops``; only the gradient
and the compilation are the backend's own (``jax.value_and_grad`` under ``jax.jit``,
``torch.autograd.grad``, ``tf.GradientTape``). Parameters are plain tensors, updated
functionally, so the JAX step is one jitted function of its inputs.

Dropout keys are ``(seed, generation, group, step)`` as in :mod:`.population_tf`; each backend
draws its masks with its own generator (stateless on JAX and TensorFlow, a seeded generator on
PyTorch), so a run is reproducible on one backend but masks differ between backends. With
``dropout=0`` every backend trains the same numbers (up to float rounding).

Precision as :mod:`.population_tf`: under bf16 (``compute="bfloat16"``) the input is cast before the
gather and every matmul takes bfloat16 kernels and activations and hands back float32, so the
parameters, their gradients, Adam's moments, batch norm and the loss stay float32.
"""

from __future__ import annotations

import numpy as np

from .population import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, BN_EPSILON, PopulationBase


def _ops():
    from keras import ops

    return ops


def layer_matmul(kernel, h, compute: str):
    """``kernel (P, a, b)`` transposed times ``h (P, a, batch)``, computed in ``compute`` and
    returned as float32 ``(P, b, batch)``."""
    ops = _ops()
    return ops.cast(ops.matmul(ops.cast(ops.transpose(kernel, (0, 2, 1)), compute), ops.cast(h, compute)),
                    "float32")


def forward(params: dict, state: dict, x, idx, spec, training: bool = False, keep_masks=None,
            compute: str = "float32"):
    """``(P, b)`` logits and the new batch-norm state. ``params``: ``kernels`` ``[(P, a, b)]``,
    ``bias (P, 1, 1)``, ``gammas``/``betas`` ``[(P, n, 1)]``; ``state``: ``moving_mean``/``moving_var``;
    ``keep_masks``: one boolean ``(P, n, b)`` per hidden layer when training with dropout;
    ``compute``: the matmuls' dtype (``float32`` or ``bfloat16``)."""
    ops = _ops()
    h = ops.take(ops.transpose(ops.cast(x, compute)), idx, axis=0)  # (P, k, b)
    new_mean, new_var = [], []
    for layer in range(len(spec.hidden)):
        h = layer_matmul(params["kernels"][layer], h, compute)
        if training:
            mean = ops.mean(h, axis=2, keepdims=True)
            var = ops.mean(ops.square(h - mean), axis=2, keepdims=True)
            m = spec.bn_momentum
            new_mean.append(state["moving_mean"][layer] * m + mean * (1 - m))
            new_var.append(state["moving_var"][layer] * m + var * (1 - m))
        else:
            mean, var = state["moving_mean"][layer], state["moving_var"][layer]
        h = (h - mean) * ops.rsqrt(var + BN_EPSILON) * params["gammas"][layer] + params["betas"][layer]
        h = ops.relu(h)
        if training and keep_masks is not None:
            h = ops.where(keep_masks[layer], h / (1.0 - spec.dropout), ops.zeros_like(h))
    logits = layer_matmul(params["kernels"][-1], h, compute) + params["bias"]
    new_state = {"moving_mean": new_mean, "moving_var": new_var} if training else state
    return logits[:, 0, :], new_state


def loss_fn(params: dict, state: dict, x, y, idx, spec, keep_masks, compute: str = "float32"):
    """Sum over individuals of each one's mean sigmoid cross-entropy (+ l2 on hidden kernels), in
    float32 whatever ``compute``; returns ``(loss, (per_individual (P,), new_state))``."""
    ops = _ops()
    logits, new_state = forward(params, state, x, idx, spec, True, keep_masks, compute)
    labels = ops.expand_dims(y, 0)
    # tf.nn.sigmoid_cross_entropy_with_logits' stable form: max(z, 0) - z y + log(1 + exp(-|z|))
    ce = ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    per_individual = ops.mean(ce, axis=1)
    loss = ops.sum(per_individual)
    if spec.l2:
        loss = loss + spec.l2 * sum(ops.sum(ops.square(w)) for w in params["kernels"][:-1])
    return loss, (per_individual, new_state)


def adam_update(params: dict, grads: dict, m: dict, v: dict, step, learning_rate: float):
    """One ``keras.optimizers.Adam`` step on every leaf (``step`` counts from 1); new (params, m, v)."""
    import keras

    ops = _ops()
    tree = keras.tree
    lr_t = learning_rate * ops.sqrt(1.0 - ADAM_BETA2 ** step) / (1.0 - ADAM_BETA1 ** step)
    m = tree.map_structure(lambda mi, g: mi + (g - mi) * (1 - ADAM_BETA1), m, grads)
    v = tree.map_structure(lambda vi, g: vi + (ops.square(g) - vi) * (1 - ADAM_BETA2), v, grads)
    params = tree.map_structure(lambda p, mi, vi: p - lr_t * mi / (ops.sqrt(vi) + ADAM_EPSILON), params, m, v)
    return params, m, v


class OpsPopulationFC(PopulationBase):
    """:class:`.population_tf.PopulationFC`'s model on whichever backend Keras runs."""

    def __init__(self, P: int, k: int, n_features: int, spec):
        import keras

        super().__init__(P, k, n_features, spec)
        self.backend = keras.backend.backend()
        make_step = {"jax": _jax_step, "torch": _torch_step, "tensorflow": _tf_step}[self.backend]
        self._grad_step = make_step(spec, self.compute_dtype)
        self._eval = _compiled_eval(self.backend, spec, self.compute_dtype)

    def _load(self, kernels: list[np.ndarray], indices: np.ndarray) -> None:
        ops = _ops()
        t = lambda a: ops.convert_to_tensor(np.asarray(a, np.float32))  # noqa: E731
        hidden = self.spec.hidden
        self.params = {"kernels": [t(k) for k in kernels], "bias": t(np.zeros((self.P, 1, 1))),
                       "gammas": [t(np.ones((self.P, n, 1))) for n in hidden],
                       "betas": [t(np.zeros((self.P, n, 1))) for n in hidden]}
        self.state = {"moving_mean": [t(np.zeros((self.P, n, 1))) for n in hidden],
                      "moving_var": [t(np.ones((self.P, n, 1))) for n in hidden]}
        zeros = lambda tree: _map(lambda p: ops.zeros_like(p), tree)  # noqa: E731
        self.m, self.v = zeros(self.params), zeros(self.params)
        self.idx = ops.convert_to_tensor(np.asarray(indices, np.int32))
        self.step_count = 0

    def _train_step(self, x: np.ndarray, y: np.ndarray, dropout_seed: tuple[int, int]) -> None:
        ops = _ops()
        self.step_count += 1
        self.params, self.state, self.m, self.v = self._grad_step(
            self.params, self.state, self.m, self.v, float(self.step_count),
            ops.convert_to_tensor(np.asarray(x, np.float32)), ops.convert_to_tensor(np.asarray(y, np.float32)),
            self.idx, dropout_seed)

    def logits(self, X: np.ndarray) -> np.ndarray:
        """``(P, n)`` logits for a fused batch ``X (n, n_features)`` (inference mode)."""
        ops = _ops()
        out = self._eval(self.params, self.state, ops.convert_to_tensor(np.asarray(X, np.float32)), self.idx)
        return np.asarray(ops.convert_to_numpy(out), dtype=np.float32)


def _map(fn, tree):
    import keras

    return keras.tree.map_structure(fn, tree)


def _hidden_shapes(spec, P: int, batch: int) -> list[tuple[int, int, int]]:
    return [(P, n, batch) for n in spec.hidden]


# -- per backend: gradients, dropout masks and compilation ----------------------------------------
def _jax_step(spec, compute: str):
    import jax

    def masks(seed, P, batch):
        if spec.dropout <= 0:
            return None
        key = jax.random.fold_in(jax.random.PRNGKey(seed[0]), seed[1])
        return [jax.random.uniform(jax.random.fold_in(key, layer), shape) >= spec.dropout
                for layer, shape in enumerate(_hidden_shapes(spec, P, batch))]

    @jax.jit
    def step(params, state, m, v, step_count, x, y, idx, seed):
        keep = masks(seed, idx.shape[0], x.shape[0])
        grad = jax.value_and_grad(loss_fn, has_aux=True)
        (_, (_, new_state)), grads = grad(params, state, x, y, idx, spec, keep, compute)
        params, m, v = adam_update(params, grads, m, v, step_count, spec.learning_rate)
        return params, new_state, m, v

    import jax.numpy as jnp

    return lambda params, state, m, v, step_count, x, y, idx, seed: step(
        params, state, m, v, jnp.float32(step_count), x, y, idx, jnp.asarray(seed, jnp.uint32))


def _torch_step(spec, compute: str):
    import torch

    def step(params, state, m, v, step_count, x, y, idx, seed):
        keep = None
        if spec.dropout > 0:
            gen = torch.Generator(device=x.device).manual_seed(int(seed[0]) * 2**31 + int(seed[1]))
            keep = [torch.rand(shape, generator=gen, device=x.device) >= spec.dropout
                    for shape in _hidden_shapes(spec, idx.shape[0], x.shape[0])]
        leaves = _map(lambda p: p.detach().requires_grad_(True), params)
        loss, (_, new_state) = loss_fn(leaves, state, x, y, idx, spec, keep, compute)
        flat = torch.utils._pytree.tree_flatten(leaves)
        grads = torch.autograd.grad(loss, flat[0])
        grads = torch.utils._pytree.tree_unflatten(list(grads), flat[1])
        with torch.no_grad():
            new_params, m, v = adam_update(_map(lambda p: p.detach(), leaves), grads, m, v, step_count,
                                           spec.learning_rate)
        return new_params, _map(lambda s: s.detach(), new_state), m, v

    return step


def _tf_step(spec, compute: str):
    import tensorflow as tf

    def masks(seed, P, batch):
        if spec.dropout <= 0:
            return None
        # The keys population_tf draws with (its seed tensor + [layer, 0]): the same masks.
        return [tf.random.stateless_uniform(shape, seed=tf.constant([seed[0] + layer, seed[1]], tf.int32))
                >= spec.dropout for layer, shape in enumerate(_hidden_shapes(spec, P, batch))]

    def step(params, state, m, v, step_count, x, y, idx, seed):
        keep = masks(seed, int(idx.shape[0]), int(x.shape[0]))
        leaves = _map(tf.Variable, params)
        with tf.GradientTape() as tape:
            loss, (_, new_state) = loss_fn(leaves, state, x, y, idx, spec, keep, compute)
        grads = tape.gradient(loss, leaves)
        new_params, m, v = adam_update(_map(tf.convert_to_tensor, leaves), grads, m, v, step_count,
                                       spec.learning_rate)
        return new_params, new_state, m, v

    return step


def _compiled_eval(backend: str, spec, compute: str):
    def evaluate(params, state, x, idx):
        return forward(params, state, x, idx, spec, compute=compute)[0]

    if backend == "jax":
        import jax

        return jax.jit(evaluate)
    if backend == "torch":
        import torch

        def no_grad_eval(params, state, x, idx):
            with torch.no_grad():
                return evaluate(params, state, x, idx)

        return no_grad_eval
    return evaluate
