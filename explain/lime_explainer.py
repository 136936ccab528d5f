"""LIME over superpixels (``lime.lime_image``) with batched, cached scoring.

``lime_image.LimeImageExplainer`` draws random on/off superpixel masks (the first one all on),
weights them by cosine distance to the photo and fits a weighted ridge model; its coefficients are
the superpixel weights. We keep all of that and replace only ``data_labels``, the step that builds
and scores the perturbed images: lime's own loop deep-copies the photo once per sample and rescans
the label map once per removed superpixel, and scores the unperturbed photo as sample 0. Here the
images are composed a batch at a time (see :class:`~aesthetic.explain.perturb.MaskScorer`) and the
unperturbed score is computed once and reused.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from lime import lime_image

from aesthetic.explain.explanation import Explanation
from aesthetic.explain.perturb import DEFAULT_BASELINE, DEFAULT_BATCH_SIZE, MaskScorer, ScoreFn

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 1000


class _MaskScoredLimeExplainer(lime_image.LimeImageExplainer):
    """LimeImageExplainer whose neighbourhood is scored by a MaskScorer."""

    def __init__(self, scorer: MaskScorer, **kwargs):
        super().__init__(**kwargs)
        self._scorer = scorer

    def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10, **_):
        # Same sampling as lime_image.LimeImageExplainer.data_labels, so results match lime's.
        n_features = self._scorer.n_superpixels
        data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
        data[0, :] = 1
        return data, self._scorer(data)[:, None]


def _no_classifier(_images: np.ndarray) -> np.ndarray:  # pragma: no cover - never called
    raise AssertionError("scoring goes through MaskScorer")


def explain_lime(image: np.ndarray, score_fn: ScoreFn, segments: np.ndarray, *,
                 num_samples: int = DEFAULT_SAMPLES, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0,
                 baseline: str = DEFAULT_BASELINE, prediction: float | None = None,
                 kernel_width: float = 0.25, segmentation: str = "", progress: bool = True) -> Explanation:
    """LIME weights of each superpixel for P(aesthetic).

    Args:
        image: ``(H, W, 3) uint8`` RGB photo.
        score_fn: ``(n, H, W, 3) uint8 -> (n,)`` P(aesthetic); called with at most ``batch_size`` images.
        segments: ``(H, W)`` int labels ``0..k-1`` (see :func:`aesthetic.explain.superpixels.segment`).
        num_samples: perturbed masks in the neighbourhood, the unperturbed photo included (lime's count).
        baseline: what a removed superpixel is filled with (see :mod:`aesthetic.explain.perturb`).
        prediction: the photo's score when already known; then ``score_fn`` never sees the unperturbed photo.
        kernel_width: width of lime's exponential kernel on cosine distance (lime's default 0.25).
        segmentation: description of how ``segments`` was made, recorded in the JSON.

    Returns:
        Explanation with ``weights`` = ridge coefficients (probability per superpixel switched on),
        ``base_value`` = intercept, ``extra["fit_r2"]`` and ``extra["local_prediction"]``.
    """
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2 for LIME, got {num_samples}")
    start = time.perf_counter()
    scorer = MaskScorer(image, segments, score_fn, baseline=baseline, batch_size=batch_size,
                        prediction=prediction, progress=progress, description="LIME")
    explainer = _MaskScoredLimeExplainer(scorer, kernel_width=kernel_width, feature_selection="none",
                                         random_state=seed)
    result = explainer.explain_instance(
        image, _no_classifier, labels=(0,), hide_color=0, top_labels=None,
        num_features=scorer.n_superpixels, num_samples=num_samples, batch_size=batch_size,
        segmentation_fn=lambda _img: segments, random_seed=seed)
    weights = np.zeros(scorer.n_superpixels)
    for feature, weight in result.local_exp[0]:
        weights[feature] = weight
    seconds = time.perf_counter() - start
    explanation = Explanation(
        method="lime", segments=segments, weights=weights, base_value=float(result.intercept[0]),
        prediction=scorer.prediction, seconds=seconds, n_samples=num_samples,
        n_evaluations=scorer.n_evaluations, model_seconds=scorer.model_seconds, baseline=baseline,
        segmentation=segmentation,
        extra={"fit_r2": float(result.score), "local_prediction": float(np.ravel(result.local_pred)[0]),
               "kernel_width": kernel_width, "seed": seed, "batch_size": batch_size})
    log.info("LIME: %d samples (%d images scored) in %.2f s (%.1f samples/s, %.0f%% inside the model), "
             "%d superpixels, fit R^2 %.3f", num_samples, scorer.n_evaluations, seconds,
             explanation.samples_per_second, 100 * scorer.model_seconds / max(seconds, 1e-9),
             scorer.n_superpixels, result.score)
    return explanation
