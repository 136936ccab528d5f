"""The one scoring interface: what predict, reports and explanations call to score images.

A :class:`Scorer` maps decoded ``(H, W, 3) uint8`` RGB images to ``(n,)`` scores, higher =
more aesthetic, with a threshold and its decision rule. A loaded bundle is adapted by
:class:`ModelScorer`; explanations take the batch form :func:`score_function` of either.
A report never knows what a model is. The project's classifier, the NIMA peer and
every hand-crafted baseline are each a :class:`Scorer`: a name, a decision
threshold, whether its score is a probability, and
``score_images(list of (H, W, 3) uint8 RGB) -> (n,) float`` where higher means
more aesthetic. :func:`score_items` decodes each image once per batch and hands the
batch to every scorer; unreadable files are recorded, never fatal.

A scorer whose scores are mean ratings on AVA's 1-10 scale sets ``rates = True`` (an optional
attribute, False when absent): reports then correlate its scores with the human mean scores
of every set that carries them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from aesthetic.imageio import decode_batches
from aesthetic.progress import Progress
from aesthetic.data import LabeledImage

log = logging.getLogger(__name__)

ImageTransform = Callable[[np.ndarray], np.ndarray]


class ScorerError(RuntimeError):
    """A scorer returned something that is not one finite score per image."""


@runtime_checkable
class Scorer(Protocol):
    """What a report runs. ``score_images`` returns ``(n,)`` scores, higher = more aesthetic;
    an image is called aesthetic when ``score > threshold`` (``>=`` when ``inclusive``)."""

    name: str
    kind: str            # "model", "peer" or "baseline"
    threshold: float
    inclusive: bool      # decision is score >= threshold (else score > threshold)
    probabilistic: bool  # scores are P(aesthetic) in [0, 1] (reliability is meaningful)
    score_label: str     # axis label, with units

    def score_images(self, images: list[np.ndarray]) -> np.ndarray: ...


class ModelScorer:
    """The project's classifier (``aesthetic.bundles.model.load_model``): P(aesthetic) and its own threshold.

    A bundle with a score head (``model.has_scores``) is scored by its 1-10 mean score instead,
    decided by its score rule (``mean >= rule.threshold``, the same decision as ``P >= 0.5``), so
    the report can correlate it with human ratings.
    """

    kind = "model"
    inclusive = True  # aesthetic.classifier.fc decides p >= threshold

    def __init__(self, model, name: str):
        self.model = model
        self.name = name
        self.rates = bool(getattr(model, "has_scores", False))
        self.probabilistic = not self.rates
        self.score_label = "mean score (1-10)" if self.rates else "P(aesthetic)"
        self.threshold = float(model.score_rule.threshold) if self.rates else float(model.threshold)
        metrics = getattr(model, "metrics", {}) or {}
        calibration = (getattr(model, "config", {}) or {}).get("calibration")
        #: ECE before/after the bundle's calibration, on its out-of-fold training scores (None if unknown)
        self.calibration_summary = None if "ece_raw" not in metrics else {
            "method": (calibration or {}).get("method", "none"), "ece_raw": metrics.get("ece_raw"),
            "ece_calibrated": metrics.get("ece_calibrated"), "threshold_from": metrics.get("threshold_from")}

    def score_images(self, images: list[np.ndarray]) -> np.ndarray:
        if self.rates:
            return np.asarray(self.model.rate_images(images)["mean_score"], dtype=np.float64).reshape(-1)
        return np.asarray(self.model.predict_images(images), dtype=np.float64).reshape(-1)


class NimaPeerScorer:
    """The NIMA peer (``aesthetic.feature_extraction.nima.NimaScorer``): mean of the predicted 1..10 rating
    distribution, called aesthetic when above 5 (the AVA convention)."""

    kind = "peer"
    inclusive = False  # mean > 5
    probabilistic = False
    rates = True
    score_label = "NIMA mean score (1-10)"
    threshold = 5.0

    def __init__(self, nima, name: str = "NIMA (MobileNet, AVA)"):
        self.nima = nima
        self.name = name

    def score_images(self, images: list[np.ndarray]) -> np.ndarray:
        _, mean_scores = self.nima.predict_images(images)
        return np.asarray(mean_scores, dtype=np.float64).reshape(-1)


class ModelChoiceError(ValueError):
    """MODEL cannot serve the requested --through path."""


def resolve_model(model_dir: Path, through: str, load_model: Callable[[Path], Any]) -> tuple[Any, Path]:
    """The loaded model that ``--through`` asks for, and the bundle it came from.

    ``--through full`` needs a full (two-branch) bundle. ``--through student`` takes a student bundle
    directly, or a full bundle with its distilled student in ``MODEL/student``.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelChoiceError(f"MODEL {model_dir}: not a model bundle folder")
    if through not in ("full", "student"):
        raise ModelChoiceError(f"--through {through}: expected full or student")
    if through == "student" and (model_dir / "student").is_dir():
        model_dir = model_dir / "student"
    model = load_model(model_dir)
    kind = getattr(model, "kind", None)
    if kind == through:
        return model, model_dir
    if through == "student":
        raise ModelChoiceError(
            f"MODEL {model_dir} is a {kind} bundle with no distilled student in {model_dir / 'student'}; "
            "distill one first, pass the student bundle itself, or use --through full")
    raise ModelChoiceError(f"MODEL {model_dir} is a {kind} bundle; --through full needs the full two-branch "
                           "bundle (pass it, or use --through student)")


def score_function(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The batch form explanations use: ``(n, H, W, 3) uint8 -> (n,)`` float64 scores.

    ``model`` is a loaded bundle (``predict_images``) or any :class:`Scorer` (``score_images``)."""
    images_to_scores = getattr(model, "score_images", None) or model.predict_images

    def score(images: np.ndarray) -> np.ndarray:
        return np.asarray(images_to_scores(list(images)), dtype=np.float64).reshape(-1)
    return score


def check_scorers(scorers: Sequence[Scorer]) -> None:
    """Every object implements the protocol and names are unique (they key the report)."""
    names = [getattr(s, "name", None) for s in scorers]
    for s in scorers:
        if not isinstance(s, Scorer):
            raise TypeError(f"{s!r} is not a Scorer (needs name, kind, threshold, inclusive, "
                            f"probabilistic, score_label and score_images)")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"scorer names must be unique; repeated: {', '.join(map(str, dupes))}")


@dataclass
class ScoreTable:
    """Scores of every scorer for a list of images, NaN where the image could not be read."""

    items: list[LabeledImage]
    scores: dict[str, np.ndarray]                      # scorer name -> (n,) float64
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason

    @property
    def ok(self) -> np.ndarray:
        """(n,) bool: images every scorer scored."""
        if not self.scores:
            return np.array([str(i.path) not in self.failed for i in self.items])
        return np.all([np.isfinite(v) for v in self.scores.values()], axis=0)


def iter_image_batches(items: Sequence[LabeledImage], batch_size: int, workers: int = 2
                       ) -> Iterator[tuple[list[int], list[np.ndarray], dict[str, str]]]:
    """Decode in batches (the one decode loop): ``(indices of readable items, their images,
    {path: reason} of failures)``."""
    for rows, loaded in decode_batches([i.path for i in items], batch_size, workers=workers):
        idx, images, failed = [], [], {}
        for row, (image, reason) in zip(rows, loaded):
            if image is None:
                failed[str(items[row].path)] = reason
            else:
                idx.append(row)
                images.append(image)
        yield idx, images, failed


def _run_one(scorer: Scorer, images: list[np.ndarray]) -> np.ndarray:
    out = np.asarray(scorer.score_images(images), dtype=np.float64)
    if out.shape != (len(images),):
        raise ScorerError(f"scorer {scorer.name!r} returned shape {out.shape} for {len(images)} images")
    if not np.all(np.isfinite(out)):
        raise ScorerError(f"scorer {scorer.name!r} returned non-finite scores")
    return out


def score_items(scorers: Sequence[Scorer], items: Sequence[LabeledImage], batch_size: int = 16,
                transform: ImageTransform | None = None, description: str = "scoring",
                progress: bool = True) -> ScoreTable:
    """Run every scorer on every image (decoded once per batch, optionally transformed)."""
    items = list(items)
    scores = {s.name: np.full(len(items), np.nan) for s in scorers}
    failed: dict[str, str] = {}
    with Progress(len(items), description, "images", enabled=progress) as bar:
        for idx, images, batch_failed in iter_image_batches(items, batch_size):
            failed.update(batch_failed)
            if images:
                if transform is not None:
                    images = [transform(im) for im in images]
                for scorer in scorers:
                    scores[scorer.name][idx] = _run_one(scorer, images)
            bar.update(len(idx) + len(batch_failed))
    return ScoreTable(items=items, scores=scores, failed=failed)
