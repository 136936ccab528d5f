"""Score heads: the 1-10 rating scale AVA voters used, learned from rating distributions.

Beside the binary head (P(aesthetic)), the FC body of :func:`aesthetic.classifier.build_fc`
can end in

- a **distribution head** (``head="distribution"``): ten softmax outputs, the predicted share of
  votes for ratings 1..10, trained with the Earth Mover's Distance loss (:func:`emd_loss`), as NIMA;
- a **mean head** (``head="mean"``): one linear output, the mean rating, trained with the Huber
  loss (quadratic within one rating point of the human mean, linear beyond).

Both give a mean score on 1..10 (a distribution also gives its standard deviation). Every
command that takes a bundle still needs P(aesthetic) and a decision; a :class:`ScoreRule`
stored in the bundle derives them from the mean score::

    P(aesthetic) = sigmoid((mean - threshold) / scale)      threshold 5.0, scale 0.5 by default

so P >= 0.5 exactly when mean >= threshold (AVA's "mean above 5" rule, inclusive at 5.0), and
one rating point above the threshold gives P = 0.88 (scale 0.5). The matching logit
``(mean - threshold) / scale`` is what a binary student distils from a score teacher.

Training rows that are degraded copies of an image (blurred, over-compressed, ...) and labelled
"not aesthetic" need a score target too: :func:`low_score_distribution` (and its mean,
:func:`low_score_mean`) is that target; :func:`score_targets` applies it to rows flagged as
degraded.

This module is the score-head part of the classifier capability (issue #12 layout:
``aesthetic.classifier``); it builds on :mod:`aesthetic.classifier` and :mod:`aesthetic.data`.
"""

from __future__ import annotations

import logging
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic.classifier.fc import (FCConfig, FCResult, build_fc, fit_keras, predict_batched,
                                     standardization_stats, stratified_group_split)
from aesthetic.metrics import validation_summary
from aesthetic.data import N_BINS, LabelTable, labels_from_scores, mean_from_distribution

log = logging.getLogger(__name__)

Head = Literal["binary", "distribution", "mean"]
ScoreTarget = Literal["distribution", "mean"]
RATINGS = np.arange(1, N_BINS + 1, dtype=np.float64)
#: Centre and spread (in rating points) of the low-score target of degraded copies.
LOW_SCORE_CENTRE, LOW_SCORE_SPREAD = 2.5, 1.0


class ScoreRule(BaseModel):
    """How a mean score (1-10) becomes P(aesthetic) and a decision; saved in score bundles.

    ``P = sigmoid((mean - threshold) / scale)``; aesthetic when ``P >= 0.5``, i.e.
    ``mean >= threshold``.
    """

    model_config = ConfigDict(frozen=True)
    threshold: float = Field(5.0, ge=1.0, le=10.0)
    scale: float = Field(0.5, gt=0.0)

    def logit(self, mean_score: np.ndarray) -> np.ndarray:
        return (np.asarray(mean_score, np.float64) - self.threshold) / self.scale

    def probability(self, mean_score: np.ndarray) -> np.ndarray:
        """``(n,)`` float32 P(aesthetic) of ``(n,)`` mean scores."""
        return (1.0 / (1.0 + np.exp(-self.logit(mean_score)))).astype(np.float32)

    def describe(self) -> str:
        return (f"P(aesthetic) = sigmoid((mean score - {self.threshold:g}) / {self.scale:g}); "
                f"aesthetic when mean score >= {self.threshold:g}")


# --------------------------------------------------------------------------- distributions

def normalize_distribution(counts: np.ndarray | Sequence[float]) -> np.ndarray:
    """Vote counts or probabilities ``(n, 10)`` (or ``(10,)``) -> rows summing to 1, float64.

    Rows of NaN stay NaN (no human distribution); a row of zeros or negatives is an error.
    """
    arr = np.asarray(counts, dtype=np.float64)
    if arr.shape[-1] != N_BINS:
        raise ValueError(f"a rating distribution needs {N_BINS} bins, got shape {arr.shape}")
    missing = np.isnan(arr).any(axis=-1)
    body = np.where(missing[..., None], 1.0, arr)
    totals = body.sum(axis=-1, keepdims=True)
    if np.any(body < 0) or np.any(totals <= 0):
        raise ValueError("rating distributions must be non-negative with at least one vote")
    out = body / totals
    out[missing] = np.nan
    return out


def distribution_mean(distribution: np.ndarray) -> np.ndarray:
    """Mean rating ``sum(i * p_i)`` of ``(n, 10)`` distributions (or counts); ``(n,)`` float64."""
    return np.atleast_1d(mean_from_distribution(np.atleast_2d(distribution)))


def distribution_std(distribution: np.ndarray) -> np.ndarray:
    """Standard deviation of the rating, ``sqrt(sum p_i (i - mean)^2)``, of ``(n, 10)``; ``(n,)``."""
    p = normalize_distribution(np.atleast_2d(distribution))
    mean = p @ RATINGS
    return np.sqrt(np.maximum(p @ RATINGS ** 2 - mean ** 2, 0.0))


def low_score_distribution(centre: float = LOW_SCORE_CENTRE, spread: float = LOW_SCORE_SPREAD) -> np.ndarray:
    """``(10,)`` target distribution for a degraded copy labelled "not aesthetic".

    A discretised Gaussian over ratings 1..10 centred on ``centre`` (2.5: the votes of a
    clearly failed photo sit on 2 and 3) with standard deviation ``spread`` rating points,
    normalised to sum 1. Its mean is about 2.6 (the Gaussian is cut at rating 1). Use it as the
    ``distribution`` target, or :func:`low_score_mean` as the ``mean`` target, of every
    degraded training copy, so the score head learns that degradation lowers the score.
    """
    if not 1.0 <= centre <= 10.0 or spread <= 0:
        raise ValueError(f"centre must be in 1..10 and spread > 0, got {centre} and {spread}")
    weights = np.exp(-0.5 * ((RATINGS - centre) / spread) ** 2)
    return weights / weights.sum()


def low_score_mean(centre: float = LOW_SCORE_CENTRE, spread: float = LOW_SCORE_SPREAD) -> float:
    """The mean score of :func:`low_score_distribution` (the ``mean`` target of degraded copies)."""
    return float(low_score_distribution(centre, spread) @ RATINGS)


def score_targets(table: LabelTable, ids: Sequence[str], target: ScoreTarget,
                  degraded: np.ndarray | None = None) -> np.ndarray:
    """Training targets of ``ids`` from a label table: ``(n, 10)`` distributions or ``(n,)`` means.

    NaN where the table has no score for an id. Rows flagged in ``degraded`` (``(n,)`` bool)
    get :func:`low_score_distribution` / :func:`low_score_mean` whatever their source's score.
    """
    if target == "distribution":
        out = table.lookup_distributions(ids)
        if degraded is not None:
            out[np.asarray(degraded, bool)] = low_score_distribution()
    elif target == "mean":
        out = table.lookup_scores(ids).astype(np.float64)
        if degraded is not None:
            out[np.asarray(degraded, bool)] = low_score_mean()
    else:
        raise ValueError(f"score target must be 'distribution' or 'mean', not {target!r}")
    return out


def target_means(targets: np.ndarray) -> np.ndarray:
    """``(n,)`` mean scores of ``(n, 10)`` distribution targets or ``(n,)`` mean targets (NaN kept)."""
    t = np.asarray(targets, np.float64)
    if t.ndim == 1:
        return t
    p = normalize_distribution(t)
    return p @ RATINGS


# --------------------------------------------------------------------------- losses (keras.ops, any backend)

def emd_loss(y_true, y_pred, r: float = 2.0):
    """Per-row Earth Mover's Distance ``(n,)`` between ``(n, 10)`` rating distributions.

    ``EMD = (mean over bins k of |CDF_true(k) - CDF_pred(k)|^r)^(1/r)`` with r = 2 (NIMA's
    choice). Neighbouring ratings are close: predicting 6 for a 7 costs less than predicting 1.
    ``y_true`` may be counts; it is normalised per row.
    """
    from keras import ops

    t = ops.cast(y_true, "float32")
    p = ops.cast(y_pred, "float32")
    t = t / ops.maximum(ops.sum(t, axis=-1, keepdims=True), 1e-12)
    diff = ops.abs(ops.cumsum(t, axis=-1) - ops.cumsum(p, axis=-1))
    return ops.power(ops.mean(ops.power(diff, r), axis=-1) + 1e-12, 1.0 / r)


def huber(y_true, y_pred, delta: float = 1.0):
    """Per-row Huber loss ``(n,)`` of ``(n,)``/``(n, 1)`` mean scores (``delta`` in rating points)."""
    from keras import ops

    err = ops.abs(ops.reshape(ops.cast(y_pred, "float32"), (-1,)) - ops.reshape(ops.cast(y_true, "float32"), (-1,)))
    quad = ops.minimum(err, delta)
    return 0.5 * quad ** 2 + delta * (err - quad)


def _target_loss(target: ScoreTarget, y_true, y_pred):
    return emd_loss(y_true, y_pred) if target == "distribution" else huber(y_true, y_pred)


def score_distillation_loss(packed, y_pred, target: ScoreTarget, alpha: float):
    """Per-row distillation loss towards a score teacher ``(n,)``.

    ``packed`` is :func:`pack_score_targets`' ``[human target | teacher output]``. Rows with a
    human target: ``alpha * L(human) + (1 - alpha) * L(teacher)``; rows without: ``L(teacher)``.
    ``L`` is the EMD (distribution) or Huber (mean) loss. No temperature: a teacher's rating
    distribution is already soft.
    """
    from keras import ops

    width = N_BINS if target == "distribution" else 1
    human, teacher = packed[:, :width], packed[:, width:]
    has_human = ops.logical_not(ops.isnan(human[:, 0]))
    human = ops.where(ops.expand_dims(has_human, -1), human, teacher)
    if target == "mean":
        human, teacher = human[:, 0], teacher[:, 0]
    hard = _target_loss(target, human, y_pred)
    soft = _target_loss(target, teacher, y_pred)
    return ops.where(has_human, alpha * hard + (1.0 - alpha) * soft, soft)


def pack_score_targets(human: np.ndarray, teacher: np.ndarray, target: ScoreTarget) -> np.ndarray:
    """``(n, 20)`` (distribution) or ``(n, 2)`` (mean) float32 ``[human | teacher]``; human NaN = none."""
    width = N_BINS if target == "distribution" else 1
    h = np.asarray(human, np.float32).reshape(len(human), -1)
    t = np.asarray(teacher, np.float32).reshape(len(teacher), -1)
    if h.shape != t.shape or h.shape[1] != width:
        raise ValueError(f"human targets {h.shape} and teacher outputs {t.shape} must both be (n, {width})")
    if target == "distribution":
        h = np.where(np.isnan(h).any(axis=1, keepdims=True), np.nan, normalize_distribution(h)).astype(np.float32)
    return np.concatenate([h, t], axis=1)


def make_score_loss(target: ScoreTarget, alpha: float | None = None):
    """A Keras loss for a score head: EMD or Huber, or with ``alpha`` the distillation loss."""
    import keras

    class ScoreLoss(keras.losses.Loss):
        def __init__(self, target: str = target, alpha: float | None = alpha, name: str = f"score_{target}"):
            super().__init__(name=name)
            self.target, self.alpha = target, alpha

        def call(self, y_true, y_pred):
            if self.alpha is None:
                return _target_loss(self.target, y_true, y_pred)
            return score_distillation_loss(y_true, y_pred, self.target, self.alpha)

        def get_config(self):
            return {"target": self.target, "alpha": self.alpha, "name": self.name}

    return ScoreLoss()


# --------------------------------------------------------------------------- evaluation

def score_outputs(raw: np.ndarray, head: Head, rule: ScoreRule | None = None) -> dict[str, np.ndarray]:
    """Raw network outputs -> ``p_aesthetic``, ``mean_score``, ``score_std`` and ``logit``, each ``(n,)``.

    ``raw`` is ``(n,)`` P for the binary head (mean/std NaN), ``(n, 10)`` for the distribution
    head, ``(n,)`` mean scores for the mean head (std NaN).
    """
    out = np.asarray(raw, np.float64)
    if head == "binary":
        p = out.reshape(-1)
        nan = np.full(len(p), np.nan)
        with np.errstate(divide="ignore"):
            logit = np.log(p) - np.log1p(-p)
        return {"p_aesthetic": p.astype(np.float32), "mean_score": nan, "score_std": nan, "logit": logit}
    rule = rule or ScoreRule()
    if head == "distribution":
        out = out.reshape(-1, N_BINS)
        mean, std = (distribution_mean(out), distribution_std(out)) if len(out) else (np.zeros(0), np.zeros(0))
    elif head == "mean":
        mean = out.reshape(-1)
        std = np.full(len(mean), np.nan)
    else:
        raise ValueError(f"unknown head {head!r} (expected binary, distribution or mean)")
    return {"p_aesthetic": rule.probability(mean), "mean_score": mean, "score_std": std, "logit": rule.logit(mean)}


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (scipy); NaN with fewer than 3 rows or a constant vector."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def score_metrics(predicted_means: np.ndarray, human_means: np.ndarray, rule: ScoreRule,
                  predicted_dist: np.ndarray | None = None, human_dist: np.ndarray | None = None
                  ) -> dict[str, float]:
    """Validation numbers of a score head: SRCC/PLCC with the human means, MAE (rating points),
    mean EMD (distribution head), and the binary metrics of ``P >= 0.5`` against ``human > threshold``."""
    from scipy.stats import pearsonr

    pred, human = np.asarray(predicted_means, np.float64), np.asarray(human_means, np.float64)
    metrics: dict[str, float] = {}
    y = labels_from_scores(human, rule.threshold)
    metrics.update(validation_summary(y, rule.probability(pred), 0.5))
    metrics["srcc"] = rank_correlation(pred, human)
    metrics["plcc"] = (float(pearsonr(pred, human).statistic)
                       if len(pred) >= 3 and np.ptp(pred) > 0 and np.ptp(human) > 0 else float("nan"))
    metrics["mae"] = float(np.mean(np.abs(pred - human))) if len(pred) else float("nan")
    if predicted_dist is not None and human_dist is not None and len(pred):
        metrics["emd"] = float(np.mean(np.asarray(emd_loss(human_dist, predicted_dist))))
    return metrics


# --------------------------------------------------------------------------- training

def _check_targets(x: np.ndarray, targets: np.ndarray, target: ScoreTarget) -> np.ndarray:
    t = np.asarray(targets, np.float64)
    want = (len(x), N_BINS) if target == "distribution" else (len(x),)
    if t.shape != want:
        raise ValueError(f"{target} targets must have shape {want}, got {t.shape}")
    if np.isnan(t).any():
        raise ValueError(f"every training row needs a {target} target (drop rows without a human score first)")
    if target == "distribution":
        return normalize_distribution(t)
    if t.min() < 1.0 or t.max() > 10.0:
        raise ValueError(f"mean scores must lie on the 1-10 scale, got range [{t.min():.3g}, {t.max():.3g}]")
    return t


def train_score_head(features: np.ndarray, targets: np.ndarray, groups: Sequence[str] | None = None,
                     config: FCConfig = FCConfig(), target: ScoreTarget = "distribution",
                     rule: ScoreRule = ScoreRule()) -> FCResult:
    """Train the FC body with a score head on ``features (n, d)``.

    ``targets``: ``(n, 10)`` rating distributions (counts or probabilities) for
    ``target="distribution"`` (EMD loss), ``(n,)`` mean scores 1..10 for ``"mean"`` (Huber loss).
    The split is grouped by source image and stratified by ``mean > rule.threshold``; early
    stopping on the validation loss restores the best epoch, as for the binary head. Rows are
    not re-weighted (``config.class_weight`` applies to the binary head only). The threshold
    is 0.5 on the derived P, i.e. ``mean >= rule.threshold``.
    """
    import keras

    x = np.asarray(features, np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be (n, d), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    t = _check_targets(x, targets, target)
    means = target_means(t)
    keras.utils.set_random_seed(config.seed)
    tr, va = stratified_group_split(labels_from_scores(means, rule.threshold), groups,
                                    config.validation_fraction, config.seed)
    mean, var = standardization_stats(x[tr])
    model = build_fc(x.shape[1], config.hidden, config.dropout, config.l2, mean, var, config.seed, head=target)
    y = t.astype(np.float32)
    history = fit_keras(model, x[tr], y[tr], x_val=x[va], y_val=y[va], loss=make_score_loss(target),
                        learning_rate=config.learning_rate, batch_size=config.batch_size, epochs=config.epochs,
                        patience=config.patience, description=f"training {target} head")
    raw = predict_batched(model, x[va])
    outputs = score_outputs(raw, target, rule)
    metrics = score_metrics(outputs["mean_score"], means[va], rule,
                            raw if target == "distribution" else None, t[va] if target == "distribution" else None)
    metrics["epochs_run"] = len(history.get("loss", []))
    log.info("%s head trained on %d rows, validated on %d: SRCC %.3f, MAE %.3f", target, len(tr), len(va),
             metrics["srcc"], metrics["mae"])
    return FCResult(model, 0.5, metrics, history, tr, va, config)
