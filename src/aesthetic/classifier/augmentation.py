"""Training-time augmentation: flips, crops, colour and exposure jitter (off by default).

Two uses, one transform (:func:`augment_image`):

- for the FC, extra feature rows per image (:func:`augment_store`): each source image gets
  ``copies`` augmented versions whose features are stored as new rows with ids
  ``"<id>#aug1"``, ``"<id>#aug2"``, ... (as ava-mlsp stores augmented features), the
  ``augment_of`` link that :func:`aesthetic.classifier.fc.source_ids` follows so a source
  and its copies never straddle a train/validation split;
- for the end-to-end student, applied on the fly to every training batch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic.classifier.fc import AUG_SEPARATOR
from aesthetic.feature_store import STATUS_OK, BranchData, FeatureStore, write_store
from aesthetic.fileio import library_versions
from aesthetic.imageio import ImageReadError, read_image
from aesthetic.progress import Progress
from aesthetic.feature_extraction import FeatureExtractor

log = logging.getLogger(__name__)


class AugmentConfig(BaseModel):
    """Ranges of each random change; 0 turns one off.

    ``crop``: smallest kept fraction of each side (1 = no crop); ``exposure``: +-stops
    (a factor ``2**ev``); ``contrast``/``saturation``: +-fraction around 1; ``colour``:
    +-fraction of independent per-channel gains (a white-balance shift).
    """

    model_config = ConfigDict(frozen=True)
    flip: bool = True
    crop: float = Field(0.85, gt=0.0, le=1.0)
    exposure: float = Field(0.4, ge=0.0)
    contrast: float = Field(0.15, ge=0.0, lt=1.0)
    saturation: float = Field(0.2, ge=0.0, lt=1.0)
    colour: float = Field(0.05, ge=0.0, lt=1.0)


def augment_image(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig(),
                  out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """One random augmented copy of an ``(H, W, 3) uint8`` image.

    The crop keeps a random ``[crop, 1]`` fraction of each side; with ``out_shape``
    ``(height, width)`` the result is resized to it (the student's fixed input), else it
    keeps the cropped size (the extractor's own input policy resizes it later).
    """
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"augment_image needs an (H, W, 3) uint8 image, got {img.shape} {img.dtype}")
    h, w = img.shape[:2]
    if config.flip and rng.random() < 0.5:
        img = img[:, ::-1]
    if config.crop < 1.0:
        ch = max(1, int(round(h * rng.uniform(config.crop, 1.0))))
        cw = max(1, int(round(w * rng.uniform(config.crop, 1.0))))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        img = img[top:top + ch, left:left + cw]
    x = img.astype(np.float32)
    if config.exposure:
        x *= 2.0 ** rng.uniform(-config.exposure, config.exposure)
    if config.contrast:
        mean = x.mean()
        x = (x - mean) * rng.uniform(1 - config.contrast, 1 + config.contrast) + mean
    if config.saturation:
        gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = gray[..., None] + (x - gray[..., None]) * rng.uniform(1 - config.saturation, 1 + config.saturation)
    if config.colour:
        x *= rng.uniform(1 - config.colour, 1 + config.colour, size=3).astype(np.float32)
    out = np.clip(x, 0, 255).round().astype(np.uint8)
    if out_shape is not None and out.shape[:2] != tuple(out_shape):
        out = cv2.resize(np.ascontiguousarray(out), (out_shape[1], out_shape[0]), interpolation=cv2.INTER_AREA
                         if out.shape[0] * out.shape[1] > out_shape[0] * out_shape[1] else cv2.INTER_LINEAR)
    return np.ascontiguousarray(out)


def augmented_ids(source_id: str, copies: int) -> list[str]:
    """``["x.jpg#aug1", ..., "x.jpg#augN"]``."""
    return [f"{source_id}{AUG_SEPARATOR}{k}" for k in range(1, copies + 1)]


def augmented_feature_rows(extractor, images: Sequence[np.ndarray], ids: Sequence[str], copies: int = 2,
                           config: AugmentConfig = AugmentConfig(), seed: int = 0
                           ) -> tuple[list[str], dict[str, np.ndarray]]:
    """Features of ``copies`` augmented versions of each image, through ``extractor``.

    Returns ``(ids, {branch: (len(images) * copies, width) float32})``; rows are grouped by
    source image in input order and named ``<id>#augK``. The same ``seed`` gives the same copies.
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    rng = np.random.default_rng(seed)
    out_ids, augmented = [], []
    for image, source in zip(images, ids):
        for new_id in augmented_ids(str(source), copies):
            out_ids.append(new_id)
            augmented.append(augment_image(image, rng, config))
    return out_ids, extractor.extract_arrays(augmented)


def augment_store(features: str | Path, out: str | Path, copies: int = 2,
                  config: AugmentConfig = AugmentConfig(), seed: int = 0, extractor=None,
                  batch_images: int = 64) -> Path:
    """A new store: every row of ``features`` plus ``copies`` augmented rows per readable source.

    The extractor is rebuilt from the store's metadata unless given. Augmented rows copy
    the source's path and label; sources whose image can no longer be read are kept but
    get no augmented rows (the reason is logged). Holds the new rows in memory.
    """

    with FeatureStore.open(features) as store:
        if extractor is None:
            if "extractor" not in store.metadata:
                raise ValueError(f"{features}: store metadata has no extractor config; pass an extractor")
            extractor = FeatureExtractor.from_config(store.metadata["extractor"], where=str(features))
        if [b for b in store.branches if b not in extractor.branch_names]:
            raise ValueError(f"{features}: branches {store.branches} are not all produced by the extractor "
                             f"({extractor.branch_names})")
        rows = np.flatnonzero(store.ok & np.array([AUG_SEPARATOR not in i for i in store.ids]))
        new_ids, new_paths, new_labels, new_feats = [], [], [], {b: [] for b in store.branches}
        with Progress(len(rows), "augmenting", unit="images") as bar:
            for start in range(0, len(rows), batch_images):
                block = rows[start:start + batch_images]
                images, keep = [], []
                for r in block:
                    try:
                        images.append(read_image(store.paths[r], extractor.max_pixels))
                        keep.append(r)
                    except ImageReadError as exc:
                        log.warning("no augmented rows for %s: %s", store.ids[r], exc.reason)
                if images:
                    ids, feats = augmented_feature_rows(extractor, images, [store.ids[r] for r in keep], copies,
                                                        config, seed + start)
                    new_ids += ids
                    new_paths += [store.paths[r] for r in keep for _ in range(copies)]
                    new_labels += [float(store.labels[r]) for r in keep for _ in range(copies)]
                    for b in store.branches:
                        new_feats[b].append(feats[b])
                bar.update(len(block))
        n_new = len(new_ids)
        branches = {}
        for b in store.branches:
            extra = np.concatenate(new_feats[b]) if new_feats[b] else np.zeros((0, store.widths[b]), np.float32)
            branches[b] = BranchData(np.concatenate([store.read(b), extra]), store.branch_attrs(b))
        metadata = dict(store.metadata)
        metadata["augment"] = {"source": str(features), "copies": copies, "seed": seed,
                               "config": config.model_dump(), "rows_added": n_new,
                               "library_versions": library_versions()}
        dtype = str(store._files[0]["features"][store.branches[0]].dtype)
        return write_store(
            out, ids=list(store.ids) + new_ids, paths=list(store.paths) + new_paths,
            labels=np.concatenate([store.labels, np.asarray(new_labels, np.float32)]),
            status=np.concatenate([store.status, np.full(n_new, STATUS_OK, np.int8)]),
            errors=list(store.errors) + [""] * n_new, branches=branches, metadata=metadata, dtype=dtype)
