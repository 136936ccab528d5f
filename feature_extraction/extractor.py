"""Images in, features out: the in-memory extractor that the job, prediction and explanations share.

Each branch resizes with its own policy; images that come out the same shape are
batched together (shape buckets), so a folder of 4:3 photos runs in full batches
while odd shapes do not force padding.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
from pydantic import BaseModel, Field

from aesthetic.backend import inference_fn
from aesthetic.imageio import DEFAULT_MAX_PIXELS, InputPolicy, decode_batches, default_read_policy, read_one
from aesthetic.precision import Precision, dtype_policy_scope, policy_name, resolve_precision
from .branches import Branch, DataConfig, get_branch, list_branches
from .weights import FeatureVersionError, ResolvedWeights, WeightsError, WeightsSpec, resolve_weights

log = logging.getLogger(__name__)

WeightsArg = Union[WeightsSpec, Mapping[str, WeightsSpec]]


@dataclass
class ExtractionResult:
    """Features for a list of paths; rows of failed images are zero and ``ok`` is False there."""

    features: dict[str, np.ndarray]
    ok: np.ndarray
    errors: list[str] = field(default_factory=list)

    def fused(self, branches: Sequence[str] | None = None) -> np.ndarray:
        return np.concatenate([self.features[b] for b in (branches or list(self.features))], axis=1)


class ExtractorConfig(BaseModel):
    """What builds a :class:`FeatureExtractor`; saved as JSON in every store's metadata (``"extractor"``)
    so a model trained on the store can score new photos exactly as its features were made.

    Stores written before this model existed hold the same keys as a plain dict; missing keys
    take these defaults and unknown keys are ignored, so they open and rebuild unchanged.
    """

    branches: list[str] = Field(default_factory=lambda: ["multigap", "efficientnet"])
    weights: dict[str, Optional[str]] = Field(default_factory=dict, description="branch -> 'imagenet' | path | None; missing means imagenet")
    input_scale: float = Field(1.0, gt=0, le=4)
    upscale: bool = Field(True, description="enlarge images smaller than a max-side policy's side (multigap)")
    batch_size: int = Field(8, ge=1)
    seed: int = 0
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0)
    weights_sha256: dict[str, str] = Field(default_factory=dict,
                                           description="branch -> sha256 of its weights file when one was used")
    precision: Precision = Field("auto", description="fp32 | bf16 | auto: the networks' compute precision "
                                                     "(auto: bf16 where the hardware runs it natively); "
                                                     "stores record the resolved one")
    versions: dict[str, int] = Field(default_factory=dict,
                                     description="recorded, not a setting: branch -> version of its feature "
                                                 "definition (Branch.version); missing (records made "
                                                 "before versions) means 1")

    def check_versions(self, where: str = "these features") -> None:
        """Refuse features made by another definition of a branch than this package computes: a store, a
        cache or a bundle from before a branch changed would otherwise be scored or trained beside new ones.
        Unknown branch names are left to the caller's own check, which names them."""
        known = set(list_branches())
        for name in (b for b in self.branches if b in known):
            recorded, current = self.versions.get(name, 1), get_branch(name).version
            if recorded != current:
                raise FeatureVersionError(
                    f"{where}: branch '{name}' features were computed by version {recorded} of its definition and "
                    f"this package computes version {current}; extract them again (aesthetic extract) "
                    f"and retrain whatever was trained on them")

    def build(self, **options: Any) -> "FeatureExtractor":
        """The extractor these settings describe (branches missing from ``weights`` use ImageNet);
        ``options``: constructor arguments that do not change the features (``workers``)."""
        weights = {b: self.weights.get(b, "imagenet") for b in self.branches}
        return FeatureExtractor(self.branches, weights, self.input_scale, self.batch_size, self.seed,
                                self.max_pixels, upscale=self.upscale, precision=self.precision, **options)


def _per_branch(weights: WeightsArg, branches: Sequence[str]) -> dict[str, WeightsSpec]:
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(branches)
        if unknown:
            raise ValueError(f"weights given for branches not extracted: {', '.join(sorted(unknown))}")
        return {b: weights.get(b, "imagenet") for b in branches}
    return {b: weights for b in branches}


def shape_buckets(shapes: Sequence[tuple[int, ...]], batch_size: int) -> list[list[int]]:
    """Group indices by shape, in first-seen order, then split each group into batches."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    return [idx[s:s + batch_size] for idx in groups.values() for s in range(0, len(idx), batch_size)]


class FeatureExtractor:
    """Build the branches once, then extract from arrays or paths.

    ``input_scale`` shrinks every branch's input policy (tests and quick benchmarks);
    1.0 is the product's geometry (max side 996, letterbox 600, 224).
    ``upscale``: whether max-side policies (multigap) enlarge images smaller than their side
    (True, the default: features are computed at one scale whatever the source size) or
    leave them as they are (faster on small photos, but scale-dependent features).
    ``seed`` fixes the random initialisation when a branch has no weights, so two
    processes build identical networks (resumed jobs rely on it).
    ``precision``: ``fp32 | bf16 | auto`` (:mod:`aesthetic.precision`), resolved at construction
    (``self.precision`` is ``fp32`` or ``bf16``); the networks are built under its dtype policy.
    """

    def __init__(self, branches: Sequence[str] = ("multigap", "efficientnet"),
                 weights: WeightsArg = "imagenet", input_scale: float = 1.0, batch_size: int = 8,
                 seed: int = 0, max_pixels: int = DEFAULT_MAX_PIXELS, workers: Optional[int] = None,
                 upscale: bool = True, precision: str = "auto"):
        if not branches:
            raise ValueError("at least one branch is required")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 < input_scale <= 4:
            raise ValueError(f"input_scale must be in (0, 4], got {input_scale}")
        self.branch_names = list(dict.fromkeys(branches))
        self.branches: list[Branch] = [get_branch(b) for b in self.branch_names]
        self.weights_spec = {b: (None if s is None else str(s)) for b, s in _per_branch(weights, self.branch_names).items()}
        for br in self.branches:
            if br.weightless:  # e.g. --weights nima for every branch: nothing to load into statistics
                self.weights_spec[br.name] = None
        self.weights: dict[str, ResolvedWeights] = {
            br.name: resolve_weights(self.weights_spec[br.name], br.name, br.known_weights) for br in self.branches}
        self.input_scale = float(input_scale)
        self.upscale = bool(upscale)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.max_pixels = int(max_pixels)
        self.precision = resolve_precision(precision)
        self.workers = workers or min(8, (os.cpu_count() or 2) * 2)
        self.data_configs: dict[str, DataConfig] = {br.name: self._scaled_data(br) for br in self.branches}
        self._models: dict[str, Any] = {}
        self._fns: dict[str, Callable] = {}
        self._layers: dict[str, list[str]] = {}

    def _scaled_data(self, branch: Branch) -> DataConfig:
        data = branch.data_config.scaled(self.input_scale, upscale=self.upscale)
        smallest = min(data.policy.output_shape(10_000, 10_000))
        if smallest < data.min_side and self.input_scale != 1.0:
            raise ValueError(f"input_scale {self.input_scale} makes branch '{branch.name}' inputs "
                             f"smaller than its minimum side {data.min_side}")
        return data

    @property
    def policies(self) -> dict[str, InputPolicy]:
        """Each branch's input policy at this extractor's ``input_scale``."""
        return {name: data.policy for name, data in self.data_configs.items()}

    # ------------------------------------------------------------------ config
    def _recorded_weights(self, branch: Branch) -> Optional[str]:
        spec, resolved = self.weights_spec[branch.name], self.weights[branch.name]
        if isinstance(spec, str) and any(k.builtin and spec.lower() == k.builtin for k in branch.known_weights):
            return spec.lower()
        if resolved.kind == "file":
            return str(resolved.path)
        return None if resolved.kind == "none" else resolved.kind

    def config(self) -> ExtractorConfig:
        """The settings that rebuild this extractor (``.model_dump()`` is what stores record).

        Weights files are recorded by absolute path and sha256, so the config means the same
        network from any working directory, and a file replaced since is noticed. A built-in name
        (``nima``) stays a name, so a bundle made with it predicts on any machine with the package."""
        weights = {br.name: self._recorded_weights(br) for br in self.branches}
        return ExtractorConfig(branches=self.branch_names, weights=weights,
                               weights_sha256={b: w.sha256 for b, w in self.weights.items() if w.sha256},
                               input_scale=self.input_scale, upscale=self.upscale, batch_size=self.batch_size,
                               seed=self.seed, max_pixels=self.max_pixels, precision=self.precision,
                               versions={br.name: br.version for br in self.branches})

    @classmethod
    def from_config(cls, config: Union[ExtractorConfig, Mapping[str, Any]], where: str = "these features",
                    **overrides) -> "FeatureExtractor":
        """Rebuild from :meth:`config` or a store's ``metadata["extractor"]`` dict (old stores too);
        ``overrides`` replace settings or pass other constructor arguments (``workers``). A weights
        file whose sha256 differs from the recorded one is refused. A config without a precision
        (stores and bundles made before it existed) was computed in fp32, and is rebuilt so. Features of another
        branch version than this package's are refused (:class:`FeatureVersionError`, naming ``where``)."""
        data = config.model_dump() if isinstance(config, BaseModel) else dict(config)
        data.setdefault("precision", "fp32")
        if overrides.get("precision") is None:
            overrides.pop("precision", None)
        fields = {k: v for k, v in overrides.items() if k in ExtractorConfig.model_fields}
        options = {k: v for k, v in overrides.items() if k not in ExtractorConfig.model_fields}
        spec = ExtractorConfig.model_validate({**data, **fields})
        spec.check_versions(where)
        fx = spec.build(**options)
        if "weights" not in overrides:
            for b, digest in spec.weights_sha256.items():
                w = fx.weights.get(b)
                if w is not None and w.sha256 is not None and w.sha256 != digest:
                    raise WeightsError(f"{w.path}: weights for branch '{b}' have changed since they were recorded "
                                       f"(sha256 {digest[:12]}... expected, {w.sha256[:12]}... found)")
        return fx

    @property
    def widths(self) -> dict[str, int]:
        return {br.name: br.width for br in self.branches}

    def branch_attrs(self, name: str) -> dict[str, Any]:
        """What produced a branch's features, stored beside them."""
        self._build()
        w = self.weights[name]
        policy = self.policies[name]
        return {"weights": w.describe(), "weights_sha256": w.sha256 or "",
                "weights_seed": self.seed if w.kind == "none" else "",
                "input_policy": policy.describe(), "input_policy_json": policy.model_dump_json(),
                "layer_names": self._layers[name]}

    # ------------------------------------------------------------------ models
    def _build(self) -> None:
        if len(self._models) == len(self.branches):
            return
        import keras

        for br in self.branches:
            if br.name in self._models:
                continue
            keras.utils.set_random_seed(self.seed)
            log.info("building branch %s (weights: %s, precision %s)", br.name,
                     self.weights[br.name].describe(), self.precision)
            with dtype_policy_scope(self.precision):
                model, layers = br.build(self.weights[br.name])
            self._models[br.name] = model
            self._layers[br.name] = layers
            self._fns[br.name] = inference_fn(model)

    @property
    def dtype_policy(self) -> str:
        """The Keras dtype policy the networks are built under (``float32`` or ``mixed_bfloat16``)."""
        return policy_name(self.precision)

    def model(self, name: str):
        """The Keras feature model of a branch (preprocessed float32 in, ``(n, width)`` out, computed
        in :attr:`precision`)."""
        self._build()
        return self._models[name]

    def _run(self, name: str, batch: np.ndarray) -> np.ndarray:
        branch = self.branches[self.branch_names.index(name)]
        return self._fns[name](branch.preprocess(batch))

    # ------------------------------------------------------------------ extraction
    def resize(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Each branch's input for one decoded image (padded up to the backbone's minimum side)."""
        return {name: data.prepare(image) for name, data in self.data_configs.items()}

    def extract_resized(self, resized: Sequence[Mapping[str, np.ndarray]],
                        on_batch: Optional[Callable[[int], None]] = None) -> dict[str, np.ndarray]:
        """Features from per-branch resized inputs (as from ``resize``), batched by shape bucket."""
        self._build()
        out = {}
        for br in self.branches:
            feats = np.zeros((len(resized), br.width), dtype=np.float32)
            shapes = [r[br.name].shape for r in resized]
            for batch_idx in shape_buckets(shapes, self.batch_size):
                batch = np.stack([resized[i][br.name] for i in batch_idx])
                feats[batch_idx] = self._run(br.name, batch)
                if on_batch is not None:
                    on_batch(len(batch_idx))
            out[br.name] = feats
        return out

    def extract_arrays(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Features of decoded ``(H, W, 3) uint8`` RGB images: ``{branch: (n, width) float32}``."""
        return self.extract_resized([self.resize(im) for im in images])

    def load(self, path: str) -> tuple[Optional[dict[str, np.ndarray]], str]:
        """Decode and resize one file: (per-branch inputs, '') or (None, reason). Never raises for bad
        images: this is :func:`aesthetic.imageio.read_one`, the one bad-file policy."""
        return read_one(path, self.resize, default_read_policy().capped(self.max_pixels))

    def load_many(self, paths: Sequence[str]):
        """Decode in parallel threads through the one decode loop, order preserved."""
        return [item for _, batch in decode_batches(list(paths), 64, self.load, self.workers) for item in batch]

    def extract_loaded(self, loaded, on_batch: Optional[Callable[[int], None]] = None) -> ExtractionResult:
        """Features from ``load``/``load_many`` results; failed rows are zero."""
        ok = np.array([item is not None for item, _ in loaded], dtype=bool)
        good = [item for item, _ in loaded if item is not None]
        feats_ok = self.extract_resized(good, on_batch) if good else {
            br.name: np.zeros((0, br.width), np.float32) for br in self.branches}
        features = {}
        for br in self.branches:
            full = np.zeros((len(loaded), br.width), dtype=np.float32)
            full[ok] = feats_ok[br.name]
            features[br.name] = full
        return ExtractionResult(features, ok, [err for _, err in loaded])

    def extract_paths(self, paths: Sequence[str]) -> ExtractionResult:
        """Decode, resize and extract; unreadable files are reported in ``errors``, never raised."""
        return self.extract_loaded(self.load_many([str(p) for p in paths]))
