"""The fusion classifier: a small fully connected network from (selected) features to P(aesthetic).

Architecture (:func:`build_fc`)::

    features (n, d) -> Normalization (training-row mean/std, part of the saved model)
      -> [Dense(h, no bias) -> BatchNorm -> ReLU -> Dropout] x len(hidden)   (three by default)
      -> Dense(1) "logit" -> sigmoid "p_aesthetic" (n, 1)              head="binary" (default)
      -> Dense(10) "score_logits" -> softmax "distribution" (n, 10)    head="distribution"
      -> Dense(1, bias starts at 5.5) "mean_score" (n, 1)              head="mean"

The two score heads (ratings 1..10, trained by :mod:`aesthetic.classifier.scores`) share the body.

Training (:func:`train_fc`): rows are split into train/validation stratified by label and
grouped by source image (augmented rows ``x.jpg#aug1`` stay with ``x.jpg``); classes are
weighted ``n / (2 * n_class)`` so ~70k "not" vs ~11k "aesthetic" does not collapse to "not";
early stopping on the class-weighted validation loss restores the best epoch.

Threshold and probabilities (:func:`cross_fit`, :func:`fit_platt`): with ``threshold_folds`` k >= 2
(5 by default), k FCs are trained with the same settings, one per fold of a group k-fold
(``StratifiedGroupKFold``: a source and its copies share a fold), and each scores its held-out fold.
On these out-of-fold logits of every row (not ~10 validation photos) a Platt scaling
``P = sigmoid(a * logit + b)`` is fitted (``calibration="platt"``; class-balanced like the training,
so P is calibrated for a collection with as many aesthetic photos as not), and the decision
threshold is the calibrated P that maximises **balanced accuracy** (or F1). The model that ships is
those k members, averaged in logit space (:func:`ensemble_fc`): the threshold and the calibration
were measured on exactly the networks that score new photos. (A separate fit on all rows has a logit
scale of its own: on the shared suite its logits sat about +2 above the members', so a threshold from
the members' held-out scores called most test snapshots aesthetic.) Platt is strictly increasing, so
it never reorders two photos. With ``threshold_folds`` 0 one FC is trained, the threshold is chosen
on its validation rows and no calibration is fitted, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic.backend import to_numpy
from aesthetic.metrics import expected_calibration_error, validation_summary
from aesthetic.progress import Progress

log = logging.getLogger(__name__)

LOGIT_LAYER = "logit"
HEADS = ("binary", "distribution", "mean")
AUG_SEPARATOR = "#aug"


class FCConfig(BaseModel):
    """Everything that decides how the FC is built and trained; saved in the bundle."""

    model_config = ConfigDict(frozen=True)
    hidden: tuple[int, ...] = Field((512, 128, 32),
                                    description="Widths of the hidden Dense -> BatchNorm -> ReLU -> Dropout blocks.")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout rate after every hidden block.")
    l2: float = Field(1e-4, ge=0.0, description="L2 penalty on the hidden Dense kernels.")
    learning_rate: float = Field(3e-3, gt=0.0, description="Adam learning rate.")
    batch_size: int = Field(32, gt=0, description="Rows per training step.")
    epochs: int = Field(200, gt=0, description="Most epochs; early stopping usually ends sooner.")
    patience: int = Field(25, ge=1, description="Epochs without a better validation loss before stopping (the best "
                                                "epoch is restored).")
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0, description=(
        "Share of source images held out (stratified, augmented copies kept with their source) for "
        "early stopping and the threshold."))
    class_weight: Literal["balanced", "none"] = Field("balanced", description=(
        "`balanced` weights each class n / (2 n_class), so an imbalanced set does not collapse to "
        "'not'."))
    threshold_metric: Literal["balanced_accuracy", "f1"] = Field("balanced_accuracy", description=(
        "The decision threshold maximises this on the out-of-fold (or, with threshold_folds 0, "
        "validation) scores; saved in the bundle."))
    threshold_folds: int = Field(5, ge=0, le=20, description=(
        "k of the group k-fold: k FCs are trained, their out-of-fold scores choose the threshold and fit "
        "the calibration, and their mean (in logit space) is the model; 0 or 1: one FC, threshold on its "
        "validation rows, no calibration"))
    calibration: Literal["platt", "none"] = Field("platt", description=(
        "`platt`: P = sigmoid(a logit + b) fitted on the out-of-fold logits (class-balanced), stored in "
        "config.json and applied at predict time; `none`: the network's own sigmoid."))
    seed: int = Field(0, description="Seed of the split, the initial weights and dropout.")


@dataclass
class FCResult:
    """A trained FC and what was learned about it on the validation rows."""

    model: Any  # keras.Model, (n, d) -> (n, 1) P(aesthetic)
    threshold: float
    metrics: dict[str, float]
    #: Keras history of the one FC, or of the first fold member when ``model`` is the members' mean
    #: (``metrics['epochs_run']`` is then the members' mean epoch count).
    history: dict[str, list[float]]
    #: Rows the FC trained on and the rows that stopped it early; with fold members, every row and none.
    train_rows: np.ndarray
    validation_rows: np.ndarray
    config: FCConfig = field(default_factory=FCConfig)
    #: ``{"method": "platt", "slope": a, "intercept": b, "network_threshold": t}`` or None.
    calibration: dict[str, Any] | None = None
    #: Out-of-fold logits of every row (NaN where a row was in no fold), when folds were used.
    oof_logits: np.ndarray | None = None


# --------------------------------------------------------------------------- model

def standardization_stats(features: np.ndarray, min_std: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and variance of ``features (n, d)``; constant columns get variance 1 so a
    value never seen in training cannot be blown up by a near-zero std."""
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    var[var < min_std ** 2] = 1.0
    return mean.astype(np.float32), var.astype(np.float32)


def build_fc(input_dim: int, hidden: Sequence[int] = (512, 128, 32), dropout: float = 0.5,
             l2: float = 1e-4, mean: np.ndarray | None = None, variance: np.ndarray | None = None,
             seed: int = 0, name: str = "fc", bn_momentum: float = 0.99, head: str = "binary"):
    """Keras FC ``(n, input_dim) float32 -> (n, 1) P(aesthetic)`` with standardisation built in.

    ``mean``/``variance`` (``(input_dim,)``) come from the training rows; when omitted the
    Normalization layer is the identity (mean 0, variance 1). ``bn_momentum``: Keras's
    default; the GA's short fitness runs use a faster 0.9. ``head`` picks the output (see the
    module docstring): ``"binary"`` P(aesthetic), ``"distribution"`` ``(n, 10)`` rating shares,
    ``"mean"`` ``(n, 1)`` mean rating (its bias starts mid-scale, at 5.5).
    """
    import keras

    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}; got {head!r}")
    if input_dim <= 0:
        raise ValueError(f"input_dim must be positive, got {input_dim}")
    if not hidden:
        raise ValueError("hidden must name at least one layer width")
    mean = np.zeros(input_dim, np.float32) if mean is None else np.asarray(mean, np.float32)
    variance = np.ones(input_dim, np.float32) if variance is None else np.asarray(variance, np.float32)
    if mean.shape != (input_dim,) or variance.shape != (input_dim,):
        raise ValueError(f"mean/variance must have shape ({input_dim},), got {mean.shape} and {variance.shape}")
    reg = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input((input_dim,), name="features")
    x = keras.layers.Normalization(mean=mean, variance=variance, name="standardize")(inputs)
    for k, width in enumerate(hidden):
        x = keras.layers.Dense(width, use_bias=False, kernel_regularizer=reg,
                               kernel_initializer=keras.initializers.HeNormal(seed=seed + k),
                               name=f"dense_{k}")(x)
        x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"bn_{k}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{k}")(x)
        x = keras.layers.Dropout(dropout, seed=seed + k, name=f"dropout_{k}")(x)
    out_init = keras.initializers.GlorotUniform(seed=seed + 99)
    if head == "distribution":
        logits = keras.layers.Dense(10, name="score_logits", kernel_initializer=out_init)(x)
        dist = keras.layers.Activation("softmax", name="distribution", dtype="float32")(logits)
        return keras.Model(inputs, dist, name=name)
    if head == "mean":
        score = keras.layers.Dense(1, name="mean_score", kernel_initializer=out_init,
                                   bias_initializer=keras.initializers.Constant(5.5), dtype="float32")(x)
        return keras.Model(inputs, score, name=name)
    logit = keras.layers.Dense(1, name=LOGIT_LAYER,
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 99))(x)
    prob = keras.layers.Activation("sigmoid", name="p_aesthetic", dtype="float32")(logit)
    return keras.Model(inputs, prob, name=name)


def logit_model(model):
    """The same network ending at the pre-sigmoid logit (shares weights with ``model``)."""
    import keras

    return keras.Model(model.input, model.get_layer(LOGIT_LAYER).output, name=f"{model.name}_logit")


def predict_batched(model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Run a Keras model in inference mode over ``x`` in batches; returns ``(n,)`` float32 for a one-unit head."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        return np.zeros(0, np.float32)
    outs = [to_numpy(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    out = np.concatenate(outs, axis=0).astype(np.float32)
    return out.reshape(len(x), -1)[:, 0] if out.ndim > 1 and out.shape[-1] == 1 else out


# --------------------------------------------------------------------------- data handling

def source_ids(ids: Sequence[str]) -> np.ndarray:
    """The source image of each row: ``"x.jpg#aug2" -> "x.jpg"``, others unchanged."""
    return np.array([str(i).split(AUG_SEPARATOR, 1)[0] for i in ids], dtype=object)


def balanced_class_weight(labels: np.ndarray) -> dict[int, float]:
    """``{c: n / (2 * n_c)}`` so both classes carry equal total weight."""
    y = np.asarray(labels).astype(int)
    n = len(y)
    counts = np.bincount(y, minlength=2)
    if np.any(counts == 0):
        raise ValueError(f"training needs both classes; got {counts[0]} 'not' and {counts[1]} 'aesthetic' rows")
    return {c: float(n / (2.0 * counts[c])) for c in (0, 1)}


def stratified_group_split(labels: np.ndarray, groups: Sequence[str] | None, fraction: float,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)``: ``fraction`` of the groups (source images) go to
    validation, stratified by label, so no image and its augmented copies straddle the split."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels).astype(int)
    groups = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups, dtype=object)
    uniq, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    group_y = y[first]
    counts = np.bincount(group_y, minlength=2)
    stratify = group_y if counts.min() >= 2 else None
    n_val = max(1, int(round(fraction * len(uniq))))
    if stratify is not None:
        n_val = min(max(n_val, 2), len(uniq) - 2)
    train_g, val_g = train_test_split(np.arange(len(uniq)), test_size=n_val, random_state=seed,
                                      stratify=stratify)
    is_val = np.isin(inverse, val_g)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


# --------------------------------------------------------------------------- evaluation

def choose_threshold(labels: np.ndarray, probabilities: np.ndarray,
                     metric: Literal["balanced_accuracy", "f1"] = "balanced_accuracy") -> float:
    """The cut ``p >= t`` that maximises ``metric`` on these rows; ties go to the cut nearest 0.5.

    Candidates are 0.5 and the midpoints between consecutive distinct probabilities, so the
    chosen cut never sits exactly on a validation score.
    """
    y = np.asarray(labels).astype(int)
    p = np.asarray(probabilities, dtype=np.float64)
    if len(np.unique(y)) < 2:
        return 0.5
    values = np.unique(p)
    cuts = np.concatenate([[0.5], (values[:-1] + values[1:]) / 2.0, [values[0] - 1e-6, values[-1] + 1e-6]])
    pos, neg = y == 1, y == 0
    pred = p[None, :] >= cuts[:, None]
    tp = (pred & pos).sum(axis=1)
    tn = (~pred & neg).sum(axis=1)
    fp = (pred & neg).sum(axis=1)
    fn = (~pred & pos).sum(axis=1)
    if metric == "balanced_accuracy":
        score = 0.5 * (tp / pos.sum() + tn / neg.sum())
    elif metric == "f1":
        score = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    else:
        raise ValueError(f"threshold metric must be 'balanced_accuracy' or 'f1', not {metric!r}")
    best = np.flatnonzero(np.isclose(score, score.max()))
    return float(cuts[best[np.argmin(np.abs(cuts[best] - 0.5))]])


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def fit_platt(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Platt scaling ``P = sigmoid(a * logit + b)`` fitted by (weighted) logistic regression on
    held-out ``logits``; returns ``(a, b)``. Refuses a non-increasing fit (``a <= 0``): the logits
    would then carry no usable ranking, and calibration must never reorder photos."""
    from sklearn.linear_model import LogisticRegression

    z = np.asarray(logits, dtype=np.float64).reshape(-1, 1)
    y = np.asarray(labels).astype(int)
    if len(np.unique(y)) < 2:
        raise ValueError("calibration needs held-out rows of both classes")
    fit = LogisticRegression(C=1e4, max_iter=1000).fit(z, y, sample_weight=weights)
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if not a > 0:
        raise ValueError(f"Platt scaling found no increasing relation between logits and labels (slope {a:.3g})")
    return a, b


def apply_calibration(logits: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """Calibrated P ``(n,)`` float32 from network logits: ``sigmoid(a z + b)``, or plain ``sigmoid(z)``
    when ``calibration`` is None."""
    z = np.asarray(logits, dtype=np.float64)
    if calibration:
        if calibration.get("method") != "platt":
            raise ValueError(f"unknown calibration method {calibration.get('method')!r}")
        z = float(calibration["slope"]) * z + float(calibration["intercept"])
    return sigmoid(z).astype(np.float32)


def network_threshold(threshold: float, calibration: dict[str, Any] | None) -> float:
    """The raw network P (``sigmoid(logit)``) at which the calibrated P equals ``threshold``."""
    if not calibration:
        return float(threshold)
    t = min(max(float(threshold), 1e-12), 1 - 1e-12)
    z = (np.log(t / (1 - t)) - float(calibration["intercept"])) / float(calibration["slope"])
    return float(sigmoid(z))


# --------------------------------------------------------------------------- training

def epoch_progress(total: int, description: str):
    """A Keras callback feeding the project's progress component one tick per epoch."""
    import keras

    class _EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = Progress(total, description, unit="epochs")

        def on_epoch_end(self, epoch, logs=None):
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return _EpochProgress()


def fit_keras(model, x, y: np.ndarray | None = None, *, x_val: np.ndarray, y_val: np.ndarray,
              sample_weight: np.ndarray | None = None, val_weight: np.ndarray | None = None, loss,
              learning_rate: float, batch_size: int | None, epochs: int, patience: int,
              description: str) -> dict[str, list[float]]:
    """Adam + early stopping on validation loss (best weights restored); returns the history.

    Shared by the FC, its distilled students and the end-to-end student so all train the same
    way. ``x`` is an array (with ``y``, ``sample_weight``) or a ``keras.utils.PyDataset``.
    """
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    val = (x_val, y_val) if val_weight is None else (x_val, y_val, val_weight)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    kwargs = {} if y is None else {"y": y, "sample_weight": sample_weight, "batch_size": batch_size,
                                   "shuffle": True}
    history = model.fit(x, validation_data=val, epochs=epochs, verbose=0,
                        callbacks=[stop, epoch_progress(epochs, description)], **kwargs)
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def row_weights(labels: np.ndarray, mode: Literal["balanced", "none"], strata: np.ndarray | None = None) -> np.ndarray:
    """Per-row weights for ``labels`` (ones, or balanced class weights). With ``strata`` (``(n,)``,
    e.g. the class of each row's source photo) and ``"balanced"``, every (label, stratum) cell carries
    equal total weight, so a stratum cannot predict the label."""
    y = np.asarray(labels).astype(int)
    if mode == "none":
        return np.ones(len(y), np.float32)
    if strata is None:
        weights = balanced_class_weight(y)
        return np.array([weights[v] for v in y], dtype=np.float32)
    balanced_class_weight(y)  # both labels present
    cells = np.array([f"{v}|{s}" for v, s in zip(y, np.asarray(strata))], dtype=object)
    names, inverse, counts = np.unique(cells, return_inverse=True, return_counts=True)
    return (len(y) / (len(names) * counts[inverse])).astype(np.float32)


def _fit_one(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, config: FCConfig, seed: int,
             description: str, strata: np.ndarray | None = None
             ) -> tuple[Any, dict[str, list[float]], np.ndarray, np.ndarray]:
    """One FC on ``x``/``y`` with its own grouped train/validation split for early stopping
    (``strata``: see :func:`row_weights`)."""
    import keras

    keras.utils.set_random_seed(seed)
    tr, va = stratified_group_split(y, groups, config.validation_fraction, seed)
    mean, var = standardization_stats(x[tr])
    model = build_fc(x.shape[1], config.hidden, config.dropout, config.l2, mean, var, seed)
    history = fit_keras(
        model, x[tr], y[tr], x_val=x[va], y_val=y[va],
        sample_weight=row_weights(y[tr], config.class_weight, None if strata is None else strata[tr]),
        val_weight=(row_weights(y[va], config.class_weight, None if strata is None else strata[va])
                    if len(np.unique(y[va])) == 2 else None),
        loss=keras.losses.BinaryCrossentropy(), learning_rate=config.learning_rate,
        batch_size=config.batch_size, epochs=config.epochs, patience=config.patience,
        description=description)
    return model, history, tr, va


def usable_folds(labels: np.ndarray, groups: np.ndarray | None, folds: int) -> int:
    """``folds``, capped by the number of source groups of the rarer class (0 when under 2)."""
    y = np.asarray(labels).astype(int)
    g = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups, dtype=object)
    fewest = min(len(np.unique(g[y == c])) for c in (0, 1))
    k = min(int(folds), fewest)
    return k if k >= 2 else 0


def cross_fit(features: np.ndarray, labels: np.ndarray, groups: Sequence[str] | None, config: FCConfig,
              folds: int, strata: np.ndarray | None = None, description: str = "fold"
              ) -> tuple[np.ndarray, list[Any], list[dict[str, list[float]]]]:
    """``folds`` FCs, one per fold of a ``StratifiedGroupKFold`` over ``groups``, each trained on the
    other folds with ``config``: ``(oof, models, histories)``, where ``oof`` ``(n,)`` is the logit of
    every row from the member that never saw its group."""
    from sklearn.model_selection import StratifiedGroupKFold

    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=np.float32)
    g = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups, dtype=object)
    oof = np.full(len(y), np.nan, np.float32)
    models, histories = [], []
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for k, (fit_rows, held) in enumerate(splitter.split(x, y.astype(int), g)):
        model, history, _, _ = _fit_one(x[fit_rows], y[fit_rows], g[fit_rows], config, config.seed + 1 + k,
                                        f"{description} {k + 1}/{folds}",
                                        None if strata is None else strata[fit_rows])
        oof[held] = predict_batched(logit_model(model), x[held])
        models.append(model)
        histories.append(history)
    return oof, models, histories


def ensemble_fc(models: Sequence[Any], name: str = "fc"):
    """One Keras model over the members ``models`` (binary FCs of one input width): its ``logit``
    layer is the mean of theirs and its output that mean's sigmoid. A single member is returned as is."""
    import keras

    if len(models) == 1:
        return models[0]
    inputs = keras.Input(tuple(models[0].input_shape[1:]), name="features")
    logits = [keras.Model(m.input, m.get_layer(LOGIT_LAYER).output, name=f"member_{k}")(inputs)
              for k, m in enumerate(models)]
    logit = keras.layers.Average(name=LOGIT_LAYER)(logits)
    prob = keras.layers.Activation("sigmoid", name="p_aesthetic", dtype="float32")(logit)
    return keras.Model(inputs, prob, name=name)


def _mean_epochs(histories: Sequence[dict[str, list[float]]]) -> float:
    return float(np.mean([len(h.get("loss", [])) for h in histories])) if histories else 0.0


def train_fc(features: np.ndarray, labels: np.ndarray, groups: Sequence[str] | None = None,
             config: FCConfig = FCConfig(), threshold_rows: np.ndarray | None = None) -> FCResult:
    """Train the FC on ``features (n, d)`` and binary ``labels (n,)``; see the module docstring.

    ``groups`` (``(n,)`` source-image ids) keeps augmented rows on their source's side of every
    split. ``threshold_rows`` (``(n,)`` bool, default all): the rows whose out-of-fold scores
    choose the threshold and fit the calibration (the training's real photos, when synthetic
    sensitivity rows are mixed in), and on which the returned metrics are computed.
    """
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (n, d) with n = len(labels); got {x.shape} and {y.shape}")
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 for every training row (drop unlabelled rows first)")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    balanced_class_weight(y)  # both classes present, with a clear message otherwise
    g = None if groups is None else np.asarray(groups, dtype=object)
    chosen = np.ones(len(y), bool) if threshold_rows is None else np.asarray(threshold_rows, bool)
    if chosen.shape != y.shape:
        raise ValueError(f"threshold_rows must be a ({len(y)},) boolean mask, got shape {chosen.shape}")
    folds = usable_folds(y[chosen], None if g is None else g[chosen], config.threshold_folds)
    calibration, oof = None, None
    if folds:
        # the model that ships is the mean of the fold members whose held-out scores set the
        # threshold and the calibration: a separate full-data fit has a logit scale of its own
        oof, members, histories = cross_fit(x, y, g, config, folds, description="training FC, fold")
        model, history = ensemble_fc(members), histories[0]
        tr, va = np.arange(len(y)), np.zeros(0, np.int64)
        z, yc = oof[chosen], y[chosen]
        weights = row_weights(yc, config.class_weight)
        metrics_extra: dict[str, Any] = {"threshold_from": f"out-of-fold scores, {folds}-fold over groups",
                                         "ece_weighting": ("balanced classes" if config.class_weight == "balanced"
                                                           else "rows")}
        p_raw = sigmoid(z)
        metrics_extra["ece_raw"] = expected_calibration_error(yc, p_raw, weights=weights)
        p_cal = p_raw
        if config.calibration == "platt":
            try:
                a, b = fit_platt(z, yc, weights)
                calibration = {"method": "platt", "slope": a, "intercept": b, "fitted_on": "out-of-fold logits",
                               "folds": folds}
                p_cal = apply_calibration(z, calibration)
            except ValueError as exc:
                log.warning("no calibration: %s", exc)
        metrics_extra["ece_calibrated"] = expected_calibration_error(yc, p_cal, weights=weights)
        threshold = choose_threshold(yc, p_cal, config.threshold_metric)
        metrics = validation_summary(yc, p_cal, threshold)
        metrics.update(metrics_extra)
        if calibration is not None:
            calibration["network_threshold"] = network_threshold(threshold, calibration)
        metrics.update(members=folds, epochs_run=_mean_epochs(histories))
    else:
        model, history, tr, va = _fit_one(x, y, g, config, config.seed, "training FC")
        p_val = predict_batched(model, x[va])
        threshold = choose_threshold(y[va], p_val, config.threshold_metric)
        metrics = validation_summary(y[va], p_val, threshold)
        metrics["threshold_from"] = "validation rows"
        metrics["epochs_run"] = len(history.get("loss", []))
    log.info("FC trained on %d rows: balanced accuracy %.3f at threshold %.3f (%s)",
             len(tr), metrics["balanced_accuracy"], threshold, metrics["threshold_from"])
    return FCResult(model, threshold, metrics, history, tr, va, config, calibration, oof)
