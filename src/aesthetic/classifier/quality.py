"""Two heads: what a photo shows (the aesthetic head) times whether it was spoiled (the quality head).

Mixing degraded copies of the *aesthetic* photos into one classifier as "not aesthetic" teaches it
two things at once, and the second spoils the first: a degradation becomes evidence about the class,
so the aesthetic/not boundary between clean photos moves (balanced accuracy on the shared suite fell
from 0.85 to 0.71). The two_heads design keeps them apart:

- the **aesthetic head** is the usual FC (:func:`aesthetic.classifier.fc.train_fc`, Platt calibration
  and all) on the clean rows only: the photos, their square/portrait crops and their mirrors, each
  with its own label;
- the **quality head** is an FC of the same family on every row, target 1 for a clean row and 0 for a
  degraded copy (of photos of *both* classes, so the degradation cannot stand for the class) or a
  synthetic near-empty frame: P(clean). Clean and degraded rows weigh the same within each source
  class (:func:`source_classes`), so the content of a class cannot predict "degraded" either.

``P(aesthetic) = P_aesthetic_head * P_clean``, a spoiled photo is aesthetic only if it is both. The
decision threshold is chosen on out-of-fold scores of the product over the real photos (each head's
k-fold keeps a source and its copies in one fold), so it is set for the model that ships.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from aesthetic.classifier.fc import (FCConfig, FCResult, _fit_one, _mean_epochs, apply_calibration,
                                     choose_threshold, cross_fit, ensemble_fc, predict_batched, row_weights,
                                     sigmoid, train_fc, usable_folds)
from aesthetic.metrics import expected_calibration_error, validation_summary

log = logging.getLogger(__name__)

QUALITY_SEED_OFFSET = 1000


def combine(p_aesthetic: np.ndarray, p_clean: np.ndarray) -> np.ndarray:
    """The two heads' P(aesthetic) ``(n,)`` float32: the aesthetic head's (calibrated) P times P(clean)."""
    a = np.asarray(p_aesthetic, dtype=np.float64)
    q = np.asarray(p_clean, dtype=np.float64)
    if a.shape != q.shape:
        raise ValueError(f"the heads disagree on the number of rows: {a.shape} and {q.shape}")
    return (a * q).astype(np.float32)


def source_classes(labels: np.ndarray, groups: np.ndarray | None, real: np.ndarray) -> np.ndarray:
    """The class of each row's source photo ``(n,)`` (a synthetic frame, which has none, counts as 0).

    The quality head weights clean and degraded rows equally *within* each source class: aesthetic
    photos get more degraded copies than the others, and without this the head learns "wallpaper-like
    content means degraded" (on the shared suite it called a quarter of the clean aesthetic test photos
    spoiled, P(clean) < 0.05)."""
    y = np.asarray(labels, dtype=np.float32)
    if groups is None:
        return np.where(np.asarray(real, bool), y, 0.0).astype(np.float32)
    g = np.asarray(groups, dtype=object)
    of_source = {gi: yi for gi, yi, r in zip(g, y, real) if r}
    return np.array([of_source.get(gi, 0.0) for gi in g], dtype=np.float32)


@dataclass
class TwoHeadResult(FCResult):
    """:class:`FCResult` of the aesthetic head (its ``model``, ``calibration``), plus the quality head;
    ``threshold`` and ``metrics`` are those of the combined P on the real photos."""

    quality_model: Any = None
    quality_history: dict[str, list[float]] = field(default_factory=dict)
    #: Out-of-fold quality logits of every row (NaN where a row was in no fold), when folds were used.
    quality_oof_logits: np.ndarray | None = None


def _quality_summary(clean: np.ndarray, p_clean: np.ndarray) -> dict[str, float]:
    """How well P(clean) separates the clean rows from the degraded ones (held-out scores)."""
    from sklearn.metrics import roc_auc_score

    c = np.asarray(clean, bool)
    return {"quality_auc": float(roc_auc_score(c.astype(int), p_clean)),
            "quality_degraded_below_half": float(np.mean(p_clean[~c] < 0.5)),
            "quality_clean_above_half": float(np.mean(p_clean[c] >= 0.5))}


def train_two_heads(features: np.ndarray, labels: np.ndarray, groups: Sequence[str] | None, clean: np.ndarray,
                    real: np.ndarray, config: FCConfig = FCConfig()) -> TwoHeadResult:
    """Train both heads on ``features (n, d)``; see the module docstring.

    ``labels (n,)``: 0/1 aesthetic labels (a degraded copy's label is not used); ``clean (n,)`` bool:
    the rows the aesthetic head learns from and the quality head calls clean; ``real (n,)`` bool: the
    store's own photos, on which the threshold is chosen and the metrics computed (a subset of
    ``clean``). ``groups`` keeps a source and its copies on one side of every split.
    """
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=np.float32)
    clean, real = np.asarray(clean, bool), np.asarray(real, bool)
    if clean.shape != y.shape or real.shape != y.shape:
        raise ValueError(f"clean and real must be ({len(y)},) boolean masks; got {clean.shape} and {real.shape}")
    if (real & ~clean).any():
        raise ValueError("every real photo must be a clean row")
    if clean.all():
        raise ValueError("the quality head needs degraded rows (clean is True for every row)")
    g = None if groups is None else np.asarray(groups, dtype=object)
    rows_a = np.flatnonzero(clean)
    head = train_fc(x[rows_a], y[rows_a], None if g is None else g[rows_a], config, threshold_rows=real[rows_a])
    q = clean.astype(np.float32)
    strata = source_classes(y, g, real)
    folds = usable_folds(y[real], None if g is None else g[real], config.threshold_folds)
    metrics: dict[str, Any]
    q_oof = None
    if folds and head.oof_logits is not None:
        # like the aesthetic head, the quality head that ships is the mean of its fold members, so the
        # threshold on the product is measured on the networks that score new photos
        q_config = config.model_copy(update={"seed": config.seed + QUALITY_SEED_OFFSET})
        q_oof, members, histories = cross_fit(x, q, g, q_config, folds, strata, "training quality head, fold")
        quality, q_history = ensemble_fc(members, name="quality"), histories[0]
        z_a = np.full(len(y), np.nan, np.float32)
        z_a[rows_a] = head.oof_logits
        yr, za, pq = y[real], z_a[real], sigmoid(q_oof[real])
        p = combine(apply_calibration(za, head.calibration), pq)
        threshold = choose_threshold(yr, p, config.threshold_metric)
        metrics = validation_summary(yr, p, threshold)
        weights = row_weights(yr, config.class_weight)
        metrics.update({k: v for k, v in head.metrics.items() if k in ("threshold_from", "ece_weighting")})
        metrics["ece_raw"] = expected_calibration_error(yr, combine(sigmoid(za), pq), weights=weights)
        metrics["ece_calibrated"] = expected_calibration_error(yr, p, weights=weights)
        metrics["aesthetic_head_balanced_accuracy"] = head.metrics["balanced_accuracy"]
        metrics.update(_quality_summary(q.astype(bool), sigmoid(q_oof)))
        metrics["quality_epochs_run"] = _mean_epochs(histories)
    else:  # no folds: one quality FC; the aesthetic head's validation rows, scored by both heads
        quality, q_history, _, _ = _fit_one(x, q, g, config, config.seed + QUALITY_SEED_OFFSET,
                                            "training quality head", strata)
        va = rows_a[head.validation_rows]
        p = combine(predict_batched(head.model, x[va]), predict_batched(quality, x[va]))
        threshold = choose_threshold(y[va], p, config.threshold_metric)
        metrics = validation_summary(y[va], p, threshold)
        metrics["threshold_from"] = "validation rows"
        metrics["quality_epochs_run"] = len(q_history.get("loss", []))
    metrics["epochs_run"] = head.metrics.get("epochs_run", 0)
    calibration = dict(head.calibration) if head.calibration else None
    if calibration is not None:
        calibration.pop("network_threshold", None)  # the cut is on the product, not on one head
    log.info("two heads: balanced accuracy %.3f at threshold %.3f (%s)", metrics["balanced_accuracy"], threshold,
             metrics["threshold_from"])
    return TwoHeadResult(head.model, threshold, metrics, head.history, rows_a[head.train_rows],
                         rows_a[head.validation_rows], config, calibration, head.oof_logits,
                         quality_model=quality, quality_history=q_history, quality_oof_logits=q_oof)

