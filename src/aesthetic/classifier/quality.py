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

**The statistics quality head** (:class:`StatsSplit`, used when the features hold the weightless
``pixel_stats`` branch): globally pooled CNN features at 224 px cannot tell a blurred photo from a
sharp subject on a smooth background, so a CNN quality head that learns blur rejects shallow-focus
photos too (on the shared suite: a clean flower photo at P(clean) 0.07). Pixel statistics at 512 px
(gradient percentiles, tone) do tell them apart. With a split, the degradations the statistics see
(blur, down-up scaling, under- and over-exposure) are learned by a small FC on the ``pixel_stats``
columns only, the CNN quality head learns JPEG damage and noise; both learn the synthetic frames and
the clean rows. ``P = P_aesthetic_head * P_clean(CNN) * P_clean(statistics)``. Tilted and badly cropped
copies are learned by neither by default: each is an enlarged part of the photo, and to pooled CNN
features a clean smooth wallpaper looks like one (on the shared suite's held-out half, a CNN quality
head that learned them rejected a fifth of the clean aesthetic photos); the statistics do not see
composition.

**Weights** (:func:`choose_weights`, ``SensitivityConfig.head_weights``): in the plain product a quality
head's doubt about a clean photo multiplies in fully, and the heads that learn dark and soft
degradations also doubt clean low-key and soft-focus photos (on the shared suite's held-out half the
statistics head alone rejected 6 of 48 clean aesthetic photos). So each P(clean) enters raised to a
weight in (0, 1], ``P = P_aesthetic * P_clean(CNN) ** w1 * P_clean(statistics) ** w2``, chosen with
the threshold on the out-of-fold scores: the best balanced accuracy on the real photos among the
weights that still reject each kind of degraded copy about as often as the plain product does
(judged as if the aesthetic head gave the copy P = 1). The bundle records the weights
(``config.json``'s ``quality_head.weights``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Sequence

import numpy as np

from aesthetic.classifier.fc import (FCConfig, FCResult, _fit_one, _mean_epochs, apply_calibration,
                                     choose_threshold, cross_fit, ensemble_fc, predict_batched, row_weights,
                                     sigmoid, train_fc, usable_folds)
from aesthetic.metrics import expected_calibration_error, validation_summary

log = logging.getLogger(__name__)

QUALITY_SEED_OFFSET = 1000
#: The branch whose columns the statistics quality head reads.
STATS_BRANCH = "pixel_stats"
STATS_SEED_OFFSET = 2000


@dataclass(frozen=True)
class StatsSplit:
    """Which rows and columns the statistics quality head owns (see the module docstring).

    ``columns``: positions of the ``pixel_stats`` columns in the feature matrix; ``kinds`` ``(n,)``:
    what each row is (:func:`aesthetic.classifier.sensitivity.row_kinds`, ``original`` for a store
    row); ``stats_kinds``: the degradations this head learns (and the CNN quality head does not see);
    ``hidden``/``dropout``: its FC (the rest of the FC config is the product's)."""

    columns: np.ndarray
    kinds: np.ndarray
    stats_kinds: tuple[str, ...]
    #: The degradations the CNN quality head learns; a kind in neither list is not learned at all.
    cnn_kinds: tuple[str, ...] = ("jpeg", "noise")
    hidden: tuple[int, ...] = (64, 16)
    dropout: float = 0.2

    def masks(self, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cnn_rows, stats_rows)``, ``(n,)`` bool each: the rows each quality head learns from (its
        clean rows, its degradations and the synthetic frames)."""
        kinds = np.asarray(self.kinds, dtype=object)
        both = np.asarray(clean, bool) | (kinds == "synthetic")
        return both | np.isin(kinds, list(self.cnn_kinds)), both | np.isin(kinds, list(self.stats_kinds))


@lru_cache(maxsize=1)
def take_columns_layer():
    """The Keras layer ``(n, d) -> (n, len(columns))`` that feeds the statistics head its columns of
    the bundle's selected features (registered with Keras on first use, so loading finds it)."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="aesthetic")
    class TakeColumns(keras.layers.Layer):
        def __init__(self, columns, **kwargs):
            super().__init__(**kwargs)
            self.columns = [int(c) for c in columns]

        def call(self, x):
            return ops.take(x, ops.convert_to_tensor(self.columns, dtype="int32"), axis=-1)

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], len(self.columns))

        def get_config(self):
            return {**super().get_config(), "columns": self.columns}

    return TakeColumns


def on_columns(model, input_dim: int, columns: Sequence[int], name: str = "quality_stats"):
    """``model`` (which takes ``len(columns)`` features) as a model of all ``input_dim`` features."""
    import keras

    inputs = keras.Input((int(input_dim),), name="features")
    return keras.Model(inputs, model(take_columns_layer()(columns, name="take_columns")(inputs)), name=name)


def valid_weights(weights, heads: int) -> bool:
    """Whether ``weights`` gives one real number in (0, 1] per quality head (``heads`` of them)."""
    return (isinstance(weights, (list, tuple)) and len(weights) == heads
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v <= 1.0 for v in weights))


def combine(p_aesthetic: np.ndarray, *p_clean: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """The heads' P(aesthetic) ``(n,)`` float32: the aesthetic head's (calibrated) P times each quality
    head's P(clean) raised to its weight (1 each when ``weights`` is None; see :func:`choose_weights`)."""
    out = np.asarray(p_aesthetic, dtype=np.float64)
    w = [1.0] * len(p_clean) if weights is None else [float(v) for v in weights]
    if not valid_weights(w, len(p_clean)):
        raise ValueError(f"one weight in (0, 1] per quality head ({len(p_clean)}); got {list(w)}")
    for p, wi in zip(p_clean, w):
        q = np.asarray(p, dtype=np.float64)
        if out.shape != q.shape:
            raise ValueError(f"the heads disagree on the number of rows: {out.shape} and {q.shape}")
        out = out * q ** wi
    return out.astype(np.float32)


#: Candidate weights of each quality head's P(clean) (:func:`choose_weights`).
WEIGHT_GRID = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class WeightChoice:
    """What :func:`choose_weights` chose, and the plain product (every weight 1) it was compared with:
    the threshold metric on the real photos and, per degradation kind, the share of the aesthetic
    photos' degraded copies under the threshold."""

    weights: tuple[float, ...]
    threshold: float
    score: float
    rejected: dict[str, float]
    product_score: float
    product_rejected: dict[str, float]


def _weighted(p_aesthetic: np.ndarray, p_clean: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    return np.log(np.clip(p_aesthetic, 1e-12, 1.0)) + sum(
        w * np.log(np.clip(q, 1e-12, 1.0)) for w, q in zip(weights, p_clean))


def choose_weights(labels: np.ndarray, p_aesthetic: np.ndarray, p_clean: Sequence[np.ndarray],
                   copies_clean: Sequence[np.ndarray], copy_kinds: np.ndarray,
                   metric: str = "balanced_accuracy", slack: float = 0.1,
                   grid: Sequence[float] = WEIGHT_GRID) -> WeightChoice:
    """The weight of each quality head's P(clean) in ``P = P_aesthetic * prod P_clean ** w`` (one per
    head, from ``grid``) and the threshold, chosen on out-of-fold scores.

    A quality head's P(clean) is a strong factor: the heads that see dark and soft degradations also
    doubt clean low-key and soft-focus photos, and in the plain product each doubt multiplies in
    fully. A smaller weight lets a confident aesthetic head outvote a doubtful quality head, but must
    not let degraded copies through. So: ``labels``, ``p_aesthetic`` and ``p_clean`` (one ``(n,)``
    per head) are the real photos' out-of-fold scores, ``copies_clean`` (one ``(m,)`` per head) the
    quality heads' out-of-fold P(clean) of the *aesthetic* photos' degraded copies (NaN where a head
    does not learn that copy's kind: it says nothing, counted as 1) and ``copy_kinds`` ``(m,)``
    their degradations. For each weight vector the threshold maximising ``metric`` on the real photos
    is chosen (:func:`aesthetic.classifier.fc.choose_threshold`), and a copy counts as rejected when
    its quality factors alone fall under it, as if the aesthetic head gave it P = 1 (the worst case:
    that head never saw degraded rows). A weight vector qualifies when each kind's rejected share is
    at least the plain product's (every weight 1) less ``slack``; of those, the one with the best
    metric wins, ties going to the larger weights (closer to the plain product).
    """
    import itertools

    y = np.asarray(labels).astype(int)
    kinds = np.asarray(copy_kinds).astype(str)
    copies = [np.where(np.isnan(c), 1.0, np.asarray(c, np.float64)) for c in copies_clean]
    if len(copies) != len(p_clean) or any(len(c) != len(kinds) for c in copies):
        raise ValueError("copies_clean needs one (m,) array per quality head, m = len(copy_kinds)")
    ones = np.ones(len(kinds))

    def measure(weights: tuple[float, ...]) -> tuple[float, float, dict[str, float]]:
        log_p = _weighted(p_aesthetic, p_clean, weights)
        threshold = choose_threshold(y, np.exp(log_p), metric)
        score = _metric(y, log_p >= np.log(threshold), metric)
        below = _weighted(ones, copies, weights) < np.log(threshold)
        return threshold, score, {k: float(below[kinds == k].mean()) for k in sorted(set(kinds))}

    full = tuple(1.0 for _ in p_clean)
    _, product_score, product_rejected = measure(full)
    best = None
    for weights in sorted(itertools.product(sorted(set(grid) | {1.0}), repeat=len(p_clean)), reverse=True):
        threshold, score, rejected = measure(weights)
        if all(rejected[k] >= product_rejected[k] - slack for k in rejected) and (best is None or score > best[2]):
            best = (weights, threshold, score, rejected)
    weights, threshold, score, rejected = best  # the plain product always qualifies
    return WeightChoice(tuple(float(w) for w in weights), float(threshold), float(score), rejected,
                        float(product_score), product_rejected)


def _metric(labels: np.ndarray, called: np.ndarray, metric: str) -> float:
    from sklearn.metrics import balanced_accuracy_score, f1_score

    score = f1_score if metric == "f1" else balanced_accuracy_score
    return float(score(labels, called.astype(int)))


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
    """:class:`FCResult` of the aesthetic head (its ``model``, ``calibration``), plus the quality head(s);
    ``threshold`` and ``metrics`` are those of the combined P on the real photos."""

    quality_model: Any = None
    quality_history: dict[str, list[float]] = field(default_factory=dict)
    #: Out-of-fold quality logits of every row (NaN where a row was in no fold or the head does not
    #: learn from it), when folds were used.
    quality_oof_logits: np.ndarray | None = None
    #: The statistics quality head (all selected features in, its columns taken inside), with a split.
    stats_quality_model: Any = None
    stats_quality_oof_logits: np.ndarray | None = None
    #: The exponent of each quality head's P(clean) in the product (:func:`choose_weights`).
    quality_weights: tuple[float, ...] = ()


def _quality_summary(clean: np.ndarray, p_clean: np.ndarray, prefix: str = "quality") -> dict[str, float]:
    """How well P(clean) separates the clean rows from the degraded ones (held-out scores)."""
    from sklearn.metrics import roc_auc_score

    c = np.asarray(clean, bool)
    return {f"{prefix}_auc": float(roc_auc_score(c.astype(int), p_clean)),
            f"{prefix}_degraded_below_half": float(np.mean(p_clean[~c] < 0.5)),
            f"{prefix}_clean_above_half": float(np.mean(p_clean[c] >= 0.5))}


def _cross_fit_rows(x: np.ndarray, q: np.ndarray, g: np.ndarray | None, config: FCConfig, folds: int,
                    strata: np.ndarray, rows: np.ndarray, name: str, description: str
                    ) -> tuple[Any, dict[str, list[float]], np.ndarray, float]:
    """A quality head cross-fitted on ``rows`` (``(n,)`` bool) of ``x``: the fold members' mean, the
    first member's history, the out-of-fold logits of every row (NaN outside ``rows``), mean epochs."""
    idx = np.flatnonzero(rows)
    oof_rows, members, histories = cross_fit(x[idx], q[idx], None if g is None else g[idx], config, folds,
                                             strata[idx], description)
    oof = np.full(len(q), np.nan, np.float32)
    oof[idx] = oof_rows
    return ensemble_fc(members, name=name), histories[0], oof, _mean_epochs(histories)


def _stats_config(config: FCConfig, split: StatsSplit) -> FCConfig:
    return config.model_copy(update={"seed": config.seed + STATS_SEED_OFFSET, "hidden": tuple(split.hidden),
                                     "dropout": float(split.dropout)})


def _split_rows(split: StatsSplit, width: int, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``split.masks(clean)``, after checking the split fits the ``width`` columns and leaves each head
    degraded rows to learn from."""
    if len(split.kinds) != len(clean):
        raise ValueError(f"the split's kinds must have one entry per row ({len(clean)}); got {len(split.kinds)}")
    if len(split.columns) == 0 or np.max(split.columns) >= width or np.min(split.columns) < 0:
        raise ValueError(f"the split's columns must be positions in 0..{width - 1}")
    cnn_rows, stats_rows = split.masks(clean)
    unused = sorted(set(np.asarray(split.kinds, dtype=object)[~(cnn_rows | stats_rows)]))
    if unused:
        log.info("quality heads: the %s copies are learned by neither head", ", ".join(map(str, unused)))
    for what, rows, kinds in (("CNN", cnn_rows, split.cnn_kinds), ("statistics", stats_rows, split.stats_kinds)):
        if clean[rows].all():
            raise ValueError(f"the {what} quality head has no degraded rows to learn from (its kinds: "
                             f"{', '.join(kinds)})")
    return cnn_rows, stats_rows


def train_two_heads(features: np.ndarray, labels: np.ndarray, groups: Sequence[str] | None, clean: np.ndarray,
                    real: np.ndarray, config: FCConfig = FCConfig(), split: StatsSplit | None = None,
                    weights: Literal["fitted", "product"] = "fitted", slack: float = 0.1) -> TwoHeadResult:
    """Train both heads on ``features (n, d)``; see the module docstring.

    ``labels (n,)``: 0/1 aesthetic labels (a degraded copy's label is not used); ``clean (n,)`` bool:
    the rows the aesthetic head learns from and the quality head calls clean; ``real (n,)`` bool: the
    store's own photos, on which the threshold is chosen and the metrics computed (a subset of
    ``clean``). ``groups`` keeps a source and its copies on one side of every split. ``split``: train
    a statistics quality head too, on its columns and degradations (:class:`StatsSplit`). ``weights``:
    ``"fitted"`` raises each quality head's P(clean) to the weight :func:`choose_weights` picks on the
    out-of-fold scores (``slack`` is its tolerance), ``"product"`` multiplies them in fully (also what
    happens without folds).
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
    cnn_rows, stats_rows = (np.ones(len(y), bool), None) if split is None else _split_rows(split, x.shape[1], clean)
    g = None if groups is None else np.asarray(groups, dtype=object)
    rows_a = np.flatnonzero(clean)
    head = train_fc(x[rows_a], y[rows_a], None if g is None else g[rows_a], config, threshold_rows=real[rows_a])
    q = clean.astype(np.float32)
    strata = source_classes(y, g, real)
    folds = usable_folds(y[real], None if g is None else g[real], config.threshold_folds)
    metrics: dict[str, Any]
    q_oof = s_oof = stats_model = None
    head_weights = (1.0,) if split is None else (1.0, 1.0)
    xs = None if split is None else x[:, np.asarray(split.columns, int)]
    if folds and head.oof_logits is not None:
        # like the aesthetic head, each quality head that ships is the mean of its fold members, so the
        # threshold on the product is measured on the networks that score new photos
        q_config = config.model_copy(update={"seed": config.seed + QUALITY_SEED_OFFSET})
        quality, q_history, q_oof, q_epochs = _cross_fit_rows(x, q, g, q_config, folds, strata, cnn_rows,
                                                              "quality", "training quality head, fold")
        factors = [sigmoid(q_oof[real])]
        if split is not None:
            members, _, s_oof, s_epochs = _cross_fit_rows(xs, q, g, _stats_config(config, split), folds, strata,
                                                          stats_rows, "quality_stats_members",
                                                          "training statistics quality head, fold")
            stats_model = on_columns(members, x.shape[1], split.columns)
            factors.append(sigmoid(s_oof[real]))
        z_a = np.full(len(y), np.nan, np.float32)
        z_a[rows_a] = head.oof_logits
        yr, za = y[real], z_a[real]
        p_a = apply_calibration(za, head.calibration)
        choice = None if weights != "fitted" else _fit_weights(
            yr, p_a, factors, (q_oof, s_oof), ~clean & (strata == 1), split, config.threshold_metric, slack)
        head_weights = head_weights if choice is None else choice.weights
        p = combine(p_a, *factors, weights=head_weights)
        threshold = choose_threshold(yr, p, config.threshold_metric)
        metrics = validation_summary(yr, p, threshold)
        metrics.update(_weight_summary(choice, head_weights))
        row_w = row_weights(yr, config.class_weight)
        metrics.update({k: v for k, v in head.metrics.items() if k in ("threshold_from", "ece_weighting")})
        metrics["ece_raw"] = expected_calibration_error(yr, combine(sigmoid(za), *factors, weights=head_weights),
                                                        weights=row_w)
        metrics["ece_calibrated"] = expected_calibration_error(yr, p, weights=row_w)
        metrics["aesthetic_head_balanced_accuracy"] = head.metrics["balanced_accuracy"]
        metrics.update(_quality_summary(clean[cnn_rows], sigmoid(q_oof[cnn_rows])))
        metrics["quality_epochs_run"] = q_epochs
        if split is not None:
            metrics.update(_quality_summary(clean[stats_rows], sigmoid(s_oof[stats_rows]), "stats_quality"))
            metrics["stats_quality_epochs_run"] = s_epochs
    else:  # no folds: one FC per quality head; the aesthetic head's validation rows, scored by every head
        c_idx = np.flatnonzero(cnn_rows)
        quality, q_history, _, _ = _fit_one(x[c_idx], q[c_idx], None if g is None else g[c_idx], config,
                                            config.seed + QUALITY_SEED_OFFSET, "training quality head",
                                            strata[c_idx])
        va = rows_a[head.validation_rows]
        factors = [predict_batched(quality, x[va])]
        if split is not None:
            s_idx = np.flatnonzero(stats_rows)
            s_config = _stats_config(config, split)
            member, _, _, _ = _fit_one(xs[s_idx], q[s_idx], None if g is None else g[s_idx], s_config,
                                       s_config.seed, "training statistics quality head", strata[s_idx])
            stats_model = on_columns(member, x.shape[1], split.columns)
            factors.append(predict_batched(member, xs[va]))
        p = combine(predict_batched(head.model, x[va]), *factors)
        threshold = choose_threshold(y[va], p, config.threshold_metric)
        metrics = validation_summary(y[va], p, threshold)
        metrics["threshold_from"] = "validation rows"
        metrics["quality_epochs_run"] = len(q_history.get("loss", []))
    metrics["epochs_run"] = head.metrics.get("epochs_run", 0)
    calibration = dict(head.calibration) if head.calibration else None
    if calibration is not None:
        calibration.pop("network_threshold", None)  # the cut is on the product, not on one head
    log.info("%s: balanced accuracy %.3f at threshold %.3f (%s)",
             "three heads" if split is not None else "two heads", metrics["balanced_accuracy"], threshold,
             metrics["threshold_from"])
    return TwoHeadResult(head.model, threshold, metrics, head.history, rows_a[head.train_rows],
                         rows_a[head.validation_rows], config, calibration, head.oof_logits,
                         quality_model=quality, quality_history=q_history, quality_oof_logits=q_oof,
                         stats_quality_model=stats_model, stats_quality_oof_logits=s_oof,
                         quality_weights=tuple(head_weights))


def _fit_weights(labels: np.ndarray, p_aesthetic: np.ndarray, factors: Sequence[np.ndarray],
                 oof_logits: Sequence[np.ndarray | None], copies: np.ndarray, split: StatsSplit | None,
                 metric: str, slack: float) -> WeightChoice | None:
    """:func:`choose_weights` on the real photos' out-of-fold scores and the quality heads' out-of-fold
    logits of the ``copies`` rows (``(n,)`` bool: the aesthetic photos' degraded copies, by kind when a
    split names them); None without copies."""
    if not copies.any():
        return None
    kinds = np.full(int(copies.sum()), "degraded") if split is None else np.asarray(split.kinds, dtype=str)[copies]
    # NaN (a head that does not learn the copy's kind) stays NaN: choose_weights counts it as P(clean) 1
    p_clean = [np.where(np.isnan(o[copies]), np.nan, sigmoid(np.nan_to_num(o[copies]))) for o in oof_logits
               if o is not None]
    return choose_weights(labels, p_aesthetic, factors, p_clean, kinds, metric, slack)


def _weight_summary(choice: WeightChoice | None, head_weights: Sequence[float]) -> dict[str, Any]:
    """metrics.json's record of the quality heads' weights (:func:`choose_weights`)."""
    out: dict[str, Any] = {"quality_weights": [float(w) for w in head_weights]}
    if choice is None:
        out["quality_weights_from"] = "plain product"
        return out
    out.update({"quality_weights_from": "out-of-fold scores",
                "product_balanced_accuracy": choice.product_score,
                "copies_rejected_oof": choice.rejected, "product_copies_rejected_oof": choice.product_rejected})
    return out
