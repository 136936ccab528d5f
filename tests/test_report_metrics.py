"""Report metrics against scikit-learn on hand-made predictions, including the degenerate cases."""

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from aesthetic.metrics import (binary_metrics, confusion, predict, reliability, roc_auc,
                                       roc_curve)

# hand-made: ties across classes (0.4, 0.7), a score exactly at the threshold (0.5)
Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0])
S = np.array([0.1, 0.4, 0.4, 0.8, 0.7, 0.7, 0.5, 0.5, 0.95, 0.2, 0.3, 0.05])


def _sk(y, pred):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "accuracy": skm.accuracy_score(y, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred, zero_division=0),
            "recall": skm.recall_score(y, pred, zero_division=0),
            "f1": skm.f1_score(y, pred, zero_division=0),
        }


@pytest.mark.parametrize("threshold,inclusive", [(0.5, False), (0.5, True), (0.0, False), (0.96, False)])
def test_threshold_metrics_match_sklearn(threshold, inclusive):
    m = binary_metrics(Y, S, threshold, inclusive=inclusive)
    pred = (S >= threshold) if inclusive else (S > threshold)
    for name, expected in _sk(Y, pred.astype(int)).items():
        assert getattr(m, name) == pytest.approx(expected), name
    assert m.confusion == skm.confusion_matrix(Y, pred.astype(int), labels=[0, 1]).tolist()
    assert (m.n, m.n_positive, m.n_negative) == (12, 6, 6)


def test_inclusive_changes_only_the_tie_at_the_threshold():
    assert predict(S, 0.5).sum() - predict(S, 0.5, inclusive=False).sum() == 2  # the two 0.5 scores


def test_roc_auc_with_ties_matches_sklearn():
    assert roc_auc(Y, S) == pytest.approx(skm.roc_auc_score(Y, S))
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y * 0.7, 1.0), 1)  # many ties
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))


def test_roc_curve_matches_sklearn_without_dropping_points():
    fpr, tpr, thr = roc_curve(Y, S)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(Y, S, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert np.isinf(thr[0])


def test_all_negative_set_reports_auc_undefined_and_conventions():
    y = np.zeros(5, dtype=int)
    s = np.array([0.1, 0.9, 0.2, 0.3, 0.7])
    m = binary_metrics(y, s, 0.5)
    assert m.roc_auc is None
    assert m.accuracy == pytest.approx(0.6)                  # specificity
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that y_pred holds a class y_true lacks
        assert m.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y, (s > 0.5).astype(int)))
    assert m.recall == 0.0 and "recall" in m.by_convention   # no positives: undefined, set to 0
    assert m.precision == 0.0 and "precision" not in m.by_convention  # 0 TP of 2 predicted: measured
    assert any("roc_auc" in n for n in m.notes)
    assert m.mean_score_positive is None


def test_no_predicted_positives_sets_precision_by_convention():
    m = binary_metrics(Y, S, 0.99)
    assert m.precision == 0.0 and m.by_convention == ["precision"]
    assert m.f1 == pytest.approx(skm.f1_score(Y, np.zeros_like(Y), zero_division=0))


def test_all_negative_and_nothing_predicted_marks_f1():
    m = binary_metrics(np.zeros(3, int), np.array([0.1, 0.2, 0.3]), 0.5)
    assert set(m.by_convention) == {"precision", "recall", "f1"}
    assert m.accuracy == 1.0 and m.f1 == 0.0


def test_reliability_matches_sklearn_calibration_curve():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 300)
    p[:5] = [0.0, 0.1, 0.2, 0.5, 1.0]  # values on bin edges
    y = (rng.uniform(0, 1, 300) < p).astype(int)
    rel = reliability(y, p, n_bins=10)
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="uniform")
    nonempty = [i for i, c in enumerate(rel.count) if c]
    np.testing.assert_allclose([rel.fraction_positive[i] for i in nonempty], frac)
    np.testing.assert_allclose([rel.mean_predicted[i] for i in nonempty], mean)
    assert sum(rel.count) == 300
    counts = np.array(rel.count)[nonempty]
    expected_ece = np.sum(counts * np.abs(frac - mean)) / 300
    assert rel.ece == pytest.approx(expected_ece)


def test_reliability_refuses_non_probabilities_and_metrics_can_skip_it():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability(Y, S * 10)
    assert binary_metrics(Y, S * 10, 5.0, probabilities=False).reliability is None


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="only 0 and 1"):
        confusion(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="equal length"):
        binary_metrics(Y, S[:-1], 0.5)
    with pytest.raises(ValueError, match="finite"):
        binary_metrics(np.array([0, 1]), np.array([0.2, np.nan]), 0.5)
    with pytest.raises(ValueError, match="empty"):
        binary_metrics(np.zeros(0, int), np.zeros(0), 0.5)
