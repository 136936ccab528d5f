"""Model bundles: one directory holds everything from image to P(aesthetic); one call loads it.

Full bundle (``kind = "full"``: extractor + selector + FC)::

    MODEL/
      model.keras     FC, standardisation included: (n, n_selected) float32 -> (n, 1) P(aesthetic)
      quality.keras   optional (sensitivity design two_heads, :mod:`aesthetic.classifier.quality`): the
                      quality head, same input -> (n, 1) P(clean); config.json's ``quality_head`` names
                      it, and the bundle's P(aesthetic) is the (calibrated) aesthetic head's P times P(clean)
                      raised to its weight (``quality_head.weights``, one per quality head; absent: 1)
      quality_stats.keras  optional, with quality.keras: the statistics quality head (same input; it
                      reads the pixel_stats columns, ``quality_head.stats_columns``), a third factor
      selector/       the fitted selector (aesthetic.genetic_selection save format)
      config.json     format, kind, extractor config, branches and widths, threshold (+ how it was
                      chosen), label rule, FC config, training provenance, library versions
      metrics.json    validation metrics of the saved model
      weights/        copies of the extractor's weights files up to 20 MB (config.json records every
                      weights file by absolute path and sha256; loading looks here first, then at that
                      path, and accepts a file only with the recorded sha256), so a bundle moved to
                      another folder or machine still scores
      student/        optional: the distilled end-to-end student (a student bundle)

A bundle with a score head (``config["head"]`` ``"distribution"`` or ``"mean"``, see
:mod:`aesthetic.classifier.scores`) outputs ``(n, 10)`` rating shares or ``(n, 1)`` mean ratings instead of
P; ``config["score_rule"]`` derives P(aesthetic) from the mean score, so everything that asks a
bundle for P works unchanged, and predictions add ``mean_score`` and ``score_std`` (1-10).
Bundles without ``head`` are binary.

Student bundle (``kind = "student"``): ``model.keras`` (``(n, s, s, 3)`` pixel values 0..255
float32 -> ``(n, 1)`` P(aesthetic), preprocessing inside), ``config.json`` (input size,
threshold, teacher, distillation settings), ``metrics.json``.

Bundles are written atomically: built in a hidden temporary directory beside the target,
then renamed into place, so a reader sees the old bundle or the complete new one. A target that
is not a bundle, or that holds one of the run's inputs, is refused before any work. On load,
config.json is validated (:class:`FullBundleConfig`, :class:`StudentBundleConfig`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Optional, Sequence, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aesthetic.backend import describe as describe_backend
from aesthetic.fileio import PathLike, atomic_dir, atomic_write_text, json_text, library_versions, read_json
from aesthetic.imageio import Resize, decode_batches, read_one
from aesthetic.progress import Progress

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "aesthetic-model"
FORMAT_VERSION = 1
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.keras", "config.json", "metrics.json"
QUALITY_FILE = "quality.keras"
STATS_QUALITY_FILE = "quality_stats.keras"
SELECTOR_DIR, STUDENT_DIR = "selector", "student"


class BundleError(ValueError):
    """A model directory that is missing, of another format, or incomplete."""


# --------------------------------------------------------------------------- predictions

@dataclass
class PredictionResult:
    """Per path: ``p_aesthetic`` (NaN where the image failed), ``labels`` (1 aesthetic, 0 not,
    -1 failed) at ``threshold``, and ``errors`` ('' when ok). Bundles with a score head add
    ``mean_score`` and ``score_std`` (ratings 1..10; std NaN for a mean-only head). Bundles with
    quality heads add why: ``p_content``, the aesthetic head's P, and ``p_clean``, the quality heads'
    factor (each P(clean) raised to its weight, multiplied), so that ``p_aesthetic = p_content * p_clean``."""

    paths: list[str]
    p_aesthetic: np.ndarray  # (n,) float32
    labels: np.ndarray  # (n,) int8
    errors: list[str]
    threshold: float
    mean_score: np.ndarray | None = None  # (n,) float64, or None for a binary bundle
    score_std: np.ndarray | None = None   # (n,) float64, or None for a binary bundle
    p_content: np.ndarray | None = None   # (n,) float64, or None without quality heads
    p_clean: np.ndarray | None = None     # (n,) float64, or None without quality heads

    @property
    def has_scores(self) -> bool:
        return self.mean_score is not None

    @property
    def has_heads(self) -> bool:
        """Whether the result says why: ``p_content`` and ``p_clean`` (a bundle with quality heads)."""
        return self.p_content is not None

    def reasons(self) -> list[str]:
        """Per path, why it is not aesthetic: ``content`` (the aesthetic head's own P is under the
        threshold), ``quality`` (the content passes, the quality heads' doubt puts it under: damage
        such as blur, darkness, noise or heavy compression, or a near-empty frame), ``''`` when it is
        aesthetic, failed or the bundle has no quality heads."""
        if not self.has_heads:
            return [""] * len(self.paths)
        return ["" if lab != 0 else ("content" if c < self.threshold else "quality")
                for lab, c in zip(self.labels, self.p_content)]

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def ok(self) -> np.ndarray:
        return np.array([not e for e in self.errors], dtype=bool)

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) for every image that could not be scored."""
        return [(p, e) for p, e in zip(self.paths, self.errors) if e]

    def columns(self) -> list[str]:
        """CSV columns: ``path,p_aesthetic[,mean_score,score_std][,p_content,p_clean],label,error``."""
        scores = ["mean_score", "score_std"] if self.has_scores else []
        heads = ["p_content", "p_clean"] if self.has_heads else []
        return ["path", "p_aesthetic", *scores, *heads, "label", "error"]

    def rows(self) -> list[dict[str, Any]]:
        finite = lambda v: None if not np.isfinite(v) else float(v)  # noqa: E731
        rows = [{"path": p, "p_aesthetic": finite(s), "label": (None if lab < 0 else int(lab)), "error": e}
                for p, s, lab, e in zip(self.paths, self.p_aesthetic, self.labels, self.errors)]
        if self.has_scores:
            for row, m, sd in zip(rows, self.mean_score, self.score_std):
                row["mean_score"], row["score_std"] = finite(m), finite(sd)
        if self.has_heads:
            for row, c, q in zip(rows, self.p_content, self.p_clean):
                row["p_content"], row["p_clean"] = finite(c), finite(q)
        return rows

    def with_skipped(self, skipped: Sequence[tuple[str, str]]) -> "PredictionResult":
        """This result plus a failed row for each ``(path, reason)`` a folder scan did not take."""
        n = len(skipped)
        more = lambda column: None if column is None else np.concatenate([column, np.full(n, np.nan)])  # noqa: E731
        return PredictionResult(self.paths + [str(p) for p, _ in skipped],
                                np.concatenate([self.p_aesthetic, np.full(n, np.nan, np.float32)]),
                                np.concatenate([self.labels, np.full(n, -1, np.int8)]),
                                self.errors + [r for _, r in skipped], self.threshold,
                                more(self.mean_score), more(self.score_std), more(self.p_content), more(self.p_clean))

    def to_csv(self, path: PathLike) -> Path:
        """Write :meth:`columns` atomically (empty cells for failures and for an unknown std)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns())
        for row in self.rows():
            writer.writerow(["" if row[c] is None else (f"{row[c]:.6f}" if isinstance(row[c], float) else row[c])
                             for c in self.columns()])
        atomic_write_text(path, buf.getvalue())
        return Path(path)


def predict_paths(paths: Sequence[PathLike], load: Callable[[str], tuple[Any, str]],
                  score: Callable[[list[Any]], Any], threshold: float, batch_size: int = 32,
                  workers: int = 4, progress: bool = True, with_scores: bool = False,
                  with_heads: bool = False) -> PredictionResult:
    """Shared prediction loop: the decode loop of :mod:`aesthetic.imageio` with ``load(path) ->
    (item | None, reason)`` (:func:`aesthetic.imageio.read_one` with a preparation step), score
    decoded items in batches (``score(items)`` -> ``(k,) P``, or a mapping with ``p_aesthetic`` and
    ``mean_score`` and ``score_std`` for a score head, ``with_scores=True``, or ``p_content`` and
    ``p_clean`` for a bundle with quality heads, ``with_heads=True``); failures are recorded, never raised."""
    paths = [str(p) for p in paths]
    probs = np.full(len(paths), np.nan, np.float32)
    keys = (("mean_score", "score_std") if with_scores else ()) + (("p_content", "p_clean") if with_heads else ())
    extra = {key: np.full(len(paths), np.nan) for key in keys}
    errors = [""] * len(paths)
    with Progress(len(paths), "scoring", "images", enabled=progress) as bar:
        for chunk, loaded in decode_batches(paths, batch_size, load, workers):
            good = [i for i, (item, _) in zip(chunk, loaded) if item is not None]
            for i, (item, err) in zip(chunk, loaded):
                if item is None:
                    errors[i] = err or "unreadable image"
            if good:
                out = score([item for item, _ in loaded if item is not None])
                if isinstance(out, Mapping):
                    for key, column in extra.items():
                        column[good] = np.asarray(out[key]).reshape(-1)
                    out = out["p_aesthetic"]
                probs[good] = np.asarray(out, np.float32).reshape(-1)
            bar.update(len(chunk))
    labels = np.where(np.isnan(probs), -1, probs >= threshold).astype(np.int8)
    for i in np.flatnonzero(np.isnan(probs)):
        errors[i] = errors[i] or "not scored"
    return PredictionResult(paths, probs, labels, errors, float(threshold), **extra)


# --------------------------------------------------------------------------- bundle I/O

def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise BundleError(f"{path}: model bundle directory not found")
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise BundleError(f"{path}: not a model bundle ({CONFIG_FILE} missing)")
    config = read_json(cfg_file, CONFIG_FILE, BundleError)
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
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "library_versions": library_versions(),
            "backend": describe_backend()}


def is_bundle(path: PathLike) -> bool:
    """Whether ``path`` holds a model bundle's config.json (so a new bundle may replace it)."""
    try:
        config = read_json(Path(path) / CONFIG_FILE, CONFIG_FILE, BundleError)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(config, dict) and config.get("format") == BUNDLE_FORMAT


def check_bundle_out(out: PathLike, inputs: Iterable[PathLike | None] = ()) -> Path:
    """Refuse, before any work, an ``out`` that is not a bundle or that holds one of ``inputs``."""
    from aesthetic.outputs import OutputError, check_output_dir

    try:
        return check_output_dir(out, what="model bundle", inputs=inputs, is_artifact=is_bundle)
    except OutputError as exc:
        raise BundleError(str(exc)) from None


def write_bundle(out: PathLike, write: Callable[[Path], None], inputs: Iterable[PathLike | None] = ()) -> Path:
    """Build a bundle with ``write(tmp_dir)`` in a hidden directory beside ``out``, then swap it in.

    An existing ``out`` is replaced only if it is a bundle (has our config.json) holding none of
    ``inputs``, so a typo never wipes an unrelated folder and a run never deletes its own data.
    Replacing a full bundle drops its old ``student/``: it was distilled from the model being replaced.
    """
    out = check_bundle_out(out, inputs)
    with atomic_dir(out) as tmp:
        write(tmp)
    return out


def save_full_bundle(out: PathLike, *, fc_model, selector, extractor_config: Mapping[str, Any],
                     threshold: float, metrics: Mapping[str, Any], extra_config: Mapping[str, Any] | None = None,
                     inputs: Iterable[PathLike | None] = (), quality_model=None,
                     stats_quality_model=None, quality_weights: Sequence[float] = ()) -> Path:
    """Write a full bundle (see the module docstring). ``selector`` is a fitted
    :mod:`aesthetic.genetic_selection` selector; ``extractor_config`` rebuilds the
    :class:`FeatureExtractor` (``FeatureExtractor.config()``), restricted to the selector's branches.
    ``quality_model``: the two_heads design's quality head (same input as ``fc_model``, P(clean));
    ``stats_quality_model``: its statistics quality head (same input), a third factor of the product;
    ``quality_weights``: the exponent of each quality head's P(clean) (empty: 1 each)."""
    if stats_quality_model is not None and quality_model is None:
        raise BundleError("a statistics quality head joins a quality head; pass quality_model too")
    for what, net in (("FC", fc_model), ("quality head", quality_model),
                      ("statistics quality head", stats_quality_model)):
        if net is not None and int(net.input_shape[-1]) != int(selector.n_features_out_):
            raise BundleError(f"the {what} takes {net.input_shape[-1]} features but the selector gives "
                              f"{selector.n_features_out_}")
    extractor_config = dict(extractor_config)
    extractor_config["branches"] = list(selector.branches_)
    weights = extractor_config.get("weights")
    if isinstance(weights, Mapping):
        extractor_config["weights"] = {b: weights.get(b) for b in selector.branches_}
    copies = _pin_weights(extractor_config)
    config = bundle_header("full")
    config.update({
        "threshold": float(threshold), "extractor": extractor_config,
        "branches": list(selector.branches_), "branch_widths": dict(selector.branch_widths_),
        "selector": SELECTOR_DIR, "selector_kind": selector.kind,
        "n_features_in": int(selector.n_features_in_), "n_features_selected": int(selector.n_features_out_),
    })
    config.update(extra_config or {})
    if quality_model is not None:
        heads = 1 if stats_quality_model is None else 2
        from aesthetic.classifier.quality import valid_weights

        w = [float(v) for v in quality_weights] or [1.0] * heads
        if not valid_weights(w, heads):
            raise BundleError(f"quality_weights must give one weight in (0, 1] per quality head ({heads}); got {w}")
        power = [f" ** {v:g}" if v != 1.0 else "" for v in w]
        config["quality_head"] = {"file": QUALITY_FILE, "combine": "product", "weights": w,
                                  "describe": "P(aesthetic) = calibrated P of model.keras * P(clean) of "
                                              f"{QUALITY_FILE}{power[0]}"}
        if stats_quality_model is not None:
            columns = stats_quality_model.get_layer("take_columns").columns
            config["quality_head"].update(
                stats_file=STATS_QUALITY_FILE, stats_columns=[int(c) for c in columns],
                describe=f"P(aesthetic) = calibrated P of model.keras * P(clean) of {QUALITY_FILE}{power[0]} * "
                         f"P(clean) of {STATS_QUALITY_FILE} (pixel statistics){power[1]}")

    def write(tmp: Path) -> None:
        fc_model.save(tmp / MODEL_FILE)
        if quality_model is not None:
            quality_model.save(tmp / QUALITY_FILE)
        if stats_quality_model is not None:
            stats_quality_model.save(tmp / STATS_QUALITY_FILE)
        selector.save(tmp / SELECTOR_DIR)
        for relative, source in copies.items():
            (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / relative)
        (tmp / CONFIG_FILE).write_text(json_text(config), encoding="utf-8")
        (tmp / METRICS_FILE).write_text(json_text(dict(metrics)), encoding="utf-8")

    return write_bundle(out, write, inputs)


# --------------------------------------------------------------------------- weights files

WEIGHTS_DIR = "weights"
#: Weights files up to this size are copied into the bundle, which then needs nothing outside it.
MAX_COPIED_WEIGHTS_BYTES = 20 * 1024 * 1024


def _builtin_weights_names() -> set[str]:
    """Names such as ``nima`` that resolve to a file the package ships (checked by size and sha256)."""
    from aesthetic.feature_extraction import get_branch, list_branches

    return {k.builtin for b in list_branches() for k in get_branch(b).known_weights if k.builtin}


def _is_weights_file(spec: Any) -> bool:
    """A path to pin: not ``imagenet``/``none`` and not a built-in name, which any install resolves."""
    return (isinstance(spec, str) and spec.lower() not in ("imagenet", "none", "random", "")
            and spec.lower() not in _builtin_weights_names())


def _pin_weights(extractor_config: dict[str, Any]) -> dict[str, Path]:
    """Record each weights file of ``extractor_config`` by absolute path (resolved now, at training
    time) and sha256, and pick the small ones to copy into the bundle. Edits the config in place;
    returns ``{path inside the bundle: source file}``."""
    from aesthetic.feature_extraction.weights import sha256_of

    weights = dict(extractor_config.get("weights") or {})
    digests = dict(extractor_config.get("weights_sha256") or {})
    copied: dict[str, str] = {}
    copies: dict[str, Path] = {}
    for branch, spec in weights.items():
        if not _is_weights_file(spec):
            continue
        path = Path(spec).expanduser().resolve()
        weights[branch] = str(path)
        if not path.is_file():
            continue  # the store's weights are gone; load time says so
        digest = sha256_of(path)
        if digests.get(branch, digest) != digest:
            raise BundleError(f"{path}: the weights file of branch '{branch}' has changed since the features "
                              f"were extracted (sha256 {digests[branch][:12]}... then, {digest[:12]}... now)")
        digests[branch] = digest
        if path.stat().st_size <= MAX_COPIED_WEIGHTS_BYTES:
            relative = f"{WEIGHTS_DIR}/{branch}-{path.name}"
            copied[branch], copies[relative] = relative, path
    extractor_config["weights"] = weights
    extractor_config["weights_sha256"] = {b: d for b, d in digests.items() if b in weights}
    extractor_config["weights_in_bundle"] = copied
    return copies


def _locate_weights(bundle: Path, extractor_config: Mapping[str, Any]) -> dict[str, Any]:
    """The extractor config with each weights file found: the bundle's own copy first, then the
    absolute path recorded at training time, each accepted only with the recorded sha256."""
    from aesthetic.feature_extraction.weights import sha256_of

    config = dict(extractor_config)
    weights = dict(config.get("weights") or {})
    digests = config.get("weights_sha256") or {}
    inside = config.get("weights_in_bundle") or {}
    for branch, spec in weights.items():
        if not _is_weights_file(spec):
            continue
        candidates = ([bundle / inside[branch]] if branch in inside else []) + [Path(spec).expanduser()]
        if not Path(spec).is_absolute():  # bundles written before paths were pinned: relative to the bundle
            candidates.append(bundle / spec)
        expected = digests.get(branch)
        found = next((c for c in candidates if c.is_file() and (expected is None or sha256_of(c) == expected)), None)
        if found is None:
            where = " or ".join(str(c) for c in candidates)
            why = f"with sha256 {expected[:12]}..." if expected else "there"
            raise BundleError(f"{bundle}: the weights file of branch '{branch}' ({Path(spec).name}) is not found "
                              f"{why} at {where}; copy it into {bundle / WEIGHTS_DIR}/ or retrain")
        weights[branch] = str(found.resolve())
    config["weights"] = weights
    return config


# --------------------------------------------------------------------------- config validation

class _ExtractorSection(BaseModel):
    """``config.json["extractor"]``: what rebuilds the feature extractor."""

    model_config = ConfigDict(extra="allow")
    branches: list[str] = Field(min_length=1)
    weights: dict[str, Optional[str]] = Field(default_factory=dict)
    batch_size: int = Field(8, gt=0)
    input_scale: float = Field(1.0, gt=0, le=4)
    max_pixels: int = Field(1, gt=0)
    seed: int = 0

    @field_validator("branches")
    @classmethod
    def _known(cls, branches: list[str]) -> list[str]:
        from aesthetic.feature_extraction import list_branches

        unknown = [b for b in branches if b not in list_branches()]
        if unknown:
            raise ValueError(f"unknown branch {', '.join(map(repr, unknown))} (known: {', '.join(list_branches())})")
        return branches


class _BundleBase(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: Literal["aesthetic-model"]
    format_version: int = Field(ge=1)
    threshold: float = Field(gt=0, lt=1, allow_inf_nan=False)


class FullBundleConfig(_BundleBase):
    """What a full bundle's config.json must hold to make a working model (checked on every load)."""

    kind: Literal["full"]
    extractor: _ExtractorSection
    branches: list[str] = Field(min_length=1)
    branch_widths: dict[str, int]
    n_features_in: int = Field(gt=0)
    n_features_selected: int = Field(gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> "FullBundleConfig":
        from aesthetic.feature_extraction import get_branch

        if set(self.branches) != set(self.extractor.branches):
            raise ValueError(f"branches {self.branches} differ from the extractor's {self.extractor.branches}")
        if set(self.branch_widths) != set(self.branches):
            raise ValueError(f"branch_widths names {sorted(self.branch_widths)}, not the branches {self.branches}")
        for b, w in self.branch_widths.items():
            if w != get_branch(b).width:
                raise ValueError(f"branch_widths gives {b!r} width {w}, the branch has {get_branch(b).width}")
        if self.n_features_in != sum(self.branch_widths.values()):
            raise ValueError(f"n_features_in {self.n_features_in} is not the sum of branch_widths")
        if self.n_features_selected > self.n_features_in:
            raise ValueError(f"n_features_selected {self.n_features_selected} exceeds n_features_in {self.n_features_in}")
        for b in self.extractor.weights:
            if b not in self.branches:
                raise ValueError(f"extractor.weights names branch {b!r}, which the bundle does not use")
        return self


class StudentBundleConfig(_BundleBase):
    """What a student bundle's config.json must hold."""

    kind: Literal["student"]
    image_size: int = Field(ge=32, le=4096)


def _problems(exc) -> list[str]:
    return [f"{'.'.join(str(x) for x in e['loc']) or 'config'}: {e['msg'].rstrip('.')}" for e in exc.errors()]


def validate_bundle_config(config: Mapping[str, Any], source: Path) -> None:
    """Refuse a config.json that cannot make a working model, naming every problem in one sentence."""
    from pydantic import ValidationError

    schema = {"full": FullBundleConfig, "student": StudentBundleConfig}.get(config.get("kind"))
    if schema is None:
        raise BundleError(f"{source}: unknown bundle kind {config.get('kind')!r} (expected 'full' or 'student')")
    try:
        schema.model_validate(config)
    except ValidationError as exc:
        problems = _problems(exc)
        raise BundleError(f"{source}: invalid bundle config ({'; '.join(problems[:6])}"
                          f"{f'; {len(problems) - 6} more' if len(problems) > 6 else ''})") from None


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
        self.head: str = self.config.get("head", "binary")
        if self.head not in ("binary", "distribution", "mean"):
            raise BundleError(f"{path}: unknown head {self.head!r} (expected binary, distribution or mean)")
        self.score_rule = None
        if self.head != "binary":
            from aesthetic.classifier.scores import ScoreRule

            self.score_rule = ScoreRule(**self.config.get("score_rule", {}))

    @property
    def has_scores(self) -> bool:
        """True when the bundle outputs ratings (a distribution or mean head), not only P."""
        return self.head != "binary"

    def outputs(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        """The network's raw outputs -> ``p_aesthetic``, ``mean_score``, ``score_std``, ``logit`` ``(n,)``."""
        from aesthetic.classifier.scores import score_outputs

        return score_outputs(raw, self.head, self.score_rule)

    def _scored(self, raw: np.ndarray):
        """What the prediction loop takes: P for a binary bundle, P + ratings for a score bundle."""
        return self.outputs(raw) if self.has_scores else raw

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """1 where ``P >= threshold``, else 0."""
        return (np.asarray(probabilities) >= self.threshold).astype(np.int8)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.path} threshold={self.threshold:.4f}>"


class AestheticModel(_LoadedModel):
    """Full model: feature extractor -> selector -> FC -> P(aesthetic), decided at ``threshold``."""

    kind = "full"

    def __init__(self, keras_model, selector, config: Mapping[str, Any], path: Path | None = None,
                 metrics: Mapping[str, Any] | None = None, extractor=None, quality_model=None,
                 stats_quality_model=None):
        super().__init__(keras_model, config, path, metrics)
        self.selector = selector
        self._extractor = extractor
        #: The two_heads design's quality head (selected features -> P(clean)), or None.
        self.quality_model = quality_model
        #: Its statistics quality head (selected features -> P(clean) from the pixel statistics), or None.
        self.stats_quality_model = stats_quality_model
        if quality_model is not None and self.has_scores:
            raise BundleError(f"{path}: a quality head combines with a binary head only, not a {self.head} head")

    @property
    def branches(self) -> list[str]:
        return list(self.config["branches"])

    @property
    def extractor(self):
        """The :class:`FeatureExtractor` the bundle was trained with (built on first use)."""
        if self._extractor is None:
            from aesthetic.feature_extraction import FeatureExtractor

            self._extractor = FeatureExtractor.from_config(self.config["extractor"], where=f"bundle {self.path}")
        return self._extractor

    # -- from features
    @property
    def calibration(self) -> dict[str, Any] | None:
        """The bundle's probability calibration (``config["calibration"]``, JSON: Platt ``slope`` and
        ``intercept`` fitted on out-of-fold logits), or None."""
        return self.config.get("calibration") or None

    @property
    def network_threshold(self) -> float:
        """The threshold on the network's own ``sigmoid(logit)`` (equal to ``threshold`` when the
        bundle has no calibration): what distillation compares teacher logits against."""
        from aesthetic.classifier.fc import network_threshold

        if self.has_scores or self.quality_model is not None:
            return float(self.threshold)  # logits_store gives the logit of the bundle's own P then
        return network_threshold(self.threshold, self.calibration)

    def _network(self, x: np.ndarray) -> np.ndarray:
        """The FC on selected features: its outputs, except that a binary bundle with a calibration
        gives the calibrated P (Platt applied to the network's logits), and one with quality heads
        that P times each quality head's P(clean) raised to its weight."""
        from aesthetic.classifier.quality import combine

        heads = self._heads(x)
        if self.quality_model is None:
            return heads["aesthetic_head"]
        return combine(heads.pop("aesthetic_head"), *heads.values(), weights=self.quality_weights)

    def _heads(self, x: np.ndarray) -> dict[str, np.ndarray]:
        from aesthetic.classifier.fc import apply_calibration, logit_model, predict_batched

        if self.has_scores or self.calibration is None:
            p = predict_batched(self.keras_model, x)
        else:
            if getattr(self, "_logit_net", None) is None:
                self._logit_net = logit_model(self.keras_model)
            p = apply_calibration(predict_batched(self._logit_net, x), self.calibration)
        heads = {"aesthetic_head": p}
        if self.quality_model is not None:
            heads["clean_cnn"] = predict_batched(self.quality_model, x)
        if self.stats_quality_model is not None:
            heads["clean_statistics"] = predict_batched(self.stats_quality_model, x)
        return heads

    def head_outputs(self, fused: np.ndarray) -> dict[str, np.ndarray]:
        """Each head's output for ``(n, n_features_in)`` fused features, before they are combined:
        ``aesthetic_head`` (its calibrated P, or a score head's outputs) and, in a bundle with quality
        heads, ``clean_cnn`` and ``clean_statistics``: each quality head's P(clean), ``(n,)`` each.
        What says *why* a photo was called not aesthetic: its content, or damage to it."""
        return self._heads(self.selector.transform(fused))

    @property
    def quality_weights(self) -> list[float] | None:
        """The exponent of each quality head's P(clean) in P(aesthetic) (config.json's
        ``quality_head.weights``; None when the bundle has no quality head; 1 each in a bundle from
        before weights were recorded)."""
        if self.quality_model is None:
            return None
        heads = 1 if self.stats_quality_model is None else 2
        return list((self.config.get("quality_head") or {}).get("weights") or [1.0] * heads)

    def raw_features(self, fused: np.ndarray) -> np.ndarray:
        """The network's outputs: ``(n,)`` P (binary; calibrated when the bundle carries a
        calibration), ``(n, 10)`` rating shares or ``(n,)`` means."""
        return self._network(self.selector.transform(fused))

    def predict_features(self, fused: np.ndarray) -> np.ndarray:
        """``(n, n_features_in)`` fused features (branches in ``self.branches`` order) -> ``(n,)`` P."""
        raw = self.raw_features(fused)
        return self.outputs(raw)["p_aesthetic"] if self.has_scores else raw

    def raw_store(self, store, rows=None) -> np.ndarray:
        """:meth:`raw_features` of store rows, reading only the branches the selector needs."""
        return self._network(self.selector.transform_store(store, rows))

    def logits_store(self, store, rows=None) -> np.ndarray:
        """Pre-sigmoid logits ``(len(rows),)`` of store rows (the teacher signal for distillation); for a
        score head ``(mean - threshold) / scale`` of its :class:`~aesthetic.classifier.scores.ScoreRule`."""
        from aesthetic.classifier.fc import logit_model, predict_batched

        if self.has_scores:
            return self.outputs(self.raw_store(store, rows))["logit"].astype(np.float32)
        if self.quality_model is not None:  # the logit of the bundle's own P, so network_threshold is threshold
            p = np.clip(self.raw_store(store, rows).astype(np.float64), 1e-7, 1 - 1e-7)
            return np.log(p / (1 - p)).astype(np.float32)
        return predict_batched(logit_model(self.keras_model), self.selector.transform_store(store, rows))

    def predict_store(self, store, rows=None) -> np.ndarray:
        raw = self.raw_store(store, rows)
        return self.outputs(raw)["p_aesthetic"] if self.has_scores else raw

    # -- from images
    def _fused_resized(self, resized: list[Mapping[str, np.ndarray]]) -> np.ndarray:
        feats = self.extractor.extract_resized(resized)
        return np.concatenate([feats[b] for b in self.branches], axis=1)

    def image_features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded RGB images -> ``(n, n_features_in)`` fused features through the bundle's extractor
        (what :meth:`predict_features`, :meth:`head_outputs` and :meth:`why_features` take)."""
        return self._fused_resized([self.extractor.resize(np.asarray(im)) for im in images])

    def _raw_resized(self, resized: list[Mapping[str, np.ndarray]]) -> np.ndarray:
        return self.raw_features(self._fused_resized(resized))

    def _score_resized(self, resized: list[Mapping[str, np.ndarray]]):
        if self.quality_model is not None:
            return self.why_features(self._fused_resized(resized))
        return self._scored(self._raw_resized(resized))

    def why_features(self, fused: np.ndarray) -> dict[str, np.ndarray]:
        """``(n, n_features_in)`` fused features -> ``p_aesthetic`` and why, ``(n,)`` each: ``p_content``
        (the aesthetic head's P) and ``p_clean`` (every quality head's P(clean) raised to its weight,
        multiplied; 1 without quality heads), so that ``p_aesthetic = p_content * p_clean``."""
        from aesthetic.classifier.quality import combine

        heads = self.head_outputs(fused)
        content = heads.pop("aesthetic_head")
        if not heads:
            return {"p_aesthetic": content, "p_content": content, "p_clean": np.ones_like(content)}
        return {"p_aesthetic": combine(content, *heads.values(), weights=self.quality_weights), "p_content": content,
                "p_clean": combine(np.ones_like(content), *heads.values(), weights=self.quality_weights)}

    def rate_images(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Decoded RGB images -> ``p_aesthetic``, ``mean_score``, ``score_std``, ``logit`` (each ``(n,)``;
        the ratings are NaN for a binary bundle)."""
        resized = [self.extractor.resize(np.asarray(im)) for im in images]
        raw = self._raw_resized(resized) if resized else np.zeros((0, 10) if self.head == "distribution" else 0)
        return self.outputs(raw)

    def predict_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded ``(H, W, 3) uint8`` RGB images -> ``(n,)`` float32 P(aesthetic)."""
        if len(images) == 0:
            return np.zeros(0, np.float32)
        return self.rate_images(images)["p_aesthetic"]

    def predict(self, paths: Iterable[PathLike], batch_size: int = 32, progress: bool = True) -> PredictionResult:
        """Score image files; unreadable ones are listed in the result, never raised."""
        extractor = self.extractor
        return predict_paths(list(paths), extractor.load, self._score_resized, self.threshold, batch_size,
                             workers=extractor.workers, progress=progress, with_scores=self.has_scores,
                             with_heads=self.quality_model is not None)

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
        size = self.image_size
        return Resize(height=size, width=size).apply(np.asarray(image))

    def _raw_prepared(self, batch: list[np.ndarray]) -> np.ndarray:
        from aesthetic.classifier.fc import predict_batched

        return predict_batched(self.keras_model, np.stack(batch).astype(np.float32), batch_size=32)

    def _score_prepared(self, batch: list[np.ndarray]):
        return self._scored(self._raw_prepared(batch))

    def rate_images(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """As :meth:`AestheticModel.rate_images`."""
        if len(images) == 0:
            return self.outputs(np.zeros((0, 10) if self.head == "distribution" else 0))
        return self.outputs(self._raw_prepared([self._prepare(im) for im in images]))

    def predict_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded ``(H, W, 3) uint8`` RGB images -> ``(n,)`` float32 P(aesthetic)."""
        if len(images) == 0:
            return np.zeros(0, np.float32)
        return self.rate_images(images)["p_aesthetic"]

    def predict(self, paths: Iterable[PathLike], batch_size: int = 32, progress: bool = True) -> PredictionResult:
        """Score image files; unreadable ones are listed in the result, never raised."""
        return predict_paths(list(paths), partial(read_one, prepare=self._prepare), self._score_prepared,
                             self.threshold, batch_size, progress=progress, with_scores=self.has_scores)


def _load_keras(path: Path, name: str = MODEL_FILE):
    import keras

    try:
        return keras.saving.load_model(path / name, compile=False)
    except Exception as exc:
        raise BundleError(f"{path / name}: cannot load ({type(exc).__name__}: {exc})") from None


def _load_quality(path: Path, config: Mapping[str, Any]) -> tuple[Any, Any]:
    """The quality head and the statistics quality head that config.json's ``quality_head`` names
    (None for each it does not name)."""
    head = config.get("quality_head")
    if not head:
        return None, None
    if not isinstance(head, Mapping) or head.get("combine") != "product" or not isinstance(head.get("file"), str):
        raise BundleError(f"{path / CONFIG_FILE}: quality_head must name a .keras file combined by 'product'; "
                          f"got {head!r}")
    stats_file = head.get("stats_file")
    if stats_file is not None and not isinstance(stats_file, str):
        raise BundleError(f"{path / CONFIG_FILE}: quality_head.stats_file must name a .keras file; got {stats_file!r}")
    from aesthetic.classifier.quality import valid_weights

    w = head.get("weights")
    if w is not None and not (isinstance(w, list) and valid_weights(w, 1 + (stats_file is not None))):
        raise BundleError(f"{path / CONFIG_FILE}: quality_head.weights must give one number in (0, 1] per quality "
                          f"head; got {w!r}")
    for name in (head["file"], stats_file):
        if name is not None and not (path / name).is_file():
            raise BundleError(f"{path}: {name} (a quality head config.json names) is missing")
    if stats_file is None:
        return _load_keras(path, head["file"]), None
    from aesthetic.classifier.quality import take_columns_layer

    take_columns_layer()  # registers the layer the statistics head starts with
    return _load_keras(path, head["file"]), _load_keras(path, stats_file)


def _read_metrics(path: Path) -> dict[str, Any]:
    file = path / METRICS_FILE
    return read_json(file, METRICS_FILE, BundleError) if file.is_file() else {}


def _check_feature_versions(extractor: Any, path: Path) -> None:
    """Refuse a full bundle trained on another version of a branch's features, before the config's own checks:
    a changed branch often has another width too, and "extract again and retrain" is the sentence that helps.
    An extractor section too malformed to read is left to :func:`validate_bundle_config` to name."""
    from pydantic import ValidationError

    from aesthetic.feature_extraction.extractor import ExtractorConfig

    try:
        spec = ExtractorConfig.model_validate(extractor)
    except ValidationError:
        return
    spec.check_versions(f"bundle {path}")


def load_model(path: PathLike, precision: str | None = None) -> AestheticModel | StudentModel:
    """Load a bundle directory: an :class:`AestheticModel` (full) or a :class:`StudentModel`.

    ``precision`` (``fp32 | bf16 | auto``) replaces, in this copy only, the precision the full
    bundle's feature extractor was recorded with (None keeps it; bundles made before precisions
    existed were fp32). A student is one saved Keras model and runs as saved."""
    path = Path(path)
    config = _read_config(path)
    if config.get("kind") == "full":
        _check_feature_versions(config.get("extractor"), path)
    validate_bundle_config(config, path / CONFIG_FILE)
    kind = config.get("kind")
    if kind == "full" and precision is not None:
        from aesthetic.precision import check_precision

        config["extractor"] = {**config["extractor"], "precision": check_precision(precision)}
    if kind == "full":
        from aesthetic.genetic_selection.base import SelectionError
        from aesthetic.genetic_selection.io import load_selector

        config["extractor"] = _locate_weights(path, config["extractor"])  # this copy only; the file is kept
        try:
            selector = load_selector(path / config.get("selector", SELECTOR_DIR))
        except SelectionError as exc:
            raise BundleError(f"{path}: {exc}") from None
        if list(selector.branches_) != list(config["branches"]) or \
                int(selector.n_features_out_) != int(config["n_features_selected"]):
            raise BundleError(f"{path}: the selector ({', '.join(selector.branches_)} -> {selector.n_features_out_} "
                              f"features) does not match config.json ({', '.join(config['branches'])} -> "
                              f"{config['n_features_selected']})")
        keras_model = _load_keras(path)
        quality, stats_quality = _load_quality(path, config)
        for name, net in ((MODEL_FILE, keras_model), (QUALITY_FILE, quality), (STATS_QUALITY_FILE, stats_quality)):
            if net is not None and int(net.input_shape[-1]) != int(config["n_features_selected"]):
                raise BundleError(f"{path}: {name} takes {net.input_shape[-1]} features, config.json says "
                                  f"{config['n_features_selected']}")
        return AestheticModel(keras_model, selector, config, path, _read_metrics(path), quality_model=quality,
                              stats_quality_model=stats_quality)
    return StudentModel(_load_keras(path), config, path, _read_metrics(path))
