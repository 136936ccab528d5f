"""Explain photo files end to end: read, shrink, segment, score once, run LIME and/or SHAP, write PNG + JSON.

One photo gives, per method ``m`` in ``methods``:

- ``<stem>.<m>.png``: the photo at its own pixel size, superpixels tinted green (raised P(aesthetic))
  or red (lowered it), with the call and its confidence;
- ``<stem>.<m>.json``: the weight of every superpixel and how it was measured;
- for SHAP also ``<stem>.shap_bars.png``: the top superpixels as a bar chart.

The explanation itself runs on a copy whose longer side is at most ``max_side`` pixels, by
default the largest input any branch resizes to (996, multigap's max side; read from the branches'
data configs), so the model sees the same
pixels it would see in a plain prediction, while a 24-megapixel copy per perturbed sample would
cost memory and time, not insight. The label map is scaled back up to draw on the full photo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aesthetic.explain.explanation import DEFAULT_THRESHOLD, Explanation
from aesthetic.explain.perturb import BASELINES, DEFAULT_BASELINE, DEFAULT_BATCH_SIZE, ScoreFn, check_scores
from aesthetic.explain.superpixels import SegmentationConfig, segment
from aesthetic.feature_extraction.branches import largest_input_side
from aesthetic.imageio import read_image

log = logging.getLogger(__name__)

METHODS = ("lime", "shap")


class ExplainConfig(BaseModel):
    """Everything that decides an explanation's numbers; recorded in every JSON."""

    model_config = ConfigDict(frozen=True)
    methods: tuple[str, ...] = METHODS
    num_samples: int = Field(1000, ge=2)
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1)
    baseline: str = DEFAULT_BASELINE
    max_side: int = Field(default_factory=largest_input_side, ge=0,
                          description="0 keeps the photo's size; default: the largest branch input")
    seed: int = 0
    segmentation: SegmentationConfig = SegmentationConfig()
    bar_top: int = Field(15, ge=1)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"methods must be among {', '.join(METHODS)}; got {list(methods)}")
        return methods

    @field_validator("baseline")
    @classmethod
    def _known_baseline(cls, baseline: str) -> str:
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}; got {baseline!r}")
        return baseline


def working_copy(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` shrunk (INTER_AREA) so its longer side is at most ``max_side``; never enlarged."""
    height, width = image.shape[:2]
    if max_side <= 0 or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(2, int(round(width * scale))), max(2, int(round(height * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def explain_image(image: np.ndarray, score_fn: ScoreFn, config: ExplainConfig,
                  progress: bool = True) -> dict[str, Explanation]:
    """Run ``config.methods`` on an already-shrunk photo; its unperturbed score is computed once for all."""
    from aesthetic.explain.lime_explainer import explain_lime
    from aesthetic.explain.shap_explainer import explain_shap

    segments = segment(image, config.segmentation)
    prediction = float(check_scores(score_fn(image[None]), 1)[0])
    common = dict(num_samples=config.num_samples, batch_size=config.batch_size, seed=config.seed,
                  baseline=config.baseline, prediction=prediction, segmentation=config.segmentation.describe(),
                  progress=progress)
    runners = {"lime": explain_lime, "shap": explain_shap}
    return {method: runners[method](image, score_fn, segments, **common) for method in config.methods}


@dataclass
class PhotoResult:
    """What one photo produced: explanations by method and the files written."""

    path: Path
    photo_size_wh: tuple[int, int]
    explained_size_wh: tuple[int, int]
    explanations: dict[str, Explanation]
    files: list[Path] = field(default_factory=list)


def output_stems(paths: Sequence[Path]) -> list[str]:
    """File stems for outputs; photos sharing a stem get ``_2``, ``_3`` ... so none overwrites another."""
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def explain_file(path: Path, stem: str, out_dir: Path, score_fn: ScoreFn, config: ExplainConfig,
                 extra: dict | None = None, threshold: float = DEFAULT_THRESHOLD,
                 progress: bool = True) -> PhotoResult:
    """Explain one photo file and write its PNGs and JSONs into ``out_dir``.

    ``threshold``: the model's decision threshold on P(aesthetic), for the label shown.
    """
    from aesthetic.explain.plots import save_bar_chart, save_overlay

    photo = read_image(path)
    image = working_copy(photo, config.max_side)
    explanations = explain_image(image, score_fn, config, progress=progress)
    result = PhotoResult(Path(path), (photo.shape[1], photo.shape[0]), (image.shape[1], image.shape[0]),
                         explanations)
    for method, explanation in explanations.items():
        explanation.threshold = float(threshold)
        explanation.extra.update({"image": str(path), "photo_size_wh": list(result.photo_size_wh),
                                  "explained_size_wh": list(result.explained_size_wh),
                                  "config": config.model_dump(mode="json"), **(extra or {})})
        result.files.append(save_overlay(out_dir / f"{stem}.{method}.png", photo, explanation))
        if method == "shap":
            result.files.append(save_bar_chart(out_dir / f"{stem}.shap_bars.png", explanation, top=config.bar_top))
        result.files.append(explanation.to_json(out_dir / f"{stem}.{method}.json"))
    return result
