"""Hand-crafted features against independent computations; the logistic baselines against scikit-learn."""

import json

import numpy as np
import pytest
from scipy import ndimage
from skimage import data
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aesthetic.benchmarks.report.baselines import (FEATURE_NAMES, HandcraftedLogistic, as_scorers, baseline_name,
                                 colorfulness, feature_matrix, fit_baselines, handcrafted_features,
                                 load_baselines, save_baselines)

F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def test_features_of_a_flat_grey_image():
    f = handcrafted_features(np.full((60, 90, 3), 100, np.uint8))
    assert f[F["sharpness"]] == 0 and f[F["contrast"]] == 0 and f[F["colorfulness"]] == 0
    assert f[F["saturation"]] == 0
    assert f[F["brightness"]] == pytest.approx(100 / 255)
    assert f[F["aspect_ratio"]] == pytest.approx(1.5)


def test_features_against_independent_formulas():
    image = np.ascontiguousarray(data.chelsea()[:200, :250])  # below FEATURE_SIDE: not resized
    f = handcrafted_features(image)
    r, g, b = (image[..., k].astype(np.float64) for k in range(3))
    luma = np.round(0.299 * r + 0.587 * g + 0.114 * b)
    assert f[F["brightness"]] == pytest.approx(luma.mean() / 255, abs=2e-3)
    assert f[F["contrast"]] == pytest.approx(luma.std() / 255, abs=2e-3)
    lap = ndimage.convolve(luma, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float), mode="mirror")
    assert f[F["sharpness"]] == pytest.approx(lap.var(), rel=0.02)
    mx, mn = np.max(image, axis=2).astype(float), np.min(image, axis=2).astype(float)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0)
    assert f[F["saturation"]] == pytest.approx(sat.mean(), abs=3e-3)
    assert f[F["aspect_ratio"]] == pytest.approx(250 / 200)


def test_colorfulness_hasler_suesstrunk_on_hand_made_pixels():
    # two pixels: pure red and pure green -> rg = (255, -255), yb = (127.5, 127.5)
    image = np.array([[[255, 0, 0], [0, 255, 0]]], np.uint8)
    expected = np.sqrt(255.0 ** 2 + 0.0) + 0.3 * np.sqrt(0.0 + 127.5 ** 2)
    assert colorfulness(image) == pytest.approx(expected)
    assert colorfulness(np.full((4, 4, 3), 77, np.uint8)) == 0


def test_aspect_ratio_uses_the_full_image_and_sharpness_drops_with_blur():
    wide = np.ascontiguousarray(np.tile(data.astronaut(), (1, 2, 1)))  # 512 x 1024, downsized inside
    assert handcrafted_features(wide)[F["aspect_ratio"]] == pytest.approx(2.0)
    blurred = ndimage.gaussian_filter(data.astronaut(), sigma=(3, 3, 0))
    assert handcrafted_features(blurred)[F["sharpness"]] < 0.2 * handcrafted_features(data.astronaut())[F["sharpness"]]


def _synthetic(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(1.0, 0.5, (n, len(FEATURE_NAMES)))) + 0.1
    y = (X[:, F["aspect_ratio"]] + 0.3 * rng.normal(size=n) > 1.0).astype(int)
    return X, y


def test_logistic_baseline_matches_a_sklearn_pipeline():
    X, y = _synthetic()
    ours = HandcraftedLogistic().fit(X, y)
    ref = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000)).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X)[:, 1], atol=1e-8)
    single = HandcraftedLogistic(("aspect_ratio",)).fit(X, y)
    ref1 = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))
    ref1.fit(X[:, [F["aspect_ratio"]]], y)
    np.testing.assert_allclose(single.predict_proba(X), ref1.predict_proba(X[:, [F["aspect_ratio"]]])[:, 1],
                               atol=1e-8)
    assert single.coef_[0] > 0  # wider -> more aesthetic, as planted


def test_baselines_round_trip_through_json(tmp_path):
    X, y = _synthetic()
    models = fit_baselines(X, y)
    assert [m.features for m in models] == [FEATURE_NAMES] + [(n,) for n in FEATURE_NAMES]
    path = save_baselines(tmp_path / "baselines.json", models)
    assert json.loads(path.read_text())["format"] == "aesthetic-handcrafted-baselines"
    back = load_baselines(path)
    for a, b in zip(models, back):
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_bad_training_data_and_files_are_refused(tmp_path):
    X, y = _synthetic()
    with pytest.raises(ValueError, match="both classes"):
        HandcraftedLogistic().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        HandcraftedLogistic().fit(X[:, :3], y)
    with pytest.raises(ValueError, match="subset"):
        HandcraftedLogistic(("loudness",)).fit(X, y)
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a baselines file"):
        load_baselines(bad)


def test_scorers_score_images_like_the_model_on_their_features():
    images = [np.ascontiguousarray(data.chelsea()), np.ascontiguousarray(data.coffee()),
              np.ascontiguousarray(data.astronaut()[:, :300])]
    X, y = _synthetic()
    models = fit_baselines(X, y, single=("aspect_ratio",))
    scorers = as_scorers(models)
    assert [s.name for s in scorers] == [baseline_name(FEATURE_NAMES), "baseline: aspect ratio"]
    feats = feature_matrix(images)
    for s, m in zip(scorers, models):
        np.testing.assert_allclose(s.score_images(images), m.predict_proba(feats))
        assert s.threshold == 0.5 and s.probabilistic and s.kind == "baseline"
