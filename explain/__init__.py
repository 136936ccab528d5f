"""Explanations: which superpixels of a photo raised or lowered P(aesthetic) (LIME and SHAP).

The core takes a plain scoring function ``score_fn(images (n, H, W, 3) uint8) -> (n,) P(aesthetic)``,
so it runs on any model: the full two-branch classifier, the distilled student, or a toy in a test.

    from aesthetic.explain import segment, explain_lime, explain_shap, save_overlay
    segments = segment(image)                         # SLIC superpixels by default
    exp = explain_shap(image, score_fn, segments)     # 1000 samples by default
    save_overlay("out.png", image, exp)               # green raised, red lowered

Names are imported lazily so ``aesthetic --help`` does not pay for lime/shap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Explanation": "explanation", "verdict": "explanation",
    "SegmentationConfig": "superpixels", "segment": "superpixels", "grid_segments": "superpixels",
    "MaskScorer": "perturb", "baseline_image": "perturb", "BASELINES": "perturb",
    "explain_lime": "lime_explainer", "explain_shap": "shap_explainer",
    "overlay": "plots", "save_overlay": "plots", "save_bar_chart": "plots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aesthetic.explain' has no attribute {name!r}")
    return getattr(importlib.import_module(f"aesthetic.explain.{_EXPORTS[name]}"), name)
