"""Knowledge distillation from a teacher (the FC on all features, or an ensemble) to smaller students.

Binary knowledge distillation on logits. With student logit ``z_s``, teacher logit ``z_t``,
hard label ``y`` in {0, 1}, temperature ``T`` and weight ``alpha``, the per-row loss is::

    L = alpha * BCE(y, sigmoid(z_s)) + (1 - alpha) * T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T))

    BCE(q, p) = -(q * log(p) + (1 - q) * log(1 - p))

(computed from logits, so it is stable for large |z|). ``T^2`` keeps the soft term's gradient
on the same scale as the hard term's when ``T`` changes (Hinton et al., 2015). Rows without a
hard label (NaN) contribute the soft term only. The soft BCE differs from the KL divergence
only by the teacher's entropy, a constant, so the gradients are the same.

Keras models see the targets packed as ``y_true = [[y, z_t], ...]`` ``(n, 2)`` and predict
``z_s`` ``(n, 1)``; :class:`DistillationLoss` unpacks them.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from pydantic import Field

from aesthetic.classifier.fc import (FCConfig, FCResult, build_fc, choose_threshold,
                                  fit_keras, logit_model, predict_batched, row_weights,
                                  standardization_stats, stratified_group_split)
from aesthetic.classifier.scores import (ScoreRule, make_score_loss, pack_score_targets, rank_correlation,
                                         score_metrics, score_outputs, target_means)
from aesthetic.metrics import validation_summary

log = logging.getLogger(__name__)


class DistillConfig(FCConfig):
    """Temperature and alpha on top of the student FC's shape/training (FCConfig's fields,
    with a smaller default net); saved with the student bundle."""

    temperature: float = Field(4.0, gt=0.0)
    alpha: float = Field(0.3, ge=0.0, le=1.0)
    hidden: tuple[int, ...] = (128, 32, 8)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)

    def fc_config(self) -> FCConfig:
        """The student's FC settings in the teacher's vocabulary (stored in the student bundle)."""
        return FCConfig(**{k: getattr(self, k) for k in FCConfig.model_fields})


def _bce_with_logits(target, logits):
    """Elementwise BCE(target, sigmoid(logits)) = max(z, 0) - z * q + log(1 + exp(-|z|))."""
    from keras import ops

    return ops.maximum(logits, 0.0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))


def distillation_loss(labels, student_logits, teacher_logits, temperature: float, alpha: float):
    """Per-row KD loss ``(n,)`` (see the module docstring); ``labels`` NaN means "no hard label"."""
    from keras import ops

    y = ops.reshape(ops.cast(labels, "float32"), (-1,))
    z_s = ops.reshape(ops.cast(student_logits, "float32"), (-1,))
    z_t = ops.reshape(ops.cast(teacher_logits, "float32"), (-1,))
    has_label = ops.logical_not(ops.isnan(y))
    hard = ops.where(has_label, _bce_with_logits(ops.where(has_label, y, 0.0), z_s), 0.0)
    soft = _bce_with_logits(ops.sigmoid(z_t / temperature), z_s / temperature)
    hard_weight = ops.where(has_label, alpha, 0.0)
    soft_weight = ops.where(has_label, 1.0 - alpha, 1.0) * temperature ** 2
    return hard_weight * hard + soft_weight * soft


def pack_targets(labels: np.ndarray, teacher_logits: np.ndarray) -> np.ndarray:
    """``(n, 2)`` float32 ``[label (NaN = none), teacher logit]`` for :class:`DistillationLoss`."""
    y = np.asarray(labels, np.float32).reshape(-1)
    z = np.asarray(teacher_logits, np.float32).reshape(-1)
    if len(y) != len(z):
        raise ValueError(f"{len(y)} labels but {len(z)} teacher logits")
    return np.stack([y, z], axis=1)


def make_distillation_loss(temperature: float, alpha: float):
    """A Keras loss over packed targets (see :func:`pack_targets`) and student logits."""
    import keras

    class DistillationLoss(keras.losses.Loss):
        def __init__(self, temperature: float = temperature, alpha: float = alpha, name: str = "distillation"):
            super().__init__(name=name)
            self.temperature, self.alpha = float(temperature), float(alpha)

        def call(self, y_true, y_pred):
            return distillation_loss(y_true[:, 0], y_pred, y_true[:, 1], self.temperature, self.alpha)

        def get_config(self):
            return {"temperature": self.temperature, "alpha": self.alpha, "name": self.name}

    return DistillationLoss()


def ensemble_logits(logits: Sequence[np.ndarray]) -> np.ndarray:
    """Teacher logits of an ensemble: the mean of its members' logits ``(n,)``."""
    stack = np.stack([np.asarray(z, np.float32).reshape(-1) for z in logits])
    return stack.mean(axis=0)


def agreement(p_a: np.ndarray, t_a: float, p_b: np.ndarray, t_b: float) -> float:
    """Fraction of rows where two models, each at its own threshold, make the same decision."""
    return float(np.mean((np.asarray(p_a) >= t_a) == (np.asarray(p_b) >= t_b))) if len(p_a) else float("nan")


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two score vectors; NaN when either is constant or has < 2 rows."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def distill_fc(features: np.ndarray, labels: np.ndarray, teacher_logits: np.ndarray,
               groups: Sequence[str] | None = None, config: DistillConfig = DistillConfig(),
               teacher_threshold: float = 0.5) -> FCResult:
    """Train a smaller FC on ``features (n, d)`` (the selected features) to match ``teacher_logits (n,)``.

    ``labels (n,)`` are 0/1 or NaN (unlabelled rows still teach through the soft term). The
    threshold is chosen on the validation rows' hard labels (``config.threshold_metric``); with
    no labelled validation rows of both classes, the teacher's threshold is kept. The returned
    metrics add ``agreement`` (same decision as the teacher) and ``teacher_correlation``.
    """
    import keras

    x = np.asarray(features, np.float32)
    y = np.asarray(labels, np.float32).reshape(-1)
    z_t = np.asarray(teacher_logits, np.float32).reshape(-1)
    if x.ndim != 2 or not (len(x) == len(y) == len(z_t)):
        raise ValueError(f"features {x.shape}, labels {y.shape} and teacher logits {z_t.shape} disagree")
    keras.utils.set_random_seed(config.seed)
    teacher_pred = (1.0 / (1.0 + np.exp(-z_t)) >= teacher_threshold).astype(int)
    split_on = np.where(np.isnan(y), teacher_pred, y)  # stratify by the label, or the teacher's call
    tr, va = stratified_group_split(split_on, groups, config.validation_fraction, config.seed)
    mean, var = standardization_stats(x[tr])
    student = build_fc(x.shape[1], config.hidden, config.dropout, config.l2, mean, var, config.seed,
                       name="student_fc")
    weights = row_weights(split_on, config.class_weight)
    history = fit_keras(
        logit_model(student), x[tr], pack_targets(y[tr], z_t[tr]),
        x_val=x[va], y_val=pack_targets(y[va], z_t[va]), sample_weight=weights[tr], val_weight=weights[va],
        loss=make_distillation_loss(config.temperature, config.alpha),
        learning_rate=config.learning_rate, batch_size=config.batch_size, epochs=config.epochs,
        patience=config.patience, description="distilling FC")
    p_val = predict_batched(student, x[va])
    labelled = ~np.isnan(y[va])
    if len(np.unique(y[va][labelled])) == 2:
        threshold = choose_threshold(y[va][labelled], p_val[labelled], config.threshold_metric)
        metrics = validation_summary(y[va][labelled], p_val[labelled], threshold)
    else:
        threshold, metrics = float(teacher_threshold), {}
    p_teacher = 1.0 / (1.0 + np.exp(-z_t[va]))
    metrics["agreement"] = agreement(p_val, threshold, p_teacher, teacher_threshold)
    metrics["teacher_correlation"] = correlation(p_val, p_teacher)
    metrics["epochs_run"] = len(history.get("loss", []))
    log.info("student FC: agreement with teacher %.3f on %d validation rows", metrics["agreement"], len(va))
    return FCResult(student, threshold, metrics, history, tr, va, config.fc_config())


def distill_score_fc(features: np.ndarray, human_targets: np.ndarray, teacher_outputs: np.ndarray,
                     groups: Sequence[str] | None = None, config: DistillConfig = DistillConfig(),
                     target: str = "distribution", rule=None) -> FCResult:
    """Distil a score teacher into a smaller FC with the same head (:mod:`aesthetic.classifier.scores`).

    ``teacher_outputs``: ``(n, 10)`` rating distributions (the soft targets) or ``(n,)`` mean
    scores; ``human_targets`` the same shape, NaN rows where no human score is known (those
    rows learn from the teacher only). Per row the loss is ``alpha * L(human) + (1 - alpha) *
    L(teacher)`` with L the EMD (distribution) or Huber (mean) loss; ``config.temperature``
    does not apply (a rating distribution is already soft). The threshold stays 0.5 on P
    derived by ``rule``. Metrics add ``teacher_srcc`` and ``agreement`` (same decision as the
    teacher) on the validation rows, and the human-score metrics where there are any.
    """
    import keras

    rule = rule or ScoreRule()
    x = np.asarray(features, np.float32)
    teacher = np.asarray(teacher_outputs, np.float64)
    human = np.asarray(human_targets, np.float64)
    if x.ndim != 2 or not (len(x) == len(teacher) == len(human)):
        raise ValueError(f"features {x.shape}, human targets {human.shape} and teacher outputs {teacher.shape} disagree")
    keras.utils.set_random_seed(config.seed)
    teacher_means = target_means(teacher)
    human_means = target_means(human)
    split_on = (np.where(np.isnan(human_means), teacher_means, human_means) > rule.threshold).astype(int)
    tr, va = stratified_group_split(split_on, groups, config.validation_fraction, config.seed)
    mean, var = standardization_stats(x[tr])
    student = build_fc(x.shape[1], config.hidden, config.dropout, config.l2, mean, var, config.seed,
                       name="student_fc", head=target)
    packed = pack_score_targets(human.reshape(len(x), -1), teacher.reshape(len(x), -1), target)
    history = fit_keras(student, x[tr], packed[tr], x_val=x[va], y_val=packed[va],
                        loss=make_score_loss(target, alpha=config.alpha), learning_rate=config.learning_rate,
                        batch_size=config.batch_size, epochs=config.epochs, patience=config.patience,
                        description=f"distilling {target} FC")
    pred = score_outputs(predict_batched(student, x[va]), target, rule)
    rated = ~np.isnan(human_means[va])
    metrics: dict = score_metrics(pred["mean_score"][rated], human_means[va][rated], rule) if rated.sum() >= 3 else {}
    metrics["teacher_srcc"] = rank_correlation(pred["mean_score"], teacher_means[va])
    metrics["teacher_correlation"] = correlation(pred["mean_score"], teacher_means[va])
    metrics["agreement"] = agreement(pred["mean_score"], rule.threshold, teacher_means[va], rule.threshold)
    metrics["epochs_run"] = len(history.get("loss", []))
    log.info("student %s FC: SRCC with teacher %.3f on %d validation rows", target, metrics["teacher_srcc"], len(va))
    return FCResult(student, 0.5, metrics, history, tr, va, config.fc_config())
