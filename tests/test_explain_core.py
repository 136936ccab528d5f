"""LIME and SHAP over superpixels on toy models whose answer is known, plus the plots and the JSON."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from aesthetic.explain.explanation import Explanation, verdict
from aesthetic.explain.lime_explainer import explain_lime
from aesthetic.explain.perturb import MaskScorer, baseline_image
from aesthetic.explain.plots import overlay, save_bar_chart, save_overlay
from aesthetic.explain.shap_explainer import explain_shap
from aesthetic.explain.superpixels import SegmentationConfig, grid_segments, relabel, resize_segments, segment

SIZE = 64
# 4x4 grid of 16-px squares, ids row-major: the top-left quadrant is {0, 1, 4, 5},
# the bottom-right quadrant is {10, 11, 14, 15}.
TOP_LEFT = {0, 1, 4, 5}
BOTTOM_RIGHT = {10, 11, 14, 15}
EXPLAINERS = {"lime": explain_lime, "shap": explain_shap}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _quadrant_brightness(images: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    return images[:, rows, cols].astype(np.float64).mean(axis=(1, 2, 3)) / 255.0


def top_left_model(images: np.ndarray) -> np.ndarray:
    """P(aesthetic) rises with the brightness of the top-left quadrant and nothing else."""
    return _sigmoid(6.0 * (_quadrant_brightness(images, slice(0, 32), slice(0, 32)) - 0.5))


def tug_of_war_model(images: np.ndarray) -> np.ndarray:
    """Bright top-left raises P(aesthetic); bright bottom-right lowers it; the rest is ignored."""
    top_left = _quadrant_brightness(images, slice(0, 32), slice(0, 32))
    bottom_right = _quadrant_brightness(images, slice(32, 64), slice(32, 64))
    return _sigmoid(6.0 * (top_left - bottom_right))


@pytest.fixture()
def toy_image() -> np.ndarray:
    """Dark textured photo with bright top-left and bottom-right quadrants."""
    rng = np.random.default_rng(7)
    image = rng.integers(20, 90, size=(SIZE, SIZE, 3)).astype(np.uint8)
    image[:32, :32] = rng.integers(200, 256, size=(32, 32, 3))
    image[32:, 32:] = rng.integers(200, 256, size=(32, 32, 3))
    return image


@pytest.fixture()
def grid() -> np.ndarray:
    return grid_segments(SIZE, SIZE, 4, 4)


# --------------------------------------------------------------------------- ranking on toy models

@pytest.mark.parametrize("method", ["lime", "shap"])
def test_region_the_model_reads_ranks_first(method, toy_image, grid):
    explanation = EXPLAINERS[method](toy_image, top_left_model, grid, num_samples=200, progress=False)
    ranked = explanation.ranking()
    assert set(ranked[:4].tolist()) == TOP_LEFT
    inside = explanation.weights[list(TOP_LEFT)]
    outside = np.delete(explanation.weights, list(TOP_LEFT))
    assert inside.min() > 0
    # superpixels the model never looks at get (almost) nothing next to the ones it does
    assert np.abs(outside).max() < 0.2 * inside.min()


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_helping_region_is_positive_and_hurting_region_negative(method, toy_image, grid):
    explanation = EXPLAINERS[method](toy_image, tug_of_war_model, grid, num_samples=200, progress=False)
    ranked = explanation.ranking().tolist()
    assert set(ranked[:4]) == TOP_LEFT
    assert set(ranked[-4:]) == BOTTOM_RIGHT
    assert (explanation.weights[list(TOP_LEFT)] > 0).all()
    assert (explanation.weights[list(BOTTOM_RIGHT)] < 0).all()


def test_shap_is_additive_and_base_is_the_fully_removed_photo(toy_image, grid):
    explanation = explain_shap(toy_image, tug_of_war_model, grid, num_samples=200, progress=False)
    prediction = float(tug_of_war_model(toy_image[None])[0])
    removed = float(tug_of_war_model(baseline_image(toy_image, "mean")[None])[0])
    assert explanation.prediction == pytest.approx(prediction, abs=1e-12)
    assert explanation.base_value == pytest.approx(removed, abs=1e-12)
    assert explanation.base_value + explanation.weights.sum() == pytest.approx(prediction, abs=1e-6)
    assert abs(explanation.extra["additivity_error"]) < 1e-6


def test_shap_with_every_coalition_matches_exact_shapley_values():
    """4 superpixels: shap enumerates all 14 coalitions; compare with the Shapley formula by brute force."""
    from itertools import combinations
    from math import factorial

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(16, 16, 3)).astype(np.uint8)
    segments = grid_segments(16, 16, 2, 2)

    def interacting(images):  # non-additive in the regions, so the weights must come from Shapley
        a = _quadrant_brightness(images, slice(0, 8), slice(0, 8))
        b = _quadrant_brightness(images, slice(0, 8), slice(8, 16))
        c = _quadrant_brightness(images, slice(8, 16), slice(0, 16))
        return _sigmoid(3 * a * b - 2 * c)

    explanation = explain_shap(image, interacting, segments, num_samples=1000, progress=False)
    scorer = MaskScorer(image, segments, interacting, progress=False)

    def value(coalition):
        mask = np.zeros((1, 4))
        mask[0, list(coalition)] = 1
        return scorer(mask)[0]

    exact = np.zeros(4)
    for i in range(4):
        others = [j for j in range(4) if j != i]
        for size in range(4):
            for subset in combinations(others, size):
                weight = factorial(size) * factorial(4 - size - 1) / factorial(4)
                exact[i] += weight * (value(subset + (i,)) - value(subset))
    np.testing.assert_allclose(explanation.weights, exact, atol=1e-9)


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_same_seed_same_weights(method, toy_image, grid):
    first = EXPLAINERS[method](toy_image, top_left_model, grid, num_samples=100, seed=5, progress=False)
    again = EXPLAINERS[method](toy_image, top_left_model, grid, num_samples=100, seed=5, progress=False)
    np.testing.assert_array_equal(first.weights, again.weights)


def test_lime_weights_are_lime_image_weights(toy_image, grid):
    """Batched scoring changes the cost, not the answer: same weights as stock lime_image."""
    from lime import lime_image

    ours = explain_lime(toy_image, tug_of_war_model, grid, num_samples=150, seed=11, baseline="black",
                        progress=False)
    stock = lime_image.LimeImageExplainer(kernel_width=0.25, feature_selection="none", random_state=11)
    result = stock.explain_instance(toy_image, lambda x: tug_of_war_model(x)[:, None], labels=(0,),
                                    hide_color=0, top_labels=None, num_features=16, num_samples=150,
                                    segmentation_fn=lambda _img: grid, random_seed=11)
    expected = np.zeros(16)
    for feature, weight in result.local_exp[0]:
        expected[feature] = weight
    np.testing.assert_allclose(ours.weights, expected, rtol=1e-9, atol=1e-12)
    assert ours.base_value == pytest.approx(result.intercept[0])


# --------------------------------------------------------------------------- scoring cost

class CountingModel:
    """Wraps a score_fn; records batch sizes and how often the unperturbed photo was scored."""

    def __init__(self, fn, original: np.ndarray):
        self.fn, self.original = fn, original
        self.batches: list[int] = []
        self.original_seen = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        assert images.dtype == np.uint8 and images.shape[1:] == self.original.shape
        self.batches.append(len(images))
        self.original_seen += int(sum(np.array_equal(im, self.original) for im in images))
        return self.fn(images)


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_perturbed_images_are_scored_in_batches_and_the_photo_once(method, toy_image, grid):
    model = CountingModel(top_left_model, toy_image)
    explanation = EXPLAINERS[method](toy_image, model, grid, num_samples=150, batch_size=16, progress=False)
    assert max(model.batches) <= 16
    assert sum(model.batches) == explanation.n_evaluations
    assert model.original_seen == 1
    if method == "lime":  # the first of lime's samples is the photo itself: scored once, not twice
        assert explanation.n_evaluations == 150


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_known_prediction_is_reused_not_recomputed(method, toy_image, grid):
    prediction = float(top_left_model(toy_image[None])[0])
    model = CountingModel(top_left_model, toy_image)
    explanation = EXPLAINERS[method](toy_image, model, grid, num_samples=100, prediction=prediction,
                                     progress=False)
    assert model.original_seen == 0
    assert explanation.prediction == prediction


def test_masked_images_keep_photo_where_on_and_baseline_where_off(toy_image, grid):
    scorer = MaskScorer(toy_image, grid, top_left_model, baseline="black", progress=False)
    mask = np.zeros((1, 16), dtype=bool)
    mask[0, [0, 15]] = True
    composed = scorer.compose(mask)[0]
    kept = (grid == 0) | (grid == 15)
    np.testing.assert_array_equal(composed[kept], toy_image[kept])
    assert (composed[~kept] == 0).all()


def test_baselines(toy_image, grid):
    mean = baseline_image(toy_image, "mean")
    np.testing.assert_array_equal(mean[5, 9], toy_image.reshape(-1, 3).mean(axis=0).round())
    per_segment = baseline_image(toy_image, "superpixel_mean", grid)
    np.testing.assert_array_equal(per_segment[0, 0], toy_image[:16, :16].reshape(-1, 3).mean(axis=0).round())
    blurred = baseline_image(toy_image, "blur")
    assert blurred.shape == toy_image.shape and blurred.std() < toy_image.std()
    with pytest.raises(ValueError, match="baseline must be one of"):
        baseline_image(toy_image, "noise")


# --------------------------------------------------------------------------- bad input

def test_bad_inputs_are_named(toy_image, grid):
    with pytest.raises(ValueError, match="segments must be an \\(H, W\\) label map"):
        explain_lime(toy_image, top_left_model, grid[:32], num_samples=10, progress=False)
    with pytest.raises(ValueError, match="image must be uint8"):
        explain_shap(toy_image.astype(np.float32), top_left_model, grid, num_samples=10, progress=False)
    with pytest.raises(ValueError, match="contiguous"):
        explain_lime(toy_image, top_left_model, grid * 2, num_samples=10, progress=False)
    with pytest.raises(ValueError, match="score_fn returned shape \\(3, 2\\)"):
        explain_lime(toy_image, lambda x: np.zeros((len(x), 2)), grid, num_samples=10, batch_size=3,
                     prediction=0.5, progress=False)
    with pytest.raises(ValueError, match="non-finite"):
        explain_shap(toy_image, lambda x: np.full(len(x), np.nan), grid, num_samples=10, progress=False)
    with pytest.raises(ValueError, match="num_samples must be >= 2"):
        explain_lime(toy_image, top_left_model, grid, num_samples=1, progress=False)


# --------------------------------------------------------------------------- segmentation

@pytest.mark.parametrize("method", ["slic", "quickshift"])
def test_real_segmentations_are_contiguous_label_maps(method, astronaut):
    image = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    segments = segment(image, method=method, n_segments=30)
    assert segments.shape == (128, 128) and segments.dtype == np.int32
    assert np.array_equal(np.unique(segments), np.arange(segments.max() + 1))
    assert segments.max() + 1 >= 5


def test_segmentation_config_is_validated():
    with pytest.raises(ValueError, match="method"):
        segment(np.zeros((8, 8, 3), np.uint8), method="watershed")
    assert "n_segments=12" in SegmentationConfig(n_segments=12).describe()


def test_grid_and_relabel():
    labels = grid_segments(5, 7, 2, 3)
    assert labels[0, 0] == 0 and labels[-1, -1] == 5 and np.unique(labels).size == 6
    np.testing.assert_array_equal(relabel(np.array([[7, 3], [3, 9]])), [[1, 0], [0, 2]])
    big = resize_segments(labels, 10, 14)
    assert big.shape == (10, 14) and big[0, 0] == 0 and big[-1, -1] == 5


# --------------------------------------------------------------------------- plots and JSON

@pytest.fixture(scope="module")
def chelsea_explanations():
    """LIME and SHAP on a real photo with real SLIC superpixels and a cheap colour model."""
    from skimage import data

    image = data.chelsea()  # (300, 451, 3)
    config = SegmentationConfig(method="slic", n_segments=40)
    segments = segment(image, config)

    def greenness(images):
        green = images[..., 1].astype(np.float64).mean(axis=(1, 2)) / 255
        return _sigmoid(10 * (green - 0.4))

    prediction = float(greenness(image[None])[0])
    kwargs = dict(num_samples=120, prediction=prediction, segmentation=config.describe(), progress=False)
    return image, explain_lime(image, greenness, segments, **kwargs), explain_shap(image, greenness, segments,
                                                                                   **kwargs)


@pytest.mark.parametrize("index", [1, 2], ids=["lime", "shap"])
def test_overlay_png_has_image_size_and_tints_by_sign(index, chelsea_explanations, tmp_path):
    image, explanation = chelsea_explanations[0], chelsea_explanations[index]
    path = save_overlay(tmp_path / f"{explanation.method}.png", image, explanation)
    written = cv2.imread(str(path))
    assert written.shape == image.shape
    drawn = written[..., ::-1].astype(int)
    below_caption = np.zeros(image.shape[:2], bool)
    below_caption[image.shape[0] // 2:] = True  # the caption band is at the top
    best, worst = explanation.ranking()[0], explanation.ranking()[-1]
    for sid, channel in ((best, 1), (worst, 0)):  # green for raised, red for lowered
        region = (explanation.segments == sid) & below_caption
        if region.sum() < 50:
            region = explanation.segments == sid
        shift = (drawn[region] - image[region].astype(int)).mean(axis=0)
        others = [c for c in range(3) if c != channel]
        assert shift[channel] > shift[others].max() + 10, (sid, shift)


def test_overlay_draws_on_a_larger_copy_of_the_photo(chelsea_explanations):
    image, explanation = chelsea_explanations[0], chelsea_explanations[1]
    big = cv2.resize(image, (902, 600), interpolation=cv2.INTER_LINEAR)
    assert overlay(big, explanation).shape == big.shape


def test_shap_bar_chart_png(chelsea_explanations, tmp_path):
    explanation = chelsea_explanations[2]
    path = save_bar_chart(tmp_path / "bars.png", explanation, top=10, width_in=7, dpi=100)
    written = cv2.imread(str(path))
    assert written.shape == (int(round((1.6 + 0.32 * 10) * 100)), 700, 3)


def test_json_weights_round_trip_and_shap_sums_to_prediction(chelsea_explanations, tmp_path):
    for explanation in chelsea_explanations[1:]:
        path = explanation.to_json(tmp_path / f"{explanation.method}.json")
        saved = json.loads(path.read_text())
        weights = np.array([entry["weight"] for entry in saved["superpixels"]])
        np.testing.assert_array_equal(weights, explanation.weights)
        assert [entry["id"] for entry in saved["superpixels"]] == list(range(explanation.n_superpixels))
        areas = [entry["area_px"] for entry in saved["superpixels"]]
        assert sum(areas) == 300 * 451
        assert saved["segmentation"].startswith("slic(") and saved["image_size_wh"] == [451, 300]
        assert saved["label"] == verdict(saved["prediction"], saved["threshold"])[0]
        if explanation.method == "shap":
            assert saved["base_value"] + weights.sum() == pytest.approx(saved["prediction"], abs=1e-6)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_label_follows_the_models_threshold(grid):
    explanation = Explanation(method="shap", segments=grid, weights=np.zeros(16), base_value=0.45, prediction=0.45,
                              seconds=1, n_samples=1)
    assert explanation.to_dict()["label"] == "not aesthetic"
    assert explanation.to_dict()["confidence"] == pytest.approx(0.55)
    explanation.threshold = 0.4  # a bundle whose chosen threshold is 0.4 calls P = 0.45 aesthetic
    assert explanation.to_dict()["label"] == "aesthetic"
    # P rescaled so the threshold sits at 0.5: 0.5 + 0.5 * (0.45 - 0.4) / (1 - 0.4)
    assert explanation.to_dict()["confidence"] == pytest.approx(0.5 + 0.5 * 0.05 / 0.6)


@pytest.mark.parametrize("threshold", [0.1, 0.183, 0.5, 0.9])
def test_confidence_is_at_least_half_for_the_class_called_and_monotone(threshold):
    probabilities = np.linspace(0, 1, 101)
    calls = [verdict(p, threshold) for p in probabilities]
    assert all(c >= 0.5 for _, c in calls)
    rescaled = [c if label == "aesthetic" else 1 - c for label, c in calls]
    assert np.all(np.diff(rescaled) >= 0) and rescaled[0] == 0 and rescaled[-1] == 1
    assert verdict(threshold, threshold) == ("aesthetic", pytest.approx(0.5))


def test_explanation_rejects_weights_that_do_not_match_segments(grid):
    with pytest.raises(ValueError, match="weights must be \\(16,\\)"):
        Explanation(method="lime", segments=grid, weights=np.zeros(15), base_value=0, prediction=0.5,
                    seconds=1, n_samples=1)
