"""The GA's population model on TensorFlow: traced graphs and one fused Adam kernel per variable.

The default backend's fast path (see :mod:`.population` for what it shares with the
backend-neutral :mod:`.population_ops`). Dropout masks come from stateless TF random ops keyed
by ``(seed, generation, group, step)``, so a resumed GA run scores exactly as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np

from .population import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, BN_EPSILON, PopulationBase


class PopulationFC(PopulationBase):
    """``P`` FC classifiers over ``k`` of ``n_features`` fused columns, stacked and trained together.

    Build once per group size, then :meth:`reset` to new individuals and train again: the
    traced TensorFlow graphs are reused across groups and generations.
    """

    def __init__(self, P: int, k: int, n_features: int, spec):
        import tensorflow as tf

        super().__init__(P, k, n_features, spec)
        self.tf = tf
        #: the matmuls' dtype as a TensorFlow dtype (mixed under bf16: float32 variables, batch norm and loss)
        self.compute = tf.as_dtype(self.compute_dtype)
        var = lambda shape, name, trainable=True: tf.Variable(  # noqa: E731
            tf.zeros(shape, tf.float32), name=name, trainable=trainable)
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.kernels = [var((P, a, b), f"kernel{i}") for i, (a, b) in enumerate(pairs)]
        self.bias = var((P, 1, 1), "bias")  # of the output unit; hidden layers have none (batch norm follows)
        self.gammas = [var((P, n, 1), f"gamma{i}") for i, n in enumerate(spec.hidden)]
        self.betas = [var((P, n, 1), f"beta{i}") for i, n in enumerate(spec.hidden)]
        self.moving_mean = [var((P, n, 1), f"moving_mean{i}", False) for i, n in enumerate(spec.hidden)]
        self.moving_var = [var((P, n, 1), f"moving_var{i}", False) for i, n in enumerate(spec.hidden)]
        self.trainable = self.kernels + [self.bias] + self.gammas + self.betas
        self.adam_m = [var(t.shape, f"adam_m{i}", False) for i, t in enumerate(self.trainable)]
        self.adam_v = [var(t.shape, f"adam_v{i}", False) for i, t in enumerate(self.trainable)]
        self.step_count = tf.Variable(0.0, trainable=False)
        self.idx = tf.Variable(tf.zeros((P, k), tf.int64), trainable=False)
        x_spec = tf.TensorSpec([None, n_features], tf.float32)
        self._train_graph = tf.function(self._train_step_impl, input_signature=[
            x_spec, tf.TensorSpec([None], tf.float32), tf.TensorSpec([2], tf.int32)])
        self._logits_eval = tf.function(lambda x: self._forward(x, False, None), input_signature=[x_spec])

    def _load(self, kernels: list[np.ndarray], indices: np.ndarray) -> None:
        for v, value in zip(self.kernels, kernels):
            v.assign(value)
        for group_vars, fill in (([self.bias], 0.0), (self.gammas, 1.0), (self.betas, 0.0),
                                 (self.moving_mean, 0.0), (self.moving_var, 1.0),
                                 (self.adam_m, 0.0), (self.adam_v, 0.0)):
            for v in group_vars:
                v.assign(self.tf.fill(v.shape, fill))
        self.step_count.assign(0.0)
        self.idx.assign(indices)

    # Activations are laid out (P, units, batch): the gather lands there directly and every
    # layer is one batched matmul with no transposes of the large input tensor.
    def _forward(self, x, training: bool, dropout_seed):
        tf, spec, cd = self.tf, self.spec, self.compute
        h = tf.gather(tf.transpose(tf.cast(x, cd)), self.idx)  # (P, k, b)
        for layer in range(len(spec.hidden)):
            h = tf.cast(tf.linalg.matmul(tf.cast(self.kernels[layer], cd), tf.cast(h, cd), transpose_a=True),
                        tf.float32)
            if training:
                mean, var = tf.nn.moments(h, axes=[2], keepdims=True)
                m = spec.bn_momentum
                self.moving_mean[layer].assign(self.moving_mean[layer] * m + mean * (1 - m))
                self.moving_var[layer].assign(self.moving_var[layer] * m + var * (1 - m))
            else:
                mean, var = self.moving_mean[layer], self.moving_var[layer]
            h = (h - mean) * tf.math.rsqrt(var + BN_EPSILON) * self.gammas[layer] + self.betas[layer]
            h = tf.nn.relu(h)
            if training and spec.dropout > 0:
                keep = tf.random.stateless_uniform(tf.shape(h), seed=dropout_seed + [layer, 0]) >= spec.dropout
                h = tf.where(keep, h / (1.0 - spec.dropout), tf.zeros_like(h))
        logits = tf.cast(tf.linalg.matmul(tf.cast(self.kernels[-1], cd), tf.cast(h, cd), transpose_a=True),
                         tf.float32) + self.bias  # (P, 1, b)
        return logits[:, 0, :]

    def _train_step_impl(self, x, y, dropout_seed):
        tf, spec = self.tf, self.spec
        with tf.GradientTape() as tape:
            logits = self._forward(x, True, dropout_seed)
            labels = tf.broadcast_to(y[None, :], tf.shape(logits))
            per_individual = tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=1)
            loss = tf.reduce_sum(per_individual)
            if spec.l2:  # as keras.regularizers.L2 on each hidden kernel: l2 * sum(w^2), per individual
                loss += spec.l2 * tf.add_n([tf.reduce_sum(tf.square(w)) for w in self.kernels[:-1]])
        grads = tape.gradient(loss, self.trainable)
        # Adam as keras.optimizers.Adam (beta 0.9 / 0.999, epsilon 1e-7), one fused kernel per
        # variable: unfused elementwise updates of 32M parameters would cost more than the matmuls.
        self.step_count.assign_add(1.0)
        b1, b2 = tf.constant(ADAM_BETA1), tf.constant(ADAM_BETA2)
        for var, g, m, s in zip(self.trainable, grads, self.adam_m, self.adam_v):
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=m.handle, v=s.handle, beta1_power=b1 ** self.step_count,
                beta2_power=b2 ** self.step_count, lr=tf.constant(spec.learning_rate, tf.float32),
                beta1=b1, beta2=b2, epsilon=tf.constant(ADAM_EPSILON), grad=g)
        return per_individual

    def _train_step(self, x: np.ndarray, y: np.ndarray, dropout_seed: tuple[int, int]) -> None:
        tf = self.tf
        self._train_graph(tf.constant(x), tf.constant(y), tf.constant(list(dropout_seed), dtype=tf.int32))

    def logits(self, X: np.ndarray) -> np.ndarray:
        """``(P, n)`` logits for a fused batch ``X (n, n_features)`` (inference mode)."""
        return self._logits_eval(self.tf.constant(np.asarray(X, dtype=np.float32))).numpy()
