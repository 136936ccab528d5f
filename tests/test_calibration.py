"""Threshold from out-of-fold scores, Platt calibration (monotone, stored as JSON, applied at predict)."""

import json

import numpy as np
import pytest

from aesthetic.classifier.fc import (FCConfig, apply_calibration, fit_platt, network_threshold, sigmoid, train_fc,
                                     usable_folds)
from aesthetic.metrics import expected_calibration_error


def test_platt_is_monotone_and_fixes_an_overconfident_score():
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 1, 4000)                 # the real log-odds
    y = (rng.random(4000) < sigmoid(truth)).astype(int)
    z = 4.0 * truth + 1.0                          # overconfident and shifted logits
    a, b = fit_platt(z, y)
    assert a == pytest.approx(0.25, abs=0.04) and b == pytest.approx(-0.25, abs=0.1)
    cal = {"method": "platt", "slope": a, "intercept": b}
    grid = np.linspace(-30, 30, 601)
    assert np.all(np.diff(apply_calibration(grid, cal)) >= 0)  # never reorders
    before = expected_calibration_error(y, sigmoid(z))
    after = expected_calibration_error(y, apply_calibration(z, cal))
    assert after < before / 3
    with pytest.raises(ValueError, match="increasing"):
        fit_platt(-z, y)  # a decreasing relation is refused, never flipped


def test_network_threshold_maps_the_calibrated_cut_back():
    cal = {"method": "platt", "slope": 0.5, "intercept": -1.0}
    for t in (0.1, 0.5, 0.8):
        raw = network_threshold(t, cal)
        z = np.log(raw / (1 - raw))
        assert float(apply_calibration(np.array([z]), cal)[0]) == pytest.approx(t, abs=1e-6)
    assert network_threshold(0.3, None) == 0.3


def test_ece_matches_the_report_reliability_binning():
    from aesthetic.metrics import reliability

    rng = np.random.default_rng(1)
    p = rng.random(300)
    y = (rng.random(300) < p ** 2).astype(int)
    assert expected_calibration_error(y, p) == pytest.approx(reliability(y, p, 10).ece, abs=1e-12)
    w = np.where(y == 1, 2.0, 1.0)  # weighting by class = repeating rows
    rep_y, rep_p = np.concatenate([y, y[y == 1]]), np.concatenate([p, p[y == 1]])
    assert expected_calibration_error(y, p, weights=w) == pytest.approx(expected_calibration_error(rep_y, rep_p))


def test_folds_are_capped_by_the_rarer_class_groups():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    assert usable_folds(y, None, 5) == 3
    assert usable_folds(y, np.array(["a", "a", "b", "c", "d", "e", "f", "g"]), 5) == 2
    assert usable_folds(y, np.array(["a", "a", "a", "c", "d", "e", "f", "g"]), 5) == 0


def test_threshold_and_calibration_come_from_out_of_fold_scores_and_the_bundle_applies_them(tmp_path):
    from aesthetic.classifier.fc import logit_model, predict_batched

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(30), np.zeros(90)].astype(np.float32)
    x = np.zeros((120, 5952), np.float32)  # the width of the mobilenet branch a bundle checks; 6 columns used
    x[:, :6] = rng.normal(0, 1, (120, 6)) + y[:, None] * 1.2
    config = FCConfig(hidden=(8,), epochs=30, patience=5, threshold_folds=3)
    result = train_fc(x, y, config=config)
    assert result.metrics["threshold_from"] == "out-of-fold scores, 3-fold over groups"
    assert result.metrics["n"] == 120 and not np.isnan(result.oof_logits).any()
    cal = result.calibration
    assert cal["slope"] > 0
    # the threshold maximises balanced accuracy of the calibrated out-of-fold P
    from aesthetic.classifier.fc import choose_threshold
    assert result.threshold == pytest.approx(choose_threshold(y, apply_calibration(result.oof_logits, cal)))

    # a bundle stores it as JSON and applies it at predict time
    from aesthetic.genetic_selection.base import AllFeatures
    from aesthetic.bundles.model import AestheticModel, save_full_bundle, load_model

    selector = AllFeatures().fit(x, branches={"mobilenet": 5952})
    out = save_full_bundle(tmp_path / "m", fc_model=result.model, selector=selector,
                           extractor_config={"branches": ["mobilenet"]}, threshold=result.threshold,
                           metrics=result.metrics, extra_config={"calibration": cal})
    assert json.loads((out / "config.json").read_text())["calibration"]["slope"] == cal["slope"]
    model = load_model(out)
    assert isinstance(model, AestheticModel)
    z = predict_batched(logit_model(result.model), x)
    np.testing.assert_allclose(model.predict_features(x), apply_calibration(z, cal), rtol=1e-5, atol=1e-6)
    assert model.network_threshold == pytest.approx(network_threshold(result.threshold, cal))


def test_the_model_that_ships_is_the_mean_of_the_fold_members_that_scored_the_threshold_rows():
    """The threshold and calibration come from held-out scores of the fold members; the shipped model
    must be those members (mean logit), not a separate fit whose logit scale differs."""
    from aesthetic.classifier.fc import logit_model, predict_batched

    rng = np.random.default_rng(1)
    y = np.r_[np.ones(24), np.zeros(48)].astype(np.float32)
    x = rng.normal(0, 1, (72, 12)).astype(np.float32)
    x[:, :3] += y[:, None] * 1.5
    result = train_fc(x, y, config=FCConfig(hidden=(8,), epochs=20, patience=4, threshold_folds=3))
    assert result.metrics["members"] == 3
    members = [result.model.get_layer(f"member_{k}") for k in range(3)]
    z_members = np.stack([predict_batched(m, x) for m in members])            # (3, n) logits
    z_model = predict_batched(logit_model(result.model), x)
    np.testing.assert_allclose(z_model, z_members.mean(axis=0), rtol=1e-5, atol=1e-5)
    # every row's out-of-fold logit is the logit of exactly the member that held it out
    hits = np.isclose(z_members, result.oof_logits[None, :], rtol=1e-4, atol=1e-4)
    assert (hits.sum(axis=0) >= 1).all()
    held_by = hits.argmax(axis=0)
    assert sorted(np.unique(held_by)) == [0, 1, 2]


def test_without_folds_one_fc_is_trained_and_its_validation_rows_set_the_threshold():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(20), np.zeros(40)].astype(np.float32)
    x = rng.normal(0, 1, (60, 6)).astype(np.float32) + y[:, None]
    result = train_fc(x, y, config=FCConfig(hidden=(8,), epochs=10, patience=3, threshold_folds=0))
    assert result.metrics["threshold_from"] == "validation rows" and result.oof_logits is None
    assert not any(layer.name.startswith("member_") for layer in result.model.layers)
    assert len(result.validation_rows) > 0 and len(result.train_rows) + len(result.validation_rows) == 60
