"""The explanation benchmark measures every path on the same photo, superpixels and sample count."""

from __future__ import annotations

import numpy as np
import pytest

from aesthetic.benchmarks.speed.bench_explain import time_explanations
from aesthetic.explain.superpixels import SegmentationConfig


class Recorder:
    def __init__(self, offset: float):
        self.offset = offset
        self.batches: list[tuple[int, ...]] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(images.shape)
        return 1 / (1 + np.exp(-(images[:, :8].mean(axis=(1, 2, 3)) / 255 - self.offset)))


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_each_path_is_warmed_up_then_explained_with_the_same_samples(method):
    image = np.random.default_rng(0).integers(0, 256, size=(32, 48, 3)).astype(np.uint8)
    fast, slow = Recorder(0.2), Recorder(0.7)
    results = time_explanations({"student": fast, "full": slow}, image, num_samples=40, method=method,
                                batch_size=8, segmentation=SegmentationConfig(method="grid", grid_rows=3, grid_cols=4))
    assert list(results) == ["student", "full"]
    for recorder, name in ((fast, "student"), (slow, "full")):
        assert recorder.batches[0] == (8, 32, 48, 3)  # warm-up: one full batch before the clock starts
        scored = sum(shape[0] for shape in recorder.batches[1:])
        assert results[name]["images_scored"] == scored
        assert results[name]["superpixels"] == 12
        assert results[name]["seconds_per_explanation"] > 0
        assert 0 <= results[name]["model_share"] <= 1
    assert results["student"]["samples"] == results["full"]["samples"]
    assert results["student"]["prediction"] == pytest.approx(float(fast(image[None])[0]), abs=1e-6)
    assert results["full"]["prediction"] == pytest.approx(float(slow(image[None])[0]), abs=1e-6)


def test_rounds_alternate_paths_and_report_the_median():
    image = np.random.default_rng(1).integers(0, 256, size=(24, 24, 3)).astype(np.uint8)
    order: list[str] = []

    def tagged(name):
        def score(images):
            order.append(name)
            return np.full(len(images), 0.5)
        return score

    results = time_explanations({"a": tagged("a"), "b": tagged("b")}, image, num_samples=20, batch_size=50,
                                segmentation=SegmentationConfig(method="grid", grid_rows=2, grid_cols=2), rounds=3)
    # warm-ups a, b; then each explanation scores the photo once and the rest in one batch: a a b b a a ...
    assert order == ["a", "b"] + ["a", "a", "b", "b"] * 3
    for name in ("a", "b"):
        rounds = results[name]["seconds_all_rounds"]
        assert len(rounds) == 3 and results[name]["seconds_per_explanation"] == sorted(rounds)[1]
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        time_explanations({"a": tagged("a")}, image, num_samples=20, rounds=0)
