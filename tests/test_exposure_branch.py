"""The weightless exposure branch: its 16 statistics against numpy on the same 224 x 224 pixels, float32
whatever the precision, no weights ever asked for, and the -2 EV case it exists for."""

from __future__ import annotations

import numpy as np
import pytest

from aesthetic.degradations import exposure
from aesthetic.feature_extraction import FeatureExtractor, get_branch
from aesthetic.feature_extraction.branches.exposure import BLACK, FEATURE_NAMES, PERCENTILES, WHITE


def _numpy_statistics(pixels: np.ndarray) -> np.ndarray:
    """The same statistics, written directly from their definitions in float64."""
    x = pixels.astype(np.float64) / 255.0
    r, g, b = x[..., 0].ravel(), x[..., 1].ravel(), x[..., 2].ravel()
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    q = np.percentile(luma, PERCENTILES)
    hi, lo = x.max(axis=-1).ravel(), x.min(axis=-1).ravel()
    saturation = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0)
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    return np.array([*q, luma.mean(), luma.std(), np.mean(luma < BLACK), np.mean(luma > WHITE), q[-1] - q[0],
                     saturation.mean(), colourfulness])


@pytest.fixture(scope="module")
def fx():
    return FeatureExtractor(["exposure"], weights="none")


def test_statistics_match_numpy_on_the_branch_input(fx, astronaut):
    from skimage import data

    coffee = data.coffee()
    images = [astronaut, coffee, np.full((300, 400, 3), 200, np.uint8)]
    got = fx.extract_arrays(images)["exposure"]
    assert got.shape == (3, len(FEATURE_NAMES)) == (3, get_branch("exposure").width) and got.dtype == np.float32
    for image, row in zip(images, got):
        expected = _numpy_statistics(fx.data_configs["exposure"].prepare(image))
        np.testing.assert_allclose(row, expected, atol=2e-5)
    flat = got[2]
    assert np.allclose(flat[:len(PERCENTILES)], (0.2126 + 0.7152 + 0.0722) * 200 / 255, atol=1e-6)
    assert flat[FEATURE_NAMES.index("luma_std")] == pytest.approx(0.0, abs=1e-5)


def test_weightless_whatever_weights_are_given_and_float32_under_bf16(astronaut):
    both = FeatureExtractor(["mobilenet", "exposure"], weights="none", input_scale=0.25, precision="bf16")
    assert both.weights["exposure"].kind == "none" and both.config().weights["exposure"] is None
    assert FeatureExtractor(["exposure"], weights="/no/such/file.h5").weights["exposure"].kind == "none"
    bf16 = both.extract_arrays([astronaut])["exposure"]
    fp32 = FeatureExtractor(["exposure"], weights="none", input_scale=0.25,
                            precision="fp32").extract_arrays([astronaut])["exposure"]
    np.testing.assert_array_equal(bf16, fp32)  # statistics are computed in float32 under any policy


def test_a_darkened_copy_loses_its_highlights_a_dark_scene_keeps_them(fx, astronaut):
    p99 = FEATURE_NAMES.index("luma_p99")
    dark_scene = astronaut.copy()
    dark_scene[:, :400] = (dark_scene[:, :400] * 0.1).astype(np.uint8)  # most of the frame dark, highlights kept
    darkened = exposure(astronaut, -2.0)
    got = fx.extract_arrays([astronaut, dark_scene, darkened])["exposure"]
    assert got[1, FEATURE_NAMES.index("luma_mean")] < got[0, FEATURE_NAMES.index("luma_mean")]
    assert got[2, p99] < 0.6 < 0.8 < got[1, p99]  # -2 EV: white becomes about 0.53 in sRGB
