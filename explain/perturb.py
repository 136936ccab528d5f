"""Perturbed images from on/off superpixel masks, scored in batches; the one scoring loop LIME and SHAP share.

A mask row ``z`` of length ``n_superpixels`` keeps superpixel ``i`` of the photo where ``z[i]`` is
1 and fills it from a *baseline* image where it is 0. The baseline says what "this region removed"
means to the model:

- ``"mean"`` (the default): the photo's mean colour everywhere. Removes the region's content and
  texture but keeps the overall tint, so a dark photo does not turn bright when a region goes.
- ``"blur"``: a Gaussian-blurred copy (sigma = 5 % of the longer side). Closer to the photo's
  statistics; attributes *detail and sharpness* rather than colour.
- ``"superpixel_mean"``: each superpixel filled with its own mean colour (LIME's ``hide_color=None``).
- ``"gray"`` / ``"black"``: constant 128 / 0.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Literal

import cv2
import numpy as np

from aesthetic.explain.superpixels import _check_image, check_segments
from aesthetic.progress import Progress

log = logging.getLogger(__name__)

ScoreFn = Callable[[np.ndarray], np.ndarray]
Baseline = Literal["mean", "blur", "superpixel_mean", "gray", "black"]
BASELINES: tuple[str, ...] = ("mean", "blur", "superpixel_mean", "gray", "black")
DEFAULT_BASELINE: Baseline = "mean"
DEFAULT_BATCH_SIZE = 32


def baseline_image(image: np.ndarray, baseline: str = DEFAULT_BASELINE,
                   segments: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W, 3) uint8`` image a removed superpixel is filled from (see module docstring)."""
    _check_image(image)
    if baseline == "mean":
        colour = image.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
        return np.broadcast_to(colour, image.shape).copy()
    if baseline == "blur":
        sigma = 0.05 * max(image.shape[:2])
        return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    if baseline == "superpixel_mean":
        if segments is None:
            raise ValueError("baseline 'superpixel_mean' needs the segments")
        n = check_segments(segments, image.shape)
        area = np.maximum(np.bincount(segments.ravel(), minlength=n), 1)
        means = np.stack([np.bincount(segments.ravel(), weights=image[..., c].ravel(), minlength=n) / area
                          for c in range(3)], axis=1)
        return means.round().astype(np.uint8)[segments]
    if baseline == "gray":
        return np.full_like(image, 128)
    if baseline == "black":
        return np.zeros_like(image)
    raise ValueError(f"baseline must be one of {', '.join(BASELINES)}; got {baseline!r}")


def check_scores(scores: np.ndarray, n: int, where: str = "score_fn") -> np.ndarray:
    """``(n,)`` float64 from a score function's output, or a clear error."""
    out = np.asarray(scores, dtype=np.float64)
    if out.size != n or (out.ndim > 1 and out.shape not in ((n, 1),)):
        raise ValueError(f"{where} returned shape {np.shape(scores)} for a batch of {n} images; "
                         f"expected ({n},) scores P(aesthetic)")
    out = out.reshape(n)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{where} returned non-finite scores: {out[~np.isfinite(out)][:5]}")
    return out


class MaskScorer:
    """Scores binary superpixel masks ``(n, n_superpixels)`` through ``score_fn`` in batches.

    The unperturbed photo (an all-ones mask) is scored at most once, on first need, or never when
    its score is passed in as ``prediction`` (the CLI scores it once and shares it between LIME and
    SHAP). ``n_evaluations`` counts the images actually sent to ``score_fn``.
    """

    def __init__(self, image: np.ndarray, segments: np.ndarray, score_fn: ScoreFn, *,
                 baseline: str = DEFAULT_BASELINE, batch_size: int = DEFAULT_BATCH_SIZE,
                 prediction: float | None = None, progress: bool = True, description: str = "explaining"):
        _check_image(image)
        self.n_superpixels = check_segments(segments, image.shape)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not callable(score_fn):
            raise ValueError(f"score_fn must be callable, got {type(score_fn).__name__}")
        self.image, self.segments, self.score_fn = image, segments, score_fn
        self.baseline_name = baseline
        self.baseline = baseline_image(image, baseline, segments)
        self.batch_size = batch_size
        self.progress, self.description = progress, description
        self._prediction = None if prediction is None else float(prediction)
        self.n_evaluations = 0
        self.model_seconds = 0.0

    def _score_images(self, images: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        scores = check_scores(self.score_fn(images), len(images))
        self.model_seconds += time.perf_counter() - start
        self.n_evaluations += len(images)
        return scores

    @property
    def prediction(self) -> float:
        """Score of the unperturbed photo (computed once)."""
        if self._prediction is None:
            self._prediction = float(self._score_images(self.image[None])[0])
        return self._prediction

    def compose(self, masks: np.ndarray) -> np.ndarray:
        """``(n, H, W, 3) uint8``: photo where the mask is 1, baseline where it is 0."""
        keep = np.asarray(masks, dtype=bool)[:, self.segments]  # (n, H, W)
        return np.where(keep[..., None], self.image[None], self.baseline[None])

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """``(n,)`` float64 scores of the masked photos (``masks`` > 0.5 means kept)."""
        masks = np.asarray(masks)
        if masks.ndim != 2 or masks.shape[1] != self.n_superpixels:
            raise ValueError(f"masks must be (n, {self.n_superpixels}), got {masks.shape}")
        keep = masks > 0.5
        scores = np.empty(len(keep), dtype=np.float64)
        unperturbed = keep.all(axis=1)
        if unperturbed.any():
            scores[unperturbed] = self.prediction
        todo = np.flatnonzero(~unperturbed)
        with Progress(len(todo), self.description, unit="images",
                      enabled=self.progress and len(todo) > self.batch_size) as bar:
            for start in range(0, len(todo), self.batch_size):
                rows = todo[start:start + self.batch_size]
                scores[rows] = self._score_images(self.compose(keep[rows]))
                bar.update(len(rows))
        return scores
