"""The end-to-end student: raw pixels -> MobileNet v1 -> small head -> P(aesthetic).

Scoring with it needs neither InceptionResNetV2 nor EfficientNetB7. It learns from the
teacher's soft labels (teacher logits computed from the feature store, so no teacher
backbone is run), with the binary distillation loss of :mod:`aesthetic.distillation`.

Network (:func:`build_student`)::

    pixels (n, s, s, 3) float32 in 0..255  (images squashed to s x s, NIMA's policy; s = 224)
      -> Rescaling to [-1, 1] (MobileNet's preprocessing, inside the model)
      -> MobileNet v1 backbone, global average pooled (1024)   initialised from the NIMA file
      -> [Dense(h) -> ReLU -> Dropout] per ``head`` width -> Dense(1) "logit" -> sigmoid

The backbone starts from the NIMA file's MobileNet layers (AVA fine-tuned) when given,
random otherwise. By default it stays frozen (CPU-friendly: only the head trains);
``trainable_backbone_layers`` unfreezes the last layers (BatchNorm stays frozen).
Augmentation (flip, crop, colour/exposure jitter) is applied on the fly when enabled.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic.augmentation import AugmentConfig, augment_image
from aesthetic.classifier import (AUG_SEPARATOR, LOGIT_LAYER, binary_metrics, choose_threshold, fit_keras, logit_model,
                                  predict_batched, row_weights, source_ids, stratified_group_split)
from aesthetic.distillation import agreement, correlation, make_distillation_loss, pack_targets
from aesthetic.feature_store import FeatureStore, PathLike
from aesthetic.model import (CONFIG_FILE, METRICS_FILE, MODEL_FILE, STUDENT_DIR, AestheticModel, BundleError,
                             StudentModel, _json, bundle_header, load_model, write_bundle)

log = logging.getLogger(__name__)


class StudentConfig(BaseModel):
    """How the end-to-end student is built and trained; saved in its bundle."""

    model_config = ConfigDict(frozen=True)
    image_size: int = Field(224, ge=32)
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


def build_student(image_size: int = 224, backbone_weights: PathLike | None = None, head: Sequence[int] = (128,),
                  dropout: float = 0.3, trainable_backbone_layers: int = 0, seed: int = 0):
    """Keras model ``(n, s, s, 3)`` pixel values 0..255 -> ``(n, 1)`` P(aesthetic) (see module docstring).

    ``backbone_weights``: the NIMA file (``nima_mobilenet_aesthetic.hdf5``), whose MobileNet
    layers initialise the backbone; None leaves it random (seeded).
    """
    import keras

    from aesthetic.feature_extraction.branches.mobilenet import build_nima

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
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_minus1_1")(pixels)
    x = backbone(x)
    for k, width in enumerate(head):
        x = keras.layers.Dense(width, activation="relu", name=f"head_{k}",
                               kernel_initializer=keras.initializers.HeNormal(seed=seed + k))(x)
        x = keras.layers.Dropout(dropout, seed=seed + k, name=f"head_dropout_{k}")(x)
    logit = keras.layers.Dense(1, name=LOGIT_LAYER,
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 99))(x)
    prob = keras.layers.Activation("sigmoid", name="p_aesthetic", dtype="float32")(logit)
    return keras.Model(pixels, prob, name="student")


def load_images(paths: Sequence[str], image_size: int, workers: int = 4) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode and squash images to ``(n, s, s, 3) uint8``; returns (images of the ok ones, ok mask, errors)."""
    from concurrent.futures import ThreadPoolExecutor

    from aesthetic.imageio import ImageReadError, Resize, read_image

    policy = Resize(height=image_size, width=image_size)

    def one(path: str):
        try:
            return policy.apply(read_image(path)), ""
        except ImageReadError as exc:
            return None, exc.reason

    with ThreadPoolExecutor(workers) as pool:
        loaded = list(pool.map(one, [str(p) for p in paths]))
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
        metrics: dict[str, Any] = binary_metrics(y[va][labelled], p_val[labelled], threshold)
    else:
        threshold, metrics = float(teacher_threshold), {}
    metrics["agreement"] = agreement(p_val, threshold, p_teacher[va], teacher_threshold)
    metrics["teacher_correlation"] = correlation(p_val, p_teacher[va])
    metrics["epochs_run"] = len(history.get("loss", []))
    metrics["train_images"], metrics["validation_images"] = int(len(tr)), int(len(va))
    log.info("student: agreement with teacher %.3f on %d validation images", metrics["agreement"], len(va))
    return model, threshold, metrics


def save_student_bundle(out: PathLike, model, threshold: float, config: StudentConfig, metrics: dict[str, Any],
                        extra_config: dict[str, Any] | None = None) -> Path:
    """Write a student bundle (``model.keras`` + ``config.json`` + ``metrics.json``) atomically."""
    cfg = bundle_header("student")
    cfg.update({"threshold": float(threshold), "image_size": int(config.image_size),
                "input_policy": f"resize({config.image_size}x{config.image_size})",
                "student": config.model_dump(mode="json")})
    cfg.update(extra_config or {})

    def write(tmp: Path) -> None:
        model.save(tmp / MODEL_FILE)
        (tmp / CONFIG_FILE).write_text(_json(cfg), encoding="utf-8")
        (tmp / METRICS_FILE).write_text(_json(metrics), encoding="utf-8")

    return write_bundle(out, write)


def distill_end_to_end(teacher_dir: PathLike, out: PathLike | None = None, *, features: PathLike | None = None,
                       config: StudentConfig = StudentConfig(), backbone_weights: PathLike | None = "nima",
                       labels=None, max_images: int | None = None) -> tuple[StudentModel, dict[str, Any]]:
    """Distil the full model at ``teacher_dir`` into an end-to-end student bundle.

    Images are the extracted rows of the teacher's training store (or ``features``); teacher
    logits come from the stored features. ``out`` defaults to ``MODEL/student``.
    ``backbone_weights``: ``"nima"`` (the shared NIMA file, when found), a path, or None.
    """
    from aesthetic.training import store_labels, training_features_of

    teacher = load_model(teacher_dir)
    if not isinstance(teacher, AestheticModel):
        raise BundleError(f"{teacher_dir}: a {teacher.kind} bundle cannot teach; pass a full model bundle")
    if backbone_weights == "nima":
        from aesthetic.nima import default_weights_path

        backbone_weights = default_weights_path()
        if backbone_weights is None:
            log.warning("NIMA weights not found: the student's backbone starts from random weights")
    out = Path(out) if out is not None else Path(teacher_dir) / STUDENT_DIR
    with FeatureStore.open(training_features_of(teacher, features)) as store:
        rows = np.flatnonzero(store.ok & np.array([AUG_SEPARATOR not in i for i in store.ids]))
        if max_images is not None:
            rows = rows[:max_images]
        images, ok, errors = load_images(store.paths[rows], config.image_size)
        for r, err in zip(rows[~ok], [e for e, good in zip(errors, ok) if not good]):
            log.warning("student: skipping %s (%s)", store.paths[r], err)
        rows = rows[ok]
        z_t = teacher.logits_store(store, rows)
        y = store_labels(store, labels)[rows]
        model, threshold, metrics = train_student(images, z_t, y, source_ids(store.ids[rows]), config,
                                                  backbone_weights, teacher.network_threshold)
        source = str(Path(store.source).resolve())
    extra = {"teacher": str(Path(teacher_dir).resolve()), "features": source,
             "backbone_weights": None if backbone_weights is None else str(backbone_weights),
             "label_rule": teacher.config.get("label_rule", {})}
    save_student_bundle(out, model, threshold, config, metrics, extra)
    return load_model(out), metrics  # type: ignore[return-value]
