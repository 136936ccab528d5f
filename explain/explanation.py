"""The result of explaining one photo: a weight per superpixel and what it was measured against."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aesthetic.explain.superpixels import superpixel_stats
from aesthetic.fileio import atomic_write_text

#: Decision threshold on P(aesthetic) when the model does not carry its own.
DEFAULT_THRESHOLD = 0.5


def verdict(probability: float, threshold: float = DEFAULT_THRESHOLD) -> tuple[str, float]:
    """(``"aesthetic"`` or ``"not aesthetic"``, confidence in that call, in [0.5, 1]).

    The call is ``P >= threshold`` (a bundle's chosen threshold, 0.5 by default). The confidence
    rescales P piecewise-linearly so that the threshold maps to 0.5 (0 -> 0, threshold -> 0.5,
    1 -> 1) and reports that of the class called; with threshold 0.5 it is ``P`` or ``1 - P``.
    A bundle whose threshold is 0.18 therefore never shows "aesthetic, 30% confident".
    """
    p, t = float(probability), float(threshold)
    if 0.0 < t < 1.0:
        rescaled = 0.5 * p / t if p < t else 0.5 + 0.5 * (p - t) / (1.0 - t)
    else:  # degenerate thresholds: fall back to the raw probability
        rescaled = p
    if p >= t:
        return "aesthetic", float(rescaled)
    return "not aesthetic", float(1.0 - rescaled)


@dataclass
class Explanation:
    """Superpixel attributions for P(aesthetic) of one photo.

    ``weights[i]`` is superpixel ``i``'s contribution in probability units: positive raised
    P(aesthetic), negative lowered it. For SHAP, ``base_value`` is the score with every superpixel
    removed and ``base_value + weights.sum() == prediction`` (additivity). For LIME, ``base_value``
    is the intercept of the local linear model and ``fit_r2`` its weighted R^2.
    """

    method: str
    segments: np.ndarray  # (H, W) int32, labels 0..n_superpixels-1
    weights: np.ndarray  # (n_superpixels,) float64
    base_value: float
    prediction: float  # score_fn of the unperturbed photo
    seconds: float  # wall time of the explanation (sampling + scoring + fitting)
    n_samples: int  # perturbation masks in the method's sample (lime: incl. the unperturbed photo)
    n_evaluations: int = 0  # images this explanation actually sent to score_fn
    model_seconds: float = 0.0  # part of `seconds` spent inside score_fn
    baseline: str = ""
    segmentation: str = ""
    threshold: float = DEFAULT_THRESHOLD  # decision threshold on P(aesthetic) for the label shown
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=np.float64)
        n = int(self.segments.max()) + 1
        if self.weights.shape != (n,):
            raise ValueError(f"weights must be ({n},) for {n} superpixels, got {self.weights.shape}")

    @property
    def n_superpixels(self) -> int:
        return int(self.weights.shape[0])

    @property
    def samples_per_second(self) -> float:
        return self.n_samples / self.seconds if self.seconds > 0 else float("inf")

    def ranking(self) -> np.ndarray:
        """Superpixel ids from the one that raised P(aesthetic) most to the one that lowered it most."""
        return np.argsort(-self.weights, kind="stable")

    def top(self, k: int = 10) -> np.ndarray:
        """The ``k`` superpixel ids with the largest ``|weight|``, largest first."""
        return np.argsort(-np.abs(self.weights), kind="stable")[:k]

    def heatmap(self) -> np.ndarray:
        """``(H, W)`` float64: each pixel carries its superpixel's weight."""
        return self.weights[self.segments]

    def to_dict(self) -> dict[str, Any]:
        label, confidence = verdict(self.prediction, self.threshold)
        stats = superpixel_stats(self.segments)
        for entry in stats:
            entry["weight"] = float(self.weights[entry["id"]])
        out = {
            "method": self.method,
            "prediction": self.prediction,
            "label": label,
            "confidence": confidence,
            "threshold": self.threshold,
            "base_value": self.base_value,
            "sum_of_weights": float(self.weights.sum()),
            "image_size_wh": [int(self.segments.shape[1]), int(self.segments.shape[0])],
            "n_superpixels": self.n_superpixels,
            "segmentation": self.segmentation,
            "baseline": self.baseline,
            "n_samples": self.n_samples,
            "n_evaluations": self.n_evaluations,
            "seconds": round(self.seconds, 4),
            "model_seconds": round(self.model_seconds, 4),
            "samples_per_second": round(self.samples_per_second, 2),
            "superpixels": stats,
        }
        out.update(self.extra)
        return out

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON atomically; return the path."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path
