"""The quality heads' weights: P = P_aesthetic * prod P_clean ** w, w chosen on out-of-fold scores so
that a doubtful quality head stops vetoing clean photos without letting degraded copies through."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aesthetic.classifier.fc import choose_threshold
from aesthetic.classifier.quality import choose_weights, combine


def test_combine_raises_each_quality_factor_to_its_weight():
    a, q, s = np.array([0.9, 0.5, 0.2]), np.array([0.25, 1.0, 0.04]), np.array([0.81, 0.5, 1.0])
    np.testing.assert_allclose(combine(a, q, s, weights=[0.5, 0.5]), a * np.sqrt(q) * np.sqrt(s), rtol=1e-6)
    np.testing.assert_allclose(combine(a, q, s), a * q * s, rtol=1e-6)
    for bad in ([0.5], [0.0, 1.0], [1.5, 1.0]):
        with pytest.raises(ValueError, match="one weight in"):
            combine(a, q, s, weights=bad)


def _photos(rng):
    """100 real photos (50 aesthetic): the aesthetic head separates them with a little overlap; the
    quality head is sure of every photo except 10 clean aesthetic low-key ones it doubts (P_clean 0.2)."""
    y = np.repeat([1, 0], 50)
    p_a = np.where(y == 1, rng.uniform(0.55, 0.98, 100), rng.uniform(0.02, 0.6, 100))
    p_clean = rng.uniform(0.9, 1.0, 100)
    p_clean[:10] = 0.2
    return y, p_a, p_clean


def test_a_doubtful_quality_head_is_weighted_down_while_the_copies_stay_rejected():
    rng = np.random.default_rng(0)
    y, p_a, p_clean = _photos(rng)
    copies = rng.uniform(1e-4, 1e-2, 120)  # the quality head is sure these are spoiled
    kinds = np.repeat(["blur", "noise"], 60)
    choice = choose_weights(y, p_a, [p_clean], [copies], kinds)
    assert choice.weights[0] < 1.0 and choice.score > choice.product_score
    # independent: the threshold and score of the weighted product on the photos
    p = p_a * p_clean ** choice.weights[0]
    assert choice.threshold == pytest.approx(choose_threshold(y, p))
    called = p >= choice.threshold
    assert choice.score == pytest.approx(0.5 * (called[y == 1].mean() + (~called[y == 0]).mean()))
    # a copy is judged as if the aesthetic head gave it P = 1: its quality factor alone is under the cut
    for kind in ("blur", "noise"):
        expected = np.mean(copies[kinds == kind] ** choice.weights[0] < choice.threshold)
        assert choice.rejected[kind] == pytest.approx(expected)
        assert choice.rejected[kind] >= choice.product_rejected[kind] - 0.1  # the default slack


@pytest.mark.parametrize("copy_p_clean", [0.3, 0.05, 0.9])
def test_the_weight_goes_no_lower_than_the_copies_allow(copy_p_clean):
    from aesthetic.classifier.quality import WEIGHT_GRID

    y, p_a, p_clean = _photos(np.random.default_rng(1))
    choice = choose_weights(y, p_a, [p_clean], [np.full(40, copy_p_clean)], np.full(40, "jpeg"), slack=0.0)
    # independent: every weight's cut and score on the photos, and whether the copies stay under the cut
    table = []
    for w in WEIGHT_GRID:
        p = p_a * p_clean ** w
        t = choose_threshold(y, p)
        called = p >= t
        table.append((w, 0.5 * (called[y == 1].mean() + (~called[y == 0]).mean()), copy_p_clean ** w < t))
    product_rejects = table[-1][2]
    allowed = [(score, w) for w, score, rejected in table if rejected or not product_rejects]
    best = max(score for score, _ in allowed)
    assert choice.weights == (max(w for score, w in allowed if score == pytest.approx(best)),)
    assert choice.product_rejected == {"jpeg": float(product_rejects)}
    if copy_p_clean == 0.9:  # copies the plain product lets through anyway: nothing to keep, lowest weight wins
        assert choice.product_rejected["jpeg"] == 0.0 and choice.weights[0] < 1.0


def test_a_head_that_does_not_learn_a_kind_counts_as_sure_the_copy_is_clean():
    rng = np.random.default_rng(2)
    y, p_a, p_clean = _photos(rng)
    # the statistics head learns blur (NaN for noise), the CNN head noise (NaN for blur)
    kinds = np.repeat(["blur", "noise"], 50)
    cnn = np.where(kinds == "noise", 1e-3, np.nan)
    stats = np.where(kinds == "blur", 1e-3, np.nan)
    choice = choose_weights(y, p_a, [p_clean, np.ones(100)], [cnn, stats], kinds)
    w_cnn, w_stats = choice.weights
    t = choice.threshold
    assert choice.rejected["noise"] == pytest.approx(float(1e-3 ** w_cnn < t))
    assert choice.rejected["blur"] == pytest.approx(float(1e-3 ** w_stats < t))
    with pytest.raises(ValueError, match="one .* array per quality head"):
        choose_weights(y, p_a, [p_clean, np.ones(100)], [cnn], kinds)


def _tiny_bundle(tmp_path, weights):
    import keras

    from aesthetic.bundles.model import save_full_bundle
    from aesthetic.genetic_selection.base import AllFeatures

    def net(seed, name):
        inputs = keras.Input((5952,))
        out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers.RandomNormal(
            stddev=0.02, seed=seed))(inputs)
        return keras.Model(inputs, out, name=name)

    x = np.random.default_rng(3).normal(size=(16, 5952)).astype(np.float32)
    fc, quality = net(1, "fc"), net(2, "quality")
    out = save_full_bundle(tmp_path / "m", fc_model=fc, selector=AllFeatures().fit(x, branches={"mobilenet": 5952}),
                           extractor_config={"branches": ["mobilenet"]}, threshold=0.3, metrics={},
                           quality_model=quality, quality_weights=weights)
    return out, x, fc, quality


def test_the_bundle_records_the_weights_and_predicts_the_weighted_product(tmp_path):
    from aesthetic.bundles.model import BundleError, load_model

    out, x, fc, quality = _tiny_bundle(tmp_path, [0.3])
    head = json.loads((out / "config.json").read_text())["quality_head"]
    assert head["weights"] == [0.3] and "** 0.3" in head["describe"]
    model = load_model(out)
    expected = fc.predict(x, verbose=0)[:, 0].astype(np.float64) * quality.predict(x, verbose=0)[:, 0] ** 0.3
    np.testing.assert_allclose(model.predict_features(x), expected, rtol=1e-5, atol=1e-6)
    assert model.quality_weights == [0.3]
    heads = model.head_outputs(x)  # the uncalibrated FC and the one quality head, each on its own
    assert list(heads) == ["aesthetic_head", "clean_cnn"]
    np.testing.assert_allclose(heads["aesthetic_head"], fc.predict(x, verbose=0)[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(heads["clean_cnn"], quality.predict(x, verbose=0)[:, 0], rtol=1e-5, atol=1e-6)

    # a bundle written before weights were recorded multiplies in fully
    config = json.loads((out / "config.json").read_text())
    del config["quality_head"]["weights"]
    (out / "config.json").write_text(json.dumps(config))
    expected_product = fc.predict(x, verbose=0)[:, 0].astype(np.float64) * quality.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(load_model(out).predict_features(x), expected_product, rtol=1e-5, atol=1e-6)

    config["quality_head"]["weights"] = [0.3, 0.5]
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"config.json: quality_head.weights must give one number in \(0, 1\]"):
        load_model(out)
    with pytest.raises(BundleError, match="quality_weights must give one weight"):
        _tiny_bundle(tmp_path / "again", [0.0])


@pytest.mark.parametrize("weights, heads, ok", [
    ([0.5, 1], 2, True), ((0.1,), 1, True), ([0.0, 1.0], 2, False), ([1.5], 1, False), ([True], 1, False),
    ([1.0], 2, False), ("1", 1, False), ([float("nan")], 1, False),
])
def test_valid_weights_is_the_one_rule_for_combine_save_and_load(weights, heads, ok):
    from aesthetic.classifier.quality import valid_weights

    assert valid_weights(weights, heads) is ok
