"""Sensitivity training: teach the model what a spoiled photo and an empty frame look like.

Labels that come from *sources* (wallpaper collections vs snapshots) teach shortcuts: curated
photos are smooth and clean, so "less detail" becomes "more aesthetic", and a grey frame scores
P = 1. As the original system did ("augmentation on the training data to make a sensitive
model"), the training photos get extra rows:

- degraded copies labelled **not aesthetic** (0): each copy draws one degradation (blur, down-up
  scaling, JPEG, under- or over-exposure, noise, a crooked tilt, a bad crop) and a strength
  uniformly from that degradation's range (:class:`SensitivityConfig`); ``copies`` per aesthetic
  photo and, in the two_heads design, ``copies_not`` per other photo;
- clean views that keep their source's label: the centred square and a centred 3:4 portrait
  window (so aspect ratio stops being a cue) and the horizontal mirror (so a flip does not change
  the call);

plus ``synthetic_frames`` near-empty frames (flat colours, smooth gradients, heavily blurred
blobs) labelled 0. Default ranges bracket KADID-10k's middle-to-severe levels for the same
distortion types, so the acceptance strengths (blur sigma 3, 8x down-up, JPEG q10, -2 EV, noise
sigma 25) sit inside them rather than at their edges.

Two designs use these rows. **two_heads** (the default, :mod:`aesthetic.classifier.quality`): an
aesthetic head learns from the clean rows only (:data:`CLEAN_KINDS`, their own labels) and a
quality head learns clean vs degraded on copies of photos of *both* classes, so a degradation says
nothing about the class; the model's P is their product. **one_head**: the copies of the aesthetic
photos are mixed into one FC as "not aesthetic", which moves its boundary between clean photos
(balanced accuracy 0.85 -> 0.71 on the shared suite).

Copies are rows ``<source id>#aug-s<k>-<kind>`` (:data:`aesthetic.classifier.fc.AUG_SEPARATOR`), so
:func:`aesthetic.classifier.fc.source_ids` groups them with their source and a source and its copies
never straddle a split or a fold; each synthetic frame is its own group. Their features come from
the store's own extractor config and are cached in a feature store of their own, keyed by the
configuration, the extractor and the source photos, so a rerun does not extract again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic import degradations as D
from aesthetic.classifier.fc import AUG_SEPARATOR

log = logging.getLogger(__name__)

Kind = Literal["blur", "down_up", "jpeg", "underexpose", "overexpose", "noise", "tilt", "bad_crop"]
ALL_KINDS: tuple[str, ...] = ("blur", "down_up", "jpeg", "underexpose", "overexpose", "noise", "tilt", "bad_crop")
SYNTHETIC_PREFIX = "synthetic-frame-"
#: Rows that show a photo as it was taken (the original and its label-preserving views): the
#: aesthetic head learns from these, and the quality head calls them clean.
CLEAN_KINDS: tuple[str, ...] = ("original", "square", "portrait", "hflip")
Design = Literal["two_heads", "one_head"]
#: What the statistics quality head learns by default: what 512-px gradient and tone statistics see
#: and globally pooled CNN features confuse with a clean smooth or shallow-focus photo.
STATS_KINDS: tuple[str, ...] = ("blur", "down_up", "underexpose", "overexpose")
#: What the CNN quality head learns beside the statistics head (see :mod:`aesthetic.classifier.quality`).
CNN_KINDS: tuple[str, ...] = ("jpeg", "noise")
#: Settings that decide how the rows are *used*, not which rows are made: left out of the cache key.
TRAINING_ONLY_FIELDS = frozenset({"stats_kinds", "cnn_kinds", "head_weights", "weight_slack"})


class SensitivityConfig(BaseModel):
    """What sensitivity training adds. Ranges are ``(low, high)``, sampled uniformly per copy;
    pixel sizes refer to the photo as decoded (max side 500 in ../shared/data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    design: Design = Field("two_heads", description=(
        "two_heads: an aesthetic head on the photos and their clean views, times a quality head "
        "(clean vs degraded copies of photos of both classes), P = P_aesthetic * P_clean; "
        "one_head: one FC with degraded copies of the aesthetic photos labelled not aesthetic"))
    copies: int = Field(16, ge=0, le=200, description="degraded copies (label 0) per aesthetic training photo")
    copies_not: int = Field(4, ge=0, le=200, description=(
        "two_heads: degraded copies per not-aesthetic photo, so the quality head learns the degradation, "
        "not the class"))
    flips: bool = Field(True, description="add the horizontal mirror of every photo, with its label")
    kinds: tuple[Kind, ...] = Field(ALL_KINDS, description="degradations a copy draws from, equally likely")
    blur_sigma: tuple[float, float] = Field((1.5, 6.0), description="Gaussian blur sigma, pixels")
    down_up_factor: tuple[float, float] = Field((4.0, 12.0), description="shrink factor before enlarging back")
    jpeg_quality: tuple[int, int] = Field((4, 20), description="libjpeg quality, inclusive")
    underexpose_ev: tuple[float, float] = Field((1.3, 3.5), description="stops darker")
    overexpose_ev: tuple[float, float] = Field((1.3, 3.0), description="stops brighter")
    noise_sigma: tuple[float, float] = Field((12.0, 45.0), description="Gaussian noise sigma, grey levels")
    tilt_degrees: tuple[float, float] = Field((8.0, 25.0), description="rotation either way, cropped to fill")
    bad_crop_keep: tuple[float, float] = Field((0.3, 0.55), description="fraction of each side kept, in a corner")
    geometry: bool = Field(True, description="add the centred square and 3:4 portrait crops of each aesthetic "
                                             "photo (two_heads: of every photo), with its label")
    synthetic_frames: int = Field(90, ge=0, le=10_000, description="flat, gradient and blurred-blob frames (label 0)")
    seed: int = Field(0, description="seeds the copies (per source id) and the synthetic frames")
    stats_kinds: tuple[Kind, ...] = Field(STATS_KINDS, description=(
        "two_heads with the pixel_stats branch among the features: the degradations a small FC on the "
        "pixel statistics learns (its P(clean) joins the product); empty: one CNN quality head for every kind"))
    cnn_kinds: tuple[Kind, ...] = Field(CNN_KINDS, description=(
        "with the statistics quality head: the degradations the CNN quality head learns; a kind in neither "
        "list is made but not learned (tilt and bad_crop by default: to pooled CNN features an enlarged part "
        "of a photo looks like a clean smooth one, which cost a fifth of the clean aesthetic photos)"))
    head_weights: Literal["fitted", "product"] = Field("fitted", description=(
        "two_heads: how each quality head's P(clean) enters P(aesthetic). fitted: raised to a weight in "
        "(0, 1] chosen with the threshold on out-of-fold scores, for the best balanced accuracy on the "
        "photos that still rejects each kind of degraded copy about as often as the plain product "
        "(see weight_slack); product: every weight 1"))
    weight_slack: float = Field(0.1, ge=0.0, le=1.0, description=(
        "head_weights fitted: how much lower than the plain product's each degradation kind's rejected "
        "share (out of fold, the aesthetic photos' copies, taken at aesthetic-head P = 1) may fall"))

    def strength_range(self, kind: str) -> tuple[float, float]:
        return {"blur": self.blur_sigma, "down_up": self.down_up_factor, "jpeg": self.jpeg_quality,
                "underexpose": self.underexpose_ev, "overexpose": self.overexpose_ev,
                "noise": self.noise_sigma, "tilt": self.tilt_degrees, "bad_crop": self.bad_crop_keep}[kind]


def degrade(image: np.ndarray, kind: str, strength: float, seed: int = 0) -> np.ndarray:
    """``image`` spoiled by ``kind`` at ``strength`` (the unit of that kind's config range).
    ``seed`` picks the noise field, the tilt direction and the bad crop's corner."""
    if kind == "blur":
        return D.gaussian_blur(image, strength)
    if kind == "down_up":
        return D.down_up(image, strength)
    if kind == "jpeg":
        return D.jpeg_roundtrip(image, int(round(strength)))
    if kind == "underexpose":
        return D.exposure(image, -strength)
    if kind == "overexpose":
        return D.exposure(image, strength)
    if kind == "noise":
        return D.gaussian_noise(image, strength, seed)
    if kind == "tilt":
        return D.tilt(image, strength if seed % 2 == 0 else -strength)
    if kind == "bad_crop":
        return D.bad_crop(image, strength, seed % 4)
    raise ValueError(f"unknown degradation {kind!r}; expected one of {', '.join(ALL_KINDS)}")


def portrait_crop(image: np.ndarray) -> np.ndarray:
    """The centred 3:4 (width:height) window of the largest size that fits."""
    h, w = image.shape[:2]
    ph = min(h, int(round(w * 4 / 3)))
    pw = min(w, int(round(ph * 3 / 4)))
    top, left = (h - ph) // 2, (w - pw) // 2
    return np.ascontiguousarray(image[top:top + ph, left:left + pw])


@dataclass(frozen=True)
class CopySpec:
    """One extra row: its id, its source (None for a synthetic frame), what to do, and its label."""

    id: str
    source: str | None
    kind: str            # a degradation kind, "square", "portrait" or "synthetic"
    strength: float
    seed: int
    label: float

    def render(self, image: np.ndarray | None, frames: dict[int, np.ndarray] | None = None) -> np.ndarray:
        if self.kind == "square":
            return D.center_crop_square(image)
        if self.kind == "portrait":
            return portrait_crop(image)
        if self.kind == "hflip":
            return D.horizontal_flip(image)
        if self.kind == "synthetic":
            return frames[self.seed]
        return degrade(image, self.kind, self.strength, self.seed)


def plan_copies(sources: Sequence[str], config: SensitivityConfig = SensitivityConfig(),
                labels: Sequence[float] | None = None) -> list[CopySpec]:
    """Every extra row for the photos ``sources`` (store ids) of ``labels`` (default: all aesthetic),
    the same for the same config.

    An aesthetic photo gets ``copies`` degraded copies (label 0), a not-aesthetic one ``copies_not``
    (two_heads design only); the geometry crops (aesthetic photos only in the one_head design) and the
    mirror keep their source's label. A source's copies depend only on its id and the seed (not on
    the other sources), so adding photos to a training set leaves the existing copies as they were.
    """
    labels = [1.0] * len(sources) if labels is None else [float(v) for v in labels]
    if len(labels) != len(sources):
        raise ValueError(f"labels must give one label per source: {len(labels)} for {len(sources)} sources")
    two_heads = config.design == "two_heads"
    specs: list[CopySpec] = []
    for source, label in zip(sources, labels):
        if label != 1.0 and not two_heads:
            continue
        digest = hashlib.sha256(f"{config.seed}:{source}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        for k in range(1, (config.copies if label == 1.0 else config.copies_not) + 1):
            kind = config.kinds[int(rng.integers(len(config.kinds)))]
            low, high = config.strength_range(kind)
            strength = float(rng.integers(int(low), int(high) + 1)) if kind == "jpeg" else float(rng.uniform(low, high))
            specs.append(CopySpec(f"{source}{AUG_SEPARATOR}-s{k}-{kind}", source, kind, strength,
                                  int(rng.integers(1 << 31)), 0.0))
        views = (["square", "portrait"] if config.geometry else []) + (["hflip"] if config.flips else [])
        specs += [CopySpec(f"{source}{AUG_SEPARATOR}-{view}", source, view, 0.0, 0, label) for view in views]
    specs += [CopySpec(f"{SYNTHETIC_PREFIX}{k:04d}", None, "synthetic", 0.0, k, 0.0)
              for k in range(config.synthetic_frames)]
    return specs


def head_targets(ids: Sequence[str]) -> np.ndarray:
    """For the two_heads design, from row ids: ``clean``, ``(n,)`` bool, the one mask both heads need.
    The aesthetic head trains on the clean rows (originals, crops, mirrors) with their labels; the
    quality head on every row, target 1 for a clean row and 0 for a degraded copy or a synthetic frame."""
    return np.isin(row_kinds(ids), CLEAN_KINDS)


def synthetic_frame_images(config: SensitivityConfig) -> dict[int, np.ndarray]:
    """The config's synthetic frames by index (deterministic from ``config.seed``)."""
    return dict(enumerate(D.synthetic_frames(config.synthetic_frames, seed=config.seed)))


def cache_key(config: SensitivityConfig, extractor_config: dict[str, Any], sources: Sequence[tuple]) -> str:
    """sha256 of everything the cached rows depend on: the config, the extractor and the
    ``(id, path, label)`` of every source photo."""
    body = json.dumps({"config": config.model_dump(mode="json", exclude=set(TRAINING_ONLY_FIELDS)),
                       "extractor": extractor_config,
                       "sources": sorted(map(list, sources))}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def default_cache_path(features: str | Path) -> Path:
    """``train.h5`` -> ``train.sensitivity.h5`` beside it."""
    p = Path(features)
    return p.with_name(f"{p.stem}.sensitivity.h5")


def readable_sources(ids: Sequence[str], paths: Sequence[str]) -> tuple[list[int], list[str]]:
    """Positions of the photos whose file exists, and one reason per missing one."""
    keep, missing = [], []
    for k, (i, p) in enumerate(zip(ids, paths)):
        if os.path.isfile(p):
            keep.append(k)
        else:
            missing.append(f"{i}: {p} not found")
    return keep, missing


def build_sensitivity_store(out: str | Path, ids: Sequence[str], paths: Sequence[str], extractor,
                            config: SensitivityConfig = SensitivityConfig(), batch_images: int = 32,
                            progress: bool = True, labels: Sequence[float] | None = None) -> Path:
    """Extract every row of :func:`plan_copies` for the photos ``ids``/``paths`` (of ``labels``,
    default all aesthetic) into a feature store at ``out`` (labels 0/1 as planned), unless ``out``
    already holds exactly these rows (same :func:`cache_key`). Photos that cannot be decoded get no
    rows (logged)."""
    from aesthetic.feature_store import STATUS_OK, BranchData, FeatureStore, write_store
    from aesthetic.fileio import library_versions
    from aesthetic.imageio import ImageReadError, read_image
    from aesthetic.progress import Progress

    out = Path(out)
    extractor_config = extractor.config().model_dump()
    labels = [1.0] * len(ids) if labels is None else [float(v) for v in labels]
    key = cache_key(config, extractor_config, list(zip(ids, paths, labels)))
    if out.exists():
        try:
            with FeatureStore.open(out) as cached:
                if cached.metadata.get("sensitivity", {}).get("key") == key:
                    log.info("sensitivity rows: reusing %s (%d rows)", out, len(cached))
                    return out
        except Exception as exc:  # an unreadable cache is rebuilt, never trusted
            log.warning("sensitivity cache %s unusable (%s); extracting again", out, exc)
    path_of = dict(zip(ids, paths))
    specs = plan_copies(list(ids), config, labels)
    frames = synthetic_frame_images(config)
    by_source: dict[str | None, list[CopySpec]] = {}
    for spec in specs:
        by_source.setdefault(spec.source, []).append(spec)
    done_ids, done_paths, done_labels = [], [], []
    feats: dict[str, list[np.ndarray]] = {b: [] for b in extractor.branch_names}
    pending_imgs: list[np.ndarray] = []
    pending: list[CopySpec] = []

    def flush():
        if not pending_imgs:
            return
        got = extractor.extract_arrays(pending_imgs)
        for b in extractor.branch_names:
            feats[b].append(got[b])
        done_ids.extend(s.id for s in pending)
        done_paths.extend(path_of.get(s.source, "") if s.source else f"<{s.id}>" for s in pending)
        done_labels.extend(s.label for s in pending)
        pending_imgs.clear()
        pending.clear()

    with Progress(len(specs), "sensitivity rows", unit="images", enabled=progress) as bar:
        for source, group in by_source.items():
            image = None
            if source is not None:
                try:
                    image = read_image(path_of[source], extractor.max_pixels)
                except ImageReadError as exc:
                    log.warning("no sensitivity rows for %s: %s", source, exc.reason)
                    bar.update(len(group))
                    continue
            for spec in group:
                pending_imgs.append(spec.render(image, frames))
                pending.append(spec)
                if len(pending_imgs) >= batch_images:
                    n = len(pending_imgs)
                    flush()
                    bar.update(n)
        n = len(pending_imgs)
        flush()
        bar.update(n)
    branches = {}
    extractor_attrs = {b: extractor.branch_attrs(b) for b in extractor.branch_names}
    for b in extractor.branch_names:
        block = np.concatenate(feats[b]) if feats[b] else np.zeros((0, extractor.widths[b]), np.float32)
        branches[b] = BranchData(block, extractor_attrs[b])
    n_rows = len(done_ids)
    metadata = {"extractor": extractor_config,
                "sensitivity": {"key": key, "config": config.model_dump(mode="json"), "sources": len(ids),
                                "rows": n_rows, "library_versions": library_versions()}}
    return write_store(out, ids=done_ids, paths=done_paths, labels=np.asarray(done_labels, np.float32),
                       status=np.full(n_rows, STATUS_OK, np.int8), errors=[""] * n_rows, branches=branches,
                       metadata=metadata, dtype="float32")


def row_kinds(ids: Sequence[str]) -> np.ndarray:
    """What each sensitivity row is (``blur``, ``square``, ``synthetic``...) from its id."""
    out = []
    for i in ids:
        if str(i).startswith(SYNTHETIC_PREFIX):
            out.append("synthetic")
        elif f"{AUG_SEPARATOR}-s" in str(i):
            out.append(str(i).rsplit("-", 1)[1])
        else:
            out.append(str(i).rsplit("-", 1)[1] if AUG_SEPARATOR in str(i) else "original")
    return np.array(out, dtype=object)
