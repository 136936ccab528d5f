"""The end-to-end student: raw pixels -> MobileNet v1 -> small head -> P(aesthetic).

Scoring with it needs neither InceptionResNetV2 nor EfficientNetB7. It learns from the
teacher's soft labels (teacher logits computed from the feature store, so no teacher
backbone is run), with the binary distillation loss of :mod:`aesthetic.classifier.distillation`.

Network (:func:`build_student`)::

    pixels (n, s, s, 3) float32 in 0..255  (images squashed to s x s, the mobilenet branch's policy; s = 224)
      -> Rescaling to [-1, 1] (the mobilenet branch's scaling, inside the model)
      -> MobileNet v1 backbone, global average pooled (1024)   initialised from the NIMA file
      -> [Dense(h) -> ReLU -> Dropout] per ``head`` width -> Dense(1) "logit" -> sigmoid

The backbone starts from the NIMA file's MobileNet layers (AVA fine-tuned) when given,
random otherwise. By default it stays frozen (CPU-friendly: only the head trains);
``trainable_backbone_layers`` unfreezes the last layers (BatchNorm stays frozen).
Augmentation (flip, crop, colour/exposure jitter) is applied on the fly when enabled.

A teacher with a score head (:mod:`aesthetic.classifier.scores`) gives a student with the same head:
``Dense(10)`` softmax (or one linear mean output) after the student's head layers, trained on
the teacher's rating distributions (or means) with the EMD (or Huber) loss; the bundle keeps the
teacher's score rule, so P(aesthetic) is derived the same way.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic.classifier.augmentation import AugmentConfig, augment_image
from aesthetic.classifier.distillation import agreement, correlation, make_distillation_loss, pack_targets
from aesthetic.classifier.fc import (LOGIT_LAYER, choose_threshold, fit_keras, logit_model,
                                     predict_batched, row_weights, stratified_group_split)
from aesthetic.fileio import PathLike
from aesthetic.imageio import Resize, decode_batches, read_one
from aesthetic.metrics import validation_summary
from aesthetic.feature_extraction.branches.mobilenet import MobileNetBranch, build_nima
from aesthetic.classifier.scores import make_score_loss, rank_correlation, score_outputs, target_means

log = logging.getLogger(__name__)

#: The student's backbone is the mobilenet branch's: its input size and pixel scaling.
BACKBONE_DATA = MobileNetBranch.data_config


class StudentConfig(BaseModel):
    """How the end-to-end student is built and trained; saved in its bundle."""

    model_config = ConfigDict(frozen=True)
    image_size: int = Field(BACKBONE_DATA.longest_side, ge=32)
    head: tuple[int, ...] = (128,)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    temperature: float = Field(2.0, gt=0.0)
    alpha: float = Field(0.2, ge=0.0, le=1.0)
    trainable_backbone_layers: int = Field(0, ge=0)
    epochs: int = Field(15, gt=0)
    patience: int = Field(5, ge=1)
    batch_size: int = Field(16, gt=0)
    learning_rate: float = Field(1e-3, gt=0.0)
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    class_weight: Literal["balanced", "none"] = "balanced"
    threshold_metric: Literal["balanced_accuracy", "f1"] = "balanced_accuracy"
    augment: bool = False
    augment_config: AugmentConfig = AugmentConfig()
    seed: int = 0


def build_student(image_size: int = BACKBONE_DATA.longest_side, backbone_weights: PathLike | None = None,
                  head: Sequence[int] = (128,), dropout: float = 0.3, trainable_backbone_layers: int = 0,
                  seed: int = 0, output: str = "binary"):
    """Keras model ``(n, s, s, 3)`` pixel values 0..255 -> ``(n, 1)`` P(aesthetic) (see module docstring).

    ``backbone_weights``: the NIMA file (``nima_mobilenet_aesthetic.hdf5``), whose MobileNet
    layers initialise the backbone; None leaves it random (seeded).
    """
    import keras

    keras.utils.set_random_seed(seed)
    _, backbone = build_nima(str(backbone_weights) if backbone_weights is not None else None)
    backbone.trainable = trainable_backbone_layers > 0
    if trainable_backbone_layers:
        for layer in backbone.layers[:-trainable_backbone_layers]:
            layer.trainable = False
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    pixels = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.layers.Rescaling(1 / BACKBONE_DATA.divisor, offset=BACKBONE_DATA.offset, name="to_minus1_1")(pixels)
    x = backbone(x)
    for k, width in enumerate(head):
        x = keras.layers.Dense(width, activation="relu", name=f"head_{k}",
                               kernel_initializer=keras.initializers.HeNormal(seed=seed + k))(x)
        x = keras.layers.Dropout(dropout, seed=seed + k, name=f"head_dropout_{k}")(x)
    out_init = keras.initializers.GlorotUniform(seed=seed + 99)
    if output == "distribution":
        dist = keras.layers.Dense(10, activation="softmax", name="distribution", kernel_initializer=out_init,
                                  dtype="float32")(x)
        return keras.Model(pixels, dist, name="student")
    if output == "mean":
        score = keras.layers.Dense(1, name="mean_score", kernel_initializer=out_init, dtype="float32",
                                   bias_initializer=keras.initializers.Constant(5.5))(x)
        return keras.Model(pixels, score, name="student")
    logit = keras.layers.Dense(1, name=LOGIT_LAYER,
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 99))(x)
    prob = keras.layers.Activation("sigmoid", name="p_aesthetic", dtype="float32")(logit)
    return keras.Model(pixels, prob, name="student")


def load_images(paths: Sequence[str], image_size: int, workers: int = 4) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode and squash images to ``(n, s, s, 3) uint8``; returns (images of the ok ones, ok mask, errors)."""
    policy = Resize(height=image_size, width=image_size)
    load = partial(read_one, prepare=policy.apply)
    loaded = [item for _, batch in decode_batches(list(paths), 64, load, workers) for item in batch]
    ok = np.array([img is not None for img, _ in loaded], dtype=bool)
    images = np.stack([img for img, _ in loaded if img is not None]) if ok.any() else \
        np.zeros((0, image_size, image_size, 3), np.uint8)
    return images, ok, [err for _, err in loaded]


def _batches(images: np.ndarray, targets: np.ndarray, weights: np.ndarray, config: StudentConfig):
    """A ``keras.utils.PyDataset`` of shuffled (augmented when enabled) training batches."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(config.seed)
            self.order = self.rng.permutation(len(images))

        def __len__(self) -> int:
            return math.ceil(len(images) / config.batch_size)

        def __getitem__(self, i: int):
            idx = self.order[i * config.batch_size:(i + 1) * config.batch_size]
            if config.augment:
                shape = images.shape[1:3]
                batch = np.stack([augment_image(images[j], self.rng, config.augment_config, shape) for j in idx])
            else:
                batch = images[idx]
            return batch.astype(np.float32), targets[idx], weights[idx]

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(images))

    return Batches()


def train_student(images: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray, groups: Sequence[str],
                  config: StudentConfig = StudentConfig(), backbone_weights: PathLike | None = None,
                  teacher_threshold: float = 0.5) -> tuple[Any, float, dict[str, Any]]:
    """Fit the student on ``images (n, s, s, 3) uint8`` to ``teacher_logits (n,)`` (+ 0/1/NaN ``labels``).

    Returns (keras model, threshold, metrics). The threshold is chosen on the validation rows'
    hard labels; without both classes there, the teacher's is kept.
    """
    y = np.asarray(labels, np.float32).reshape(-1)
    z_t = np.asarray(teacher_logits, np.float32).reshape(-1)
    if images.ndim != 4 or images.shape[1:] != (config.image_size, config.image_size, 3):
        raise ValueError(f"images must be (n, {config.image_size}, {config.image_size}, 3), got {images.shape}")
    if not (len(images) == len(y) == len(z_t)):
        raise ValueError(f"{len(images)} images, {len(y)} labels and {len(z_t)} teacher logits disagree")
    model = build_student(config.image_size, backbone_weights, config.head, config.dropout,
                          config.trainable_backbone_layers, config.seed)
    p_teacher = 1.0 / (1.0 + np.exp(-z_t))
    split_on = np.where(np.isnan(y), (p_teacher >= teacher_threshold).astype(np.float32), y)
    tr, va = stratified_group_split(split_on, groups, config.validation_fraction, config.seed)
    weights = row_weights(split_on, config.class_weight)
    targets = pack_targets(y, z_t)
    history = fit_keras(
        logit_model(model), _batches(images[tr], targets[tr], weights[tr], config),
        x_val=images[va].astype(np.float32), y_val=targets[va], val_weight=weights[va],
        loss=make_distillation_loss(config.temperature, config.alpha), learning_rate=config.learning_rate,
        batch_size=None, epochs=config.epochs, patience=config.patience, description="training student")
    p_val = predict_batched(model, images[va].astype(np.float32), batch_size=32)
    labelled = ~np.isnan(y[va])
    if len(np.unique(y[va][labelled])) == 2:
        threshold = choose_threshold(y[va][labelled], p_val[labelled], config.threshold_metric)
        metrics: dict[str, Any] = validation_summary(y[va][labelled], p_val[labelled], threshold)
    else:
        threshold, metrics = float(teacher_threshold), {}
    metrics["agreement"] = agreement(p_val, threshold, p_teacher[va], teacher_threshold)
    metrics["teacher_correlation"] = correlation(p_val, p_teacher[va])
    metrics["epochs_run"] = len(history.get("loss", []))
    metrics["train_images"], metrics["validation_images"] = int(len(tr)), int(len(va))
    log.info("student: agreement with teacher %.3f on %d validation images", metrics["agreement"], len(va))
    return model, threshold, metrics


def train_score_student(images: np.ndarray, teacher_outputs: np.ndarray, groups: Sequence[str], target: str,
                        rule, config: StudentConfig = StudentConfig(), backbone_weights: PathLike | None = None
                        ) -> tuple[Any, float, dict[str, Any]]:
    """Fit a student with a score head on ``images (n, s, s, 3) uint8`` to a score teacher's
    ``(n, 10)`` distributions or ``(n,)`` means (EMD / Huber loss; no human targets, no temperature).

    Returns (keras model, threshold 0.5 on the derived P, metrics: ``teacher_srcc``,
    ``teacher_correlation`` and ``agreement`` of the mean scores on the validation images).
    """

    teacher = np.asarray(teacher_outputs, np.float32)
    if images.ndim != 4 or images.shape[1:] != (config.image_size, config.image_size, 3):
        raise ValueError(f"images must be (n, {config.image_size}, {config.image_size}, 3), got {images.shape}")
    if len(images) != len(teacher):
        raise ValueError(f"{len(images)} images but {len(teacher)} teacher outputs")
    model = build_student(config.image_size, backbone_weights, config.head, config.dropout,
                          config.trainable_backbone_layers, config.seed, output=target)
    teacher_means = target_means(teacher)
    split_on = (teacher_means >= rule.threshold).astype(np.float32)
    tr, va = stratified_group_split(split_on, groups, config.validation_fraction, config.seed)
    ones = np.ones(len(images), np.float32)
    history = fit_keras(
        model, _batches(images[tr], teacher[tr], ones[tr], config), x_val=images[va].astype(np.float32),
        y_val=teacher[va], loss=make_score_loss(target), learning_rate=config.learning_rate, batch_size=None,
        epochs=config.epochs, patience=config.patience, description=f"training {target} student")
    pred = score_outputs(predict_batched(model, images[va].astype(np.float32), batch_size=32), target, rule)
    metrics: dict[str, Any] = {
        "teacher_srcc": rank_correlation(pred["mean_score"], teacher_means[va]),
        "teacher_correlation": correlation(pred["mean_score"], teacher_means[va]),
        "agreement": agreement(pred["mean_score"], rule.threshold, teacher_means[va], rule.threshold),
        "epochs_run": len(history.get("loss", [])), "train_images": int(len(tr)), "validation_images": int(len(va))}
    log.info("%s student: SRCC with teacher %.3f on %d validation images", target, metrics["teacher_srcc"], len(va))
    return model, 0.5, metrics


