"""Shapley values over superpixels with ``shap.KernelExplainer``.

The "features" shap sees are the ``k`` on/off switches of the superpixels, not pixels: the photo
is the all-ones vector and the background is the all-zeros vector (every superpixel filled from
the baseline, see :mod:`aesthetic.explain.perturb`). Kernel SHAP then fits the Shapley kernel
regression over sampled coalitions with the efficiency constraint built in, so

    base_value + sum(values) == score(photo)        (additivity)

holds exactly, where ``base_value`` is the score of the fully removed photo. We use the kernel
explainer rather than ``PartitionExplainer`` + ``maskers.Image`` because the latter partitions
pixels by its own recursive rectangle hierarchy; the kernel explainer explains exactly the
superpixels LIME uses, so the two methods can be compared region by region.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager

import numpy as np

from aesthetic.explain.explanation import Explanation
from aesthetic.explain.perturb import DEFAULT_BASELINE, DEFAULT_BATCH_SIZE, MaskScorer, ScoreFn

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 1000


@contextmanager
def _numpy_global_seed(seed: int):
    """shap's kernel sampler draws from numpy's global RNG; seed it and put the caller's state back."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def explain_shap(image: np.ndarray, score_fn: ScoreFn, segments: np.ndarray, *,
                 num_samples: int = DEFAULT_SAMPLES, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0,
                 baseline: str = DEFAULT_BASELINE, prediction: float | None = None,
                 segmentation: str = "", progress: bool = True) -> Explanation:
    """Kernel-SHAP value of each superpixel for P(aesthetic).

    Args:
        image: ``(H, W, 3) uint8`` RGB photo.
        score_fn: ``(n, H, W, 3) uint8 -> (n,)`` P(aesthetic); called with at most ``batch_size`` images.
        segments: ``(H, W)`` int labels ``0..k-1``.
        num_samples: coalitions to evaluate (shap's ``nsamples``; capped by shap at ``2**k - 2``
            when that is smaller, since then every coalition is enumerated exactly).
        baseline: what a removed superpixel is filled with.
        prediction: the photo's score when already known; then ``score_fn`` never sees the unperturbed photo.

    Returns:
        Explanation with ``weights`` = Shapley values (probability units) and ``base_value`` = score with
        all superpixels removed; ``extra["additivity_error"]`` = ``base + sum - prediction``.
    """
    with warnings.catch_warnings():  # shap's colour maps use matplotlib calls that are being deprecated
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap  # heavy import (numba, pandas), only when explaining

    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2 for SHAP, got {num_samples}")
    start = time.perf_counter()
    scorer = MaskScorer(image, segments, score_fn, baseline=baseline, batch_size=batch_size,
                        prediction=prediction, progress=progress, description="SHAP")
    k = scorer.n_superpixels
    with _numpy_global_seed(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        explainer = shap.KernelExplainer(scorer, np.zeros((1, k)), link="identity")
        values = explainer.shap_values(np.ones((1, k)), nsamples=num_samples, l1_reg=False, silent=True)
    values = np.asarray(values, dtype=np.float64).reshape(k)
    base_value = float(np.ravel(explainer.expected_value)[0])
    seconds = time.perf_counter() - start
    prediction = scorer.prediction
    n_coalitions = int(getattr(explainer, "nsamplesAdded", 0))
    explanation = Explanation(
        method="shap", segments=segments, weights=values, base_value=base_value, prediction=prediction,
        seconds=seconds, n_samples=n_coalitions, n_evaluations=scorer.n_evaluations,
        model_seconds=scorer.model_seconds, baseline=baseline, segmentation=segmentation,
        extra={"explainer": "shap.KernelExplainer", "additivity_error": base_value + float(values.sum()) - prediction,
               "requested_samples": num_samples, "seed": seed, "batch_size": batch_size})
    log.info("SHAP: %d coalitions (%d images scored) in %.2f s (%.1f samples/s, %.0f%% inside the model), "
             "%d superpixels, base %.4f + sum %.4f = %.4f", n_coalitions, scorer.n_evaluations, seconds,
             explanation.samples_per_second, 100 * scorer.model_seconds / max(seconds, 1e-9), k,
             base_value, values.sum(), prediction)
    return explanation
