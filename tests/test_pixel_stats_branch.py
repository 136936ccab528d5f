"""The weightless pixel_stats branch: its 28 statistics against numpy/scipy on the same pixels, float32
whatever the precision, no weights ever asked for, and the two cases it exists for (a -2 EV copy loses
its highlights, a blurred copy loses its sharp subject, a shallow depth of field keeps it)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate2d

from aesthetic.degradations import exposure, gaussian_blur
from aesthetic.feature_extraction import FeatureExtractor, get_branch
from aesthetic.feature_extraction.branches.pixel_stats import (BLACK, EDGE, FEATURE_NAMES, GRADIENT_PERCENTILES,
                                                               LAPLACIAN, LAPLACIAN_PERCENTILES, PERCENTILES,
                                                               SOBEL_X, WHITE)


def _numpy_statistics(pixels: np.ndarray) -> np.ndarray:
    """The same statistics, written directly from their definitions in float64."""
    x = pixels.astype(np.float64) / 255.0
    luma_map = 0.2126 * x[..., 0] + 0.7152 * x[..., 1] + 0.0722 * x[..., 2]
    r, g, b = x[..., 0].ravel(), x[..., 1].ravel(), x[..., 2].ravel()
    luma = luma_map.ravel()
    q = np.percentile(luma, PERCENTILES)
    hi, lo = x.max(axis=-1).ravel(), x.min(axis=-1).ravel()
    saturation = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0)
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    spread = q[-1] - q[0]
    sobel = np.array(SOBEL_X)
    gradient = np.hypot(correlate2d(luma_map, sobel, mode="valid"), correlate2d(luma_map, sobel.T, mode="valid")).ravel()
    laplacian = np.abs(correlate2d(luma_map, np.array(LAPLACIAN), mode="valid")).ravel()
    gq = np.percentile(gradient, GRADIENT_PERCENTILES)
    return np.array([*q, luma.mean(), luma.std(), np.mean(luma < BLACK), np.mean(luma > WHITE), spread,
                     saturation.mean(), colourfulness, np.percentile(luma, 99.9), luma.max(), *gq, *np.percentile(laplacian, LAPLACIAN_PERCENTILES),
                     gq[-1] / max(spread, 0.05), gradient.mean(), np.mean(gradient > EDGE)])


@pytest.fixture(scope="module")
def fx():
    return FeatureExtractor(["pixel_stats"], weights="none")


def _feature(rows: np.ndarray, name: str) -> np.ndarray:
    return rows[:, FEATURE_NAMES.index(name)]


def test_statistics_match_numpy_on_the_branch_input(fx, astronaut):
    from skimage import data

    images = [astronaut, data.coffee(), np.full((300, 400, 3), 200, np.uint8)]
    got = fx.extract_arrays(images)["pixel_stats"]
    assert got.shape == (3, len(FEATURE_NAMES)) == (3, get_branch("pixel_stats").width) and got.dtype == np.float32
    assert fx.data_configs["pixel_stats"].prepare(data.coffee()).shape == (341, 512, 3)  # 400x600: longest side 512
    for image, row in zip(images, got):
        expected = _numpy_statistics(fx.data_configs["pixel_stats"].prepare(image))
        np.testing.assert_allclose(row, expected, atol=5e-5, rtol=1e-4)
    flat = got[2]
    assert np.allclose(flat[:len(PERCENTILES)], (0.2126 + 0.7152 + 0.0722) * 200 / 255, atol=1e-6)
    assert flat[FEATURE_NAMES.index("luma_std")] == pytest.approx(0.0, abs=1e-5)
    assert flat[FEATURE_NAMES.index("gradient_p99.9")] == pytest.approx(0.0, abs=1e-5)


def test_weightless_whatever_weights_are_given_and_float32_under_bf16(astronaut):
    both = FeatureExtractor(["mobilenet", "pixel_stats"], weights="none", input_scale=0.25, precision="bf16")
    assert both.weights["pixel_stats"].kind == "none" and both.config().weights["pixel_stats"] is None
    assert FeatureExtractor(["pixel_stats"], weights="/no/such/file.h5").weights["pixel_stats"].kind == "none"
    bf16 = both.extract_arrays([astronaut])["pixel_stats"]
    fp32 = FeatureExtractor(["pixel_stats"], weights="none", input_scale=0.25,
                            precision="fp32").extract_arrays([astronaut])["pixel_stats"]
    np.testing.assert_array_equal(bf16, fp32)  # statistics are computed in float32 under any policy


def test_a_darkened_copy_loses_its_highlights_a_dark_scene_keeps_them(fx, astronaut):
    dark_scene = astronaut.copy()
    dark_scene[:, :400] = (dark_scene[:, :400] * 0.1).astype(np.uint8)  # most of the frame dark, highlights kept
    got = fx.extract_arrays([astronaut, dark_scene, exposure(astronaut, -2.0)])["pixel_stats"]
    mean, p99, top = _feature(got, "luma_mean"), _feature(got, "luma_p99"), _feature(got, "luma_max")
    assert mean[1] < mean[0]
    assert p99[2] < 0.6 < 0.8 < p99[1]  # -2 EV: white becomes about 0.54 in sRGB
    white = exposure(np.full((4, 4, 3), 255, np.uint8), -2.0)[0, 0, 0] / 255.0  # independent of the branch
    assert top[2] <= white + 1e-6 < 0.55 < 0.9 < top[1] <= top[0] + 1e-6


def test_a_blurred_copy_loses_its_sharp_subject_a_shallow_depth_of_field_keeps_it(fx, astronaut):
    background_blurred = gaussian_blur(astronaut, 6.0)
    shallow = background_blurred.copy()
    shallow[150:350, 180:330] = astronaut[150:350, 180:330]  # a sharp subject on a smooth background
    got = fx.extract_arrays([astronaut, shallow, background_blurred])["pixel_stats"]
    top = _feature(got, "gradient_p99.9")
    assert top[2] < 0.3 * top[1] and top[1] > 0.5 * top[0]
    assert _feature(got, "gradient_mean")[1] < _feature(got, "gradient_mean")[0]  # the mean sees "blurrier"
