"""Model bundles: one directory holds everything from image to P(aesthetic); one call loads it.

Full bundle (``kind = "full"``: extractor + selector + FC)::

    MODEL/
      model.keras     FC, standardisation included: (n, n_selected) float32 -> (n, 1) P(aesthetic)
      selector/       the fitted selector (aesthetic.genetic_selection save format)
      config.json     format, kind, extractor config, branches and widths, threshold (+ how it was
                      chosen), label rule, FC config, training provenance, library versions
      metrics.json    validation metrics of the saved model
      student/        optional: the distilled end-to-end student (a student bundle)

Student bundle (``kind = "student"``): ``model.keras`` (``(n, s, s, 3)`` pixel values 0..255
float32 -> ``(n, 1)`` P(aesthetic), preprocessing inside), ``config.json`` (input size,
threshold, teacher, distillation settings), ``metrics.json``.

Bundles are written atomically: built in a hidden temporary directory beside the target,
then renamed into place, so a reader sees the old bundle or the complete new one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

import numpy as np

from aesthetic.feature_store import atomic_dir, atomic_write_text, library_versions

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
BUNDLE_FORMAT = "aesthetic-model"
FORMAT_VERSION = 1
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.keras", "config.json", "metrics.json"
SELECTOR_DIR, STUDENT_DIR = "selector", "student"


class BundleError(ValueError):
    """A model directory that is missing, of another format, or incomplete."""


# --------------------------------------------------------------------------- predictions

@dataclass
class PredictionResult:
    """Per path: ``p_aesthetic`` (NaN where the image failed), ``labels`` (1 aesthetic, 0 not,
    -1 failed) at ``threshold``, and ``errors`` ('' when ok)."""

    paths: list[str]
    p_aesthetic: np.ndarray  # (n,) float32
    labels: np.ndarray  # (n,) int8
    errors: list[str]
    threshold: float

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def ok(self) -> np.ndarray:
        return np.array([not e for e in self.errors], dtype=bool)

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) for every image that could not be scored."""
        return [(p, e) for p, e in zip(self.paths, self.errors) if e]

    def rows(self) -> list[dict[str, Any]]:
        return [{"path": p, "p_aesthetic": (None if not np.isfinite(s) else float(s)),
                 "label": (None if lab < 0 else int(lab)), "error": e}
                for p, s, lab, e in zip(self.paths, self.p_aesthetic, self.labels, self.errors)]

    def to_csv(self, path: PathLike) -> Path:
        """Write ``path,p_aesthetic,label,error`` atomically (empty cells for failures)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["path", "p_aesthetic", "label", "error"])
        for row in self.rows():
            writer.writerow([row["path"], "" if row["p_aesthetic"] is None else f"{row['p_aesthetic']:.6f}",
                             "" if row["label"] is None else row["label"], row["error"]])
        atomic_write_text(path, buf.getvalue())
        return Path(path)


def predict_paths(paths: Sequence[PathLike], load: Callable[[str], tuple[Any, str]],
                  score: Callable[[list[Any]], np.ndarray], threshold: float, batch_size: int = 32,
                  workers: int = 4, progress: bool = True) -> PredictionResult:
    """Shared prediction loop: decode in threads (``load(path) -> (item | None, reason)``), score
    decoded items in batches (``score(items) -> (k,) P``); failures are recorded, never raised."""
    from aesthetic.progress import Progress

    paths = [str(p) for p in paths]
    probs = np.full(len(paths), np.nan, np.float32)
    errors = [""] * len(paths)
    with ThreadPoolExecutor(max(1, workers)) as pool, Progress(len(paths), "scoring", "images",
                                                                enabled=progress) as bar:
        for start in range(0, len(paths), batch_size):
            chunk = list(range(start, min(start + batch_size, len(paths))))
            loaded = list(pool.map(load, [paths[i] for i in chunk]))
            good = [i for i, (item, _) in zip(chunk, loaded) if item is not None]
            for i, (item, err) in zip(chunk, loaded):
                if item is None:
                    errors[i] = err or "unreadable image"
            if good:
                probs[good] = np.asarray(score([loaded[i - start][0] for i in good]), np.float32).reshape(-1)
            bar.update(len(chunk))
    labels = np.where(np.isnan(probs), -1, probs >= threshold).astype(np.int8)
    for i in np.flatnonzero(np.isnan(probs)):
        errors[i] = errors[i] or "not scored"
    return PredictionResult(paths, probs, labels, errors, float(threshold))


# --------------------------------------------------------------------------- bundle I/O

def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise BundleError(f"{path}: model bundle directory not found")
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise BundleError(f"{path}: not a model bundle ({CONFIG_FILE} missing)")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{cfg_file}: not valid JSON ({exc})") from None
    if config.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{cfg_file}: not an aesthetic model bundle (format {config.get('format')!r})")
    if int(config.get("format_version", -1)) > FORMAT_VERSION:
        raise BundleError(f"{cfg_file}: format version {config['format_version']} is newer than this code "
                          f"reads ({FORMAT_VERSION})")
    if not (path / MODEL_FILE).is_file():
        raise BundleError(f"{path}: {MODEL_FILE} missing")
    return config


def bundle_header(kind: str) -> dict[str, Any]:
    """Fields every bundle's config.json starts with."""
    return {"format": BUNDLE_FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "library_versions": library_versions()}


def write_bundle(out: PathLike, write: Callable[[Path], None]) -> Path:
    """Build a bundle with ``write(tmp_dir)`` in a hidden directory beside ``out``, then swap it in.

    An existing ``out`` is replaced only if it is a bundle (has our config.json), so a typo
    never wipes an unrelated folder. Replacing a full bundle drops its old ``student/``: it
    was distilled from the model being replaced.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise BundleError(f"{out}: exists and is not a directory")
        if any(out.iterdir()):
            _read_config(out)  # raises for a non-bundle folder
    with atomic_dir(out) as tmp:
        write(tmp)
    return out


def _json(obj: Any) -> str:
    def default(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"not JSON-able: {type(value).__name__}")
    return json.dumps(obj, indent=2, sort_keys=True, default=default, allow_nan=True)


def save_full_bundle(out: PathLike, *, fc_model, selector, extractor_config: Mapping[str, Any],
                     threshold: float, metrics: Mapping[str, Any], extra_config: Mapping[str, Any] | None = None
                     ) -> Path:
    """Write a full bundle (see the module docstring). ``selector`` is a fitted
    :mod:`aesthetic.genetic_selection` selector; ``extractor_config`` rebuilds the
    :class:`FeatureExtractor` (``FeatureExtractor.config()``), restricted to the selector's branches."""
    if int(fc_model.input_shape[-1]) != int(selector.n_features_out_):
        raise BundleError(f"the FC takes {fc_model.input_shape[-1]} features but the selector gives "
                          f"{selector.n_features_out_}")
    extractor_config = dict(extractor_config)
    extractor_config["branches"] = list(selector.branches_)
    weights = extractor_config.get("weights")
    if isinstance(weights, Mapping):
        extractor_config["weights"] = {b: weights.get(b) for b in selector.branches_}
    config = bundle_header("full")
    config.update({
        "threshold": float(threshold), "extractor": extractor_config,
        "branches": list(selector.branches_), "branch_widths": dict(selector.branch_widths_),
        "selector": SELECTOR_DIR, "selector_kind": selector.kind,
        "n_features_in": int(selector.n_features_in_), "n_features_selected": int(selector.n_features_out_),
    })
    config.update(extra_config or {})

    def write(tmp: Path) -> None:
        fc_model.save(tmp / MODEL_FILE)
        selector.save(tmp / SELECTOR_DIR)
        (tmp / CONFIG_FILE).write_text(_json(config), encoding="utf-8")
        (tmp / METRICS_FILE).write_text(_json(dict(metrics)), encoding="utf-8")

    return write_bundle(out, write)


# --------------------------------------------------------------------------- models

class _LoadedModel:
    kind = ""

    def __init__(self, keras_model, config: Mapping[str, Any], path: Path | None = None,
                 metrics: Mapping[str, Any] | None = None):
        self.keras_model = keras_model
        self.config = dict(config)
        self.path = path
        self.metrics = dict(metrics or {})
        self.threshold = float(self.config["threshold"])

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """1 where ``P >= threshold``, else 0."""
        return (np.asarray(probabilities) >= self.threshold).astype(np.int8)

    @classmethod
    def load(cls, path: PathLike) -> "AestheticModel | StudentModel":
        """Any bundle (full or student), as :func:`load_model`."""
        return load_model(path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.path} threshold={self.threshold:.4f}>"


class AestheticModel(_LoadedModel):
    """Full model: feature extractor -> selector -> FC -> P(aesthetic), decided at ``threshold``."""

    kind = "full"

    def __init__(self, keras_model, selector, config: Mapping[str, Any], path: Path | None = None,
                 metrics: Mapping[str, Any] | None = None, extractor=None):
        super().__init__(keras_model, config, path, metrics)
        self.selector = selector
        self._extractor = extractor

    @property
    def branches(self) -> list[str]:
        return list(self.config["branches"])

    @property
    def extractor(self):
        """The :class:`FeatureExtractor` the bundle was trained with (built on first use)."""
        if self._extractor is None:
            from aesthetic.feature_extraction import FeatureExtractor

            self._extractor = FeatureExtractor.from_config(self.config["extractor"])
        return self._extractor

    # -- from features
    @property
    def calibration(self) -> dict[str, Any] | None:
        """The bundle's probability calibration (``config["calibration"]``, JSON), or None."""
        return self.config.get("calibration") or None

    @property
    def network_threshold(self) -> float:
        """The threshold on the network's own ``sigmoid(logit)`` (equal to ``threshold`` when the
        bundle has no calibration): what distillation compares teacher logits against."""
        from aesthetic.classifier import network_threshold

        return network_threshold(self.threshold, self.calibration)

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        from aesthetic.classifier import apply_calibration, logit_model, predict_batched

        if self.calibration is None:
            return predict_batched(self.keras_model, x)
        if getattr(self, "_logit_net", None) is None:
            self._logit_net = logit_model(self.keras_model)
        return apply_calibration(predict_batched(self._logit_net, x), self.calibration)

    def predict_features(self, fused: np.ndarray) -> np.ndarray:
        """``(n, n_features_in)`` fused features (branches in ``self.branches`` order) -> ``(n,)`` P,
        calibrated when the bundle carries a calibration."""
        return self._probabilities(self.selector.transform(fused))

    def logits_features(self, fused: np.ndarray) -> np.ndarray:
        """Pre-sigmoid logits ``(n,)`` (the teacher signal for distillation)."""
        from aesthetic.classifier import logit_model, predict_batched

        return predict_batched(logit_model(self.keras_model), self.selector.transform(fused))

    def logits_store(self, store, rows=None) -> np.ndarray:
        """Logits ``(len(rows),)`` of store rows, reading only the branches the selector needs."""
        from aesthetic.classifier import logit_model, predict_batched

        return predict_batched(logit_model(self.keras_model), self.selector.transform_store(store, rows))

    def predict_store(self, store, rows=None) -> np.ndarray:
        """(Calibrated) P of store rows."""
        return self._probabilities(self.selector.transform_store(store, rows))

    # -- from images
    def _score_resized(self, resized: list[Mapping[str, np.ndarray]]) -> np.ndarray:
        feats = self.extractor.extract_resized(resized)
        return self.predict_features(np.concatenate([feats[b] for b in self.branches], axis=1))

    def predict_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded ``(H, W, 3) uint8`` RGB images -> ``(n,)`` float32 P(aesthetic)."""
        if len(images) == 0:
            return np.zeros(0, np.float32)
        return self._score_resized([self.extractor.resize(np.asarray(im)) for im in images])

    def predict(self, paths: Iterable[PathLike], batch_size: int = 32, progress: bool = True) -> PredictionResult:
        """Score image files; unreadable ones are listed in the result, never raised."""
        extractor = self.extractor
        return predict_paths(list(paths), extractor.load, self._score_resized, self.threshold, batch_size,
                             workers=extractor.workers, progress=progress)

    def student(self) -> "StudentModel | None":
        """The distilled end-to-end student in ``MODEL/student``, if there is one."""
        if self.path is None or not (self.path / STUDENT_DIR).is_dir():
            return None
        model = load_model(self.path / STUDENT_DIR)
        return model if isinstance(model, StudentModel) else None


class StudentModel(_LoadedModel):
    """End-to-end student: pixels (resized to ``image_size``) -> small CNN -> P(aesthetic)."""

    kind = "student"

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        from aesthetic.imageio import Resize

        size = self.image_size
        return Resize(height=size, width=size).apply(np.asarray(image))

    def _load(self, path: str) -> tuple[np.ndarray | None, str]:
        from aesthetic.imageio import ImageReadError, read_image

        try:
            return self._prepare(read_image(path)), ""
        except ImageReadError as exc:
            return None, exc.reason
        except Exception as exc:  # one broken file must never stop a run
            return None, f"{type(exc).__name__}: {exc}"

    def _score_prepared(self, batch: list[np.ndarray]) -> np.ndarray:
        from aesthetic.classifier import predict_batched

        return predict_batched(self.keras_model, np.stack(batch).astype(np.float32), batch_size=32)

    def predict_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded ``(H, W, 3) uint8`` RGB images -> ``(n,)`` float32 P(aesthetic)."""
        if len(images) == 0:
            return np.zeros(0, np.float32)
        return self._score_prepared([self._prepare(im) for im in images])

    def predict(self, paths: Iterable[PathLike], batch_size: int = 32, progress: bool = True) -> PredictionResult:
        """Score image files; unreadable ones are listed in the result, never raised."""
        return predict_paths(list(paths), self._load, self._score_prepared, self.threshold, batch_size,
                             progress=progress)


def _load_keras(path: Path):
    import keras

    try:
        return keras.saving.load_model(path / MODEL_FILE, compile=False)
    except Exception as exc:
        raise BundleError(f"{path / MODEL_FILE}: cannot load ({type(exc).__name__}: {exc})") from None


def _read_metrics(path: Path) -> dict[str, Any]:
    file = path / METRICS_FILE
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def load_model(path: PathLike) -> AestheticModel | StudentModel:
    """Load a bundle directory: an :class:`AestheticModel` (full) or a :class:`StudentModel`."""
    path = Path(path)
    config = _read_config(path)
    kind = config.get("kind")
    if kind == "full":
        from aesthetic.genetic_selection.io import load_selector

        selector = load_selector(path / config.get("selector", SELECTOR_DIR))
        return AestheticModel(_load_keras(path), selector, config, path, _read_metrics(path))
    if kind == "student":
        return StudentModel(_load_keras(path), config, path, _read_metrics(path))
    raise BundleError(f"{path / CONFIG_FILE}: unknown bundle kind {kind!r} (expected 'full' or 'student')")
