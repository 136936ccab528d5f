"""The two_heads design: P(aesthetic) = calibrated aesthetic head x quality head, trained, saved as
two .keras files plus JSON, and loaded back to the same predictions."""

import json

import numpy as np
import pytest

from aesthetic.classifier.fc import (FCConfig, apply_calibration, choose_threshold, logit_model, predict_batched,
                                     sigmoid)
from aesthetic.classifier.quality import combine, train_two_heads

WIDTH = 5952  # the mobilenet branch's width, which a bundle checks; a few columns carry the signal


def _rows(seed: int = 0):
    """40 photos (10 aesthetic: column 0 high), each with a clean mirror and two degraded copies
    (column 1 high) of photos of both classes; copies carry their source's group."""
    rng = np.random.default_rng(seed)
    n = 40
    y_photo = (np.arange(n) < 10).astype(np.float32)
    groups, labels, clean, real, feats = [], [], [], [], []
    for k in range(n):
        for role in ("original", "mirror", "degraded", "degraded"):
            f = np.zeros(WIDTH, np.float32)
            f[:6] = rng.normal(0, 0.3, 6)
            f[0] += 2.0 * y_photo[k]
            f[1] += 2.5 if role == "degraded" else 0.0
            feats.append(f)
            groups.append(f"p{k}")
            labels.append(0.0 if role == "degraded" else y_photo[k])
            clean.append(role != "degraded")
            real.append(role == "original")
    return (np.array(feats), np.array(labels, np.float32), np.array(groups, dtype=object),
            np.array(clean), np.array(real))


@pytest.fixture(scope="module")
def trained():
    x, y, g, clean, real = _rows()
    # two folds, the fewest that give out-of-fold scores: 4 networks to train, not 6 (P(clean) of the clean and
    # the degraded rows stayed 0.56-0.58 and 0.42-0.44, AUC 1.0, over data and config seeds 0-2)
    result = train_two_heads(x, y, g, clean, real, FCConfig(hidden=(8,), epochs=25, patience=5, threshold_folds=2))
    return x, y, g, clean, real, result


def test_combine_is_the_product_and_refuses_mismatched_heads():
    np.testing.assert_allclose(combine([0.5, 0.9, 1.0], [0.2, 1.0, 0.0]), [0.1, 0.9, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="number of rows"):
        combine([0.5, 0.5], [0.5])


def test_the_quality_head_learns_clean_vs_degraded_on_copies_of_both_classes(trained):
    x, y, g, clean, real, result = trained
    # its training targets: every clean row 1, every degraded copy 0, and copies came from both classes
    source_label = {gi: yi for gi, yi, r in zip(g, y, real) if r}
    assert {source_label[gi] for gi in g[~clean]} == {0.0, 1.0}
    assert result.quality_model is not None and result.quality_model.input_shape[-1] == WIDTH
    p_clean = predict_batched(result.quality_model, x)
    from sklearn.metrics import roc_auc_score
    assert p_clean[clean].mean() > 0.5 > p_clean[~clean].mean()
    assert roc_auc_score(clean, p_clean) > 0.95 and result.metrics["quality_auc"] > 0.95
    # the aesthetic head never trained on a degraded row
    assert set(result.train_rows) | set(result.validation_rows) == set(np.flatnonzero(clean))


def test_the_threshold_is_chosen_on_the_out_of_fold_product_over_the_real_photos(trained):
    x, y, g, clean, real, result = trained
    assert result.metrics["n"] == int(real.sum()) and result.metrics["threshold_from"].startswith("out-of-fold")
    z_a = np.full(len(y), np.nan, np.float32)
    z_a[np.flatnonzero(clean)] = result.oof_logits
    (w,) = result.quality_weights  # the quality head's exponent, chosen on the same out-of-fold scores
    assert 0 < w <= 1 and result.metrics["quality_weights"] == [w]
    p = apply_calibration(z_a[real], result.calibration) * sigmoid(result.quality_oof_logits[real]) ** w
    assert result.threshold == pytest.approx(choose_threshold(y[real], p))


def test_the_bundle_saves_both_heads_and_predicts_their_product(trained, tmp_path):
    from aesthetic.bundles.model import QUALITY_FILE, load_model, save_full_bundle
    from aesthetic.genetic_selection.base import AllFeatures

    x, y, g, clean, real, result = trained
    selector = AllFeatures().fit(x, branches={"mobilenet": WIDTH})
    out = save_full_bundle(tmp_path / "m", fc_model=result.model, selector=selector,
                           extractor_config={"branches": ["mobilenet"]}, threshold=result.threshold,
                           metrics=result.metrics, extra_config={"calibration": result.calibration},
                           quality_model=result.quality_model, quality_weights=result.quality_weights)
    config = json.loads((out / "config.json").read_text())
    (w,) = result.quality_weights
    assert config["quality_head"] == {**config["quality_head"], "file": QUALITY_FILE, "combine": "product",
                                      "weights": [w]}
    assert sorted(p.name for p in out.glob("*.keras")) == ["model.keras", QUALITY_FILE]
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.pickle"))

    model = load_model(out)
    # independent computation: Platt on the aesthetic head's logit, times the quality head's sigmoid
    z = predict_batched(logit_model(result.model), x).astype(np.float64)
    a, b = result.calibration["slope"], result.calibration["intercept"]
    z_q = predict_batched(logit_model(result.quality_model), x).astype(np.float64)
    expected = 1 / (1 + np.exp(-(a * z + b))) * (1 / (1 + np.exp(-z_q))) ** w
    got = model.predict_features(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # a second load gives identical predictions; the decision is at the product's threshold
    np.testing.assert_array_equal(load_model(out).predict_features(x), got)
    np.testing.assert_array_equal(model.decide(got), (expected >= result.threshold).astype(np.int8))
    # distillation reads the logit of the bundle's own P, compared against the bundle's own threshold
    assert model.network_threshold == pytest.approx(result.threshold)


def test_a_bundle_whose_quality_head_is_missing_is_refused(trained, tmp_path):
    from aesthetic.bundles.model import QUALITY_FILE, BundleError, load_model, save_full_bundle
    from aesthetic.genetic_selection.base import AllFeatures

    x, y, g, clean, real, result = trained
    out = save_full_bundle(tmp_path / "m", fc_model=result.model,
                           selector=AllFeatures().fit(x, branches={"mobilenet": WIDTH}),
                           extractor_config={"branches": ["mobilenet"]}, threshold=result.threshold,
                           metrics=result.metrics, quality_model=result.quality_model)
    (out / QUALITY_FILE).unlink()
    with pytest.raises(BundleError, match="quality.keras .*missing"):
        load_model(out)


def test_train_two_heads_refuses_masks_that_cannot_work():
    x, y, g, clean, real = _rows()
    with pytest.raises(ValueError, match="needs degraded rows"):
        train_two_heads(x, y, g, np.ones(len(y), bool), real)
    with pytest.raises(ValueError, match="real photo must be a clean row"):
        train_two_heads(x, y, g, clean, ~clean)


def test_strata_weights_balance_clean_and_degraded_within_each_source_class():
    from aesthetic.classifier.fc import row_weights
    from aesthetic.classifier.quality import source_classes

    # 2 aesthetic photos with 4 degraded copies each, 4 other photos with 1 copy each, one synthetic frame
    groups = np.array(["a1", "a2", "n1", "n2", "n3", "n4"] + ["a1"] * 4 + ["a2"] * 4 + ["n1", "n2", "n3", "n4", "f"],
                      dtype=object)
    labels = np.array([1, 1, 0, 0, 0, 0] + [0] * 13, np.float32)
    real = np.arange(19) < 6
    clean = real.copy()
    strata = source_classes(labels, groups, real)
    np.testing.assert_array_equal(strata, [1, 1, 0, 0, 0, 0] + [1] * 8 + [0] * 5)
    w = row_weights(clean.astype(float), "balanced", strata)
    cells = {(c, s): w[(clean == c) & (strata == s)].sum() for c in (True, False) for s in (0.0, 1.0)}
    assert all(v == pytest.approx(19 / 4) for v in cells.values()), cells
    # without strata it is the plain class balance
    np.testing.assert_allclose(row_weights(clean.astype(float), "balanced"),
                               np.where(clean, 19 / (2 * 6), 19 / (2 * 13)), rtol=1e-6)
