"""The statistics quality head: with the pixel_stats branch among the features, a small FC on its
columns learns blur, down-up and exposure, the CNN quality head learns the other degradations, and the
bundle's P is the product of three heads, saved as .keras files and loaded back to the same numbers."""

import json

import numpy as np
import pytest

from aesthetic.classifier.fc import (FCConfig, apply_calibration, choose_threshold, logit_model, predict_batched,
                                     sigmoid)
from aesthetic.classifier.quality import StatsSplit, on_columns, train_two_heads
from aesthetic.feature_extraction import get_branch

CNN, STATS = get_branch("mobilenet").width, get_branch("pixel_stats").width  # widths a bundle checks
EXTRACTOR = {"branches": ["mobilenet", "pixel_stats"],
             "versions": {b: get_branch(b).version for b in ("mobilenet", "pixel_stats")}}
KINDS = ("original", "hflip", "blur", "jpeg", "underexpose")


def _rows(seed: int = 0):
    """40 photos (10 aesthetic: CNN column 0 high), each with a mirror (clean), a blur and an underexposed
    copy (pixel statistics columns 0 and 1 low) and a JPEG copy (CNN column 1 high). The blurred copies
    also move CNN column 2, and so do clean aesthetic photos half as much: the smooth-means-blurred trap."""
    rng, extra = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    n = 40
    y_photo = (np.arange(n) < 10).astype(np.float32)
    feats, labels, groups, kinds = [], [], [], []
    for k in range(n):
        for kind in KINDS:
            f = np.zeros(CNN + STATS, np.float32)
            f[:6] = rng.normal(0, 0.3, 6)
            f[CNN:CNN + 26] = rng.normal(0, 0.3, 26)  # the same draws whatever the branch's width
            f[CNN + 26:] = extra.normal(0, 0.3, STATS - 26)
            f[0] += 2.0 * y_photo[k]
            f[1] += 2.5 if kind == "jpeg" else 0.0
            f[2] += 2.0 if kind == "blur" else 1.0 * y_photo[k]
            f[CNN] -= 2.5 if kind == "blur" else 0.0
            f[CNN + 1] -= 2.5 if kind == "underexpose" else 0.0
            feats.append(f)
            labels.append(y_photo[k] if kind in ("original", "hflip") else 0.0)
            groups.append(f"p{k}")
            kinds.append(kind)
    kinds = np.array(kinds, dtype=object)
    clean = np.isin(kinds, ("original", "hflip"))
    return (np.array(feats), np.array(labels, np.float32), np.array(groups, dtype=object), clean,
            kinds == "original", kinds)


def _split(kinds):
    return StatsSplit(np.arange(CNN, CNN + STATS), kinds, ("blur", "down_up", "underexpose", "overexpose"),
                      hidden=(8,), dropout=0.1)


@pytest.fixture(scope="module")
def trained():
    x, y, g, clean, real, kinds = _rows()
    config = FCConfig(hidden=(8,), epochs=60, patience=10, threshold_folds=2, learning_rate=0.01)
    return x, y, g, clean, real, kinds, train_two_heads(x, y, g, clean, real, config, _split(kinds))


def test_each_quality_head_learns_only_its_own_degradations(trained):
    x, y, g, clean, real, kinds, result = trained
    cnn_rows, stats_rows = _split(kinds).masks(clean)
    np.testing.assert_array_equal(cnn_rows, ~np.isin(kinds, ("blur", "underexpose")))
    np.testing.assert_array_equal(stats_rows, kinds != "jpeg")
    # out-of-fold logits exist exactly on the rows each head learned from
    np.testing.assert_array_equal(~np.isnan(result.quality_oof_logits), cnn_rows)
    np.testing.assert_array_equal(~np.isnan(result.stats_quality_oof_logits), stats_rows)
    # the CNN quality head never saw a blurred copy, so the clean aesthetic photos (half-way along the
    # column blur moves) stay clean for it; the statistics head rejects blur and underexposure
    p_cnn = predict_batched(result.quality_model, x)
    p_stats = predict_batched(result.stats_quality_model, x)
    aesthetic_clean = clean & (y == 1)
    assert p_cnn[aesthetic_clean].mean() > 0.5 > p_cnn[kinds == "jpeg"].mean()
    assert p_stats[clean].mean() > 0.5
    assert p_stats[kinds == "blur"].mean() < 0.5 and p_stats[kinds == "underexpose"].mean() < 0.5
    assert result.metrics["quality_auc"] > 0.9 and result.metrics["stats_quality_auc"] > 0.9


def test_the_statistics_head_reads_its_columns_and_nothing_else(trained):
    x, y, g, clean, real, kinds, result = trained
    net = result.stats_quality_model
    assert net.input_shape[-1] == CNN + STATS
    changed = x.copy()
    changed[:, :CNN] = np.random.default_rng(1).normal(0, 5, (len(x), CNN))
    np.testing.assert_array_equal(predict_batched(net, changed), predict_batched(net, x))
    changed[:, CNN] -= 3.0
    assert not np.allclose(predict_batched(net, changed), predict_batched(net, x))


def test_the_masks_give_each_head_its_kinds_and_both_the_clean_rows_and_frames():
    kinds = np.array(["original", "square", "blur", "jpeg", "noise", "tilt", "bad_crop", "underexpose", "synthetic"],
                     dtype=object)
    clean = np.isin(kinds, ("original", "square"))
    cnn, stats = StatsSplit(np.arange(3), kinds, ("blur", "underexpose")).masks(clean)
    np.testing.assert_array_equal(cnn, [1, 1, 0, 1, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(stats, [1, 1, 1, 0, 0, 0, 0, 1, 1])
    cnn, _ = StatsSplit(np.arange(3), kinds, ("blur",), cnn_kinds=("jpeg", "tilt")).masks(clean)
    np.testing.assert_array_equal(cnn, [1, 1, 0, 1, 0, 1, 0, 0, 1])


def test_the_threshold_is_chosen_on_the_out_of_fold_product_of_three_heads(trained):
    x, y, g, clean, real, kinds, result = trained
    z_a = np.full(len(y), np.nan, np.float32)
    z_a[np.flatnonzero(clean)] = result.oof_logits
    w_q, w_s = result.quality_weights  # each quality head's exponent, chosen on the same out-of-fold scores
    p = (apply_calibration(z_a[real], result.calibration) * sigmoid(result.quality_oof_logits[real]) ** w_q
         * sigmoid(result.stats_quality_oof_logits[real]) ** w_s)
    assert result.threshold == pytest.approx(choose_threshold(y[real], p))
    assert result.metrics["n"] == int(real.sum())


def _selector(x):
    from aesthetic.genetic_selection.base import AllFeatures

    return AllFeatures().fit(x, branches={"mobilenet": CNN, "pixel_stats": STATS})


def test_the_bundle_saves_three_heads_and_predicts_their_product(trained, tmp_path):
    from aesthetic.bundles.model import QUALITY_FILE, STATS_QUALITY_FILE, load_model, save_full_bundle

    x, y, g, clean, real, kinds, result = trained
    out = save_full_bundle(tmp_path / "m", fc_model=result.model, selector=_selector(x),
                           extractor_config=EXTRACTOR, threshold=result.threshold,
                           metrics=result.metrics, extra_config={"calibration": result.calibration},
                           quality_model=result.quality_model, stats_quality_model=result.stats_quality_model,
                           quality_weights=result.quality_weights)
    head = json.loads((out / "config.json").read_text())["quality_head"]
    w_q, w_s = result.quality_weights
    assert head["weights"] == [w_q, w_s]
    assert head["stats_file"] == STATS_QUALITY_FILE and head["stats_columns"] == list(range(CNN, CNN + STATS))
    assert sorted(p.name for p in out.glob("*.keras")) == sorted(["model.keras", QUALITY_FILE, STATS_QUALITY_FILE])

    model = load_model(out)
    # independent computation: each head's logit on its own input, Platt on the aesthetic head's
    z = predict_batched(logit_model(result.model), x).astype(np.float64)
    a, b = result.calibration["slope"], result.calibration["intercept"]
    z_q = predict_batched(logit_model(result.quality_model), x).astype(np.float64)
    inner = result.stats_quality_model.layers[-1]  # the members' mean, which takes the 26 columns
    z_s = predict_batched(logit_model(inner), x[:, CNN:]).astype(np.float64)
    expected = 1 / (1 + np.exp(-(a * z + b))) / (1 + np.exp(-z_q)) ** w_q / (1 + np.exp(-z_s)) ** w_s
    got = model.predict_features(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # each head's own output, before the product: what says why a photo was called not aesthetic
    heads = model.head_outputs(x)
    assert list(heads) == ["aesthetic_head", "clean_cnn", "clean_statistics"]
    for key, want in (("aesthetic_head", 1 / (1 + np.exp(-(a * z + b)))), ("clean_cnn", 1 / (1 + np.exp(-z_q))),
                      ("clean_statistics", 1 / (1 + np.exp(-z_s)))):
        np.testing.assert_allclose(heads[key], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.decide(got), (expected >= result.threshold).astype(np.int8))
    # a blurred copy passes the CNN head and is stopped by the statistics head
    blur = kinds == "blur"
    assert np.mean(got[blur & (np.repeat(np.arange(40) < 10, len(KINDS)))] < result.threshold) >= 0.8

    (out / STATS_QUALITY_FILE).unlink()
    from aesthetic.bundles.model import BundleError
    with pytest.raises(BundleError, match="quality_stats.keras .*missing"):
        load_model(out)


def test_a_statistics_head_without_a_quality_head_is_refused(trained, tmp_path):
    from aesthetic.bundles.model import BundleError, save_full_bundle

    x, y, g, clean, real, kinds, result = trained
    with pytest.raises(BundleError, match="joins a quality head"):
        save_full_bundle(tmp_path / "m", fc_model=result.model, selector=_selector(x),
                         extractor_config=EXTRACTOR, threshold=0.5, metrics={},
                         stats_quality_model=result.stats_quality_model)


def test_a_split_that_leaves_a_head_without_degraded_rows_is_refused():
    x, y, g, clean, real, kinds = _rows()
    every = StatsSplit(np.arange(CNN, CNN + STATS), kinds, ("blur", "jpeg", "underexpose"), cnn_kinds=("noise",))
    with pytest.raises(ValueError, match="CNN quality head has no degraded rows"):
        train_two_heads(x, y, g, clean, real, FCConfig(hidden=(8,), epochs=2), every)
    with pytest.raises(ValueError, match="columns must be positions"):
        train_two_heads(x, y, g, clean, real, FCConfig(hidden=(8,), epochs=2),
                        StatsSplit(np.array([CNN + STATS]), kinds, ("blur",)))


def test_selectors_say_where_a_branch_s_raw_columns_are():
    from aesthetic.genetic_selection.base import AllFeatures
    from aesthetic.genetic_selection.ga import GeneticSelector

    x = np.random.default_rng(0).normal(size=(6, 10)).astype(np.float32)
    layout = {"mobilenet": 7, "pixel_stats": 3}
    every = AllFeatures().fit(x, branches=layout)
    np.testing.assert_array_equal(every.raw_output_columns("pixel_stats"), [7, 8, 9])
    assert len(every.raw_output_columns("efficientnet")) == 0
    ga = GeneticSelector(k=4)
    ga._set_layout(layout)
    ga.n_features_in_, ga.support_ = 10, np.array([1, 5, 8, 9])
    ga.n_features_out_ = 4
    cols = ga.raw_output_columns("pixel_stats")
    np.testing.assert_array_equal(cols, [2, 3])
    np.testing.assert_array_equal(ga.transform(x)[:, cols], x[:, [8, 9]])  # the same numbers, independently


def test_stats_split_needs_the_branch_and_kinds():
    from aesthetic.bundles.build import stats_split
    from aesthetic.classifier.sensitivity import SensitivityConfig

    x = np.zeros((3, CNN + STATS), np.float32)
    ids = np.array(["a.jpg#aug-s0-blur", "a.jpg#aug-square", "synthetic-frame-0"], dtype=object)
    split = stats_split(_selector(x), 2, ids, SensitivityConfig())
    assert list(split.kinds) == ["original", "original", "blur", "square", "synthetic"]
    np.testing.assert_array_equal(split.columns, np.arange(CNN, CNN + STATS))
    assert stats_split(_selector(x), 2, ids, SensitivityConfig(stats_kinds=())) is None
    assert stats_split(_selector(x), 2, ids, SensitivityConfig(design="one_head")) is None
    from aesthetic.genetic_selection.base import AllFeatures
    only_cnn = AllFeatures().fit(np.zeros((2, CNN), np.float32), branches={"mobilenet": CNN})
    assert stats_split(only_cnn, 2, ids, SensitivityConfig()) is None


def test_the_statistics_kinds_do_not_change_the_cached_rows_key():
    from aesthetic.classifier.sensitivity import SensitivityConfig, cache_key

    sources = [("a.jpg", "/x/a.jpg", 1.0)]
    assert cache_key(SensitivityConfig(), {}, sources) == cache_key(
        SensitivityConfig(stats_kinds=(), cnn_kinds=("tilt",)), {}, sources)
    assert cache_key(SensitivityConfig(), {}, sources) != cache_key(SensitivityConfig(copies=3), {}, sources)


def test_on_columns_round_trips_through_keras(tmp_path):
    import keras

    from aesthetic.classifier.fc import build_fc
    from aesthetic.classifier.quality import take_columns_layer

    inner = build_fc(3, (4,), 0.0, name="inner")
    net = on_columns(inner, 10, [7, 2, 5])
    x = np.random.default_rng(0).normal(size=(5, 10)).astype(np.float32)
    net.save(tmp_path / "n.keras")
    take_columns_layer()
    again = keras.saving.load_model(tmp_path / "n.keras", compile=False)
    np.testing.assert_allclose(predict_batched(again, x), predict_batched(inner, x[:, [7, 2, 5]]), rtol=1e-6)
