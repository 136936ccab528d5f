"""The FC: architecture, standardisation inside the model, imbalance handling, split and threshold."""

from __future__ import annotations

import numpy as np
import pytest

from aesthetic.metrics import binary_metrics, validation_summary

from aesthetic.classifier.fc import (FCConfig, balanced_class_weight, build_fc,
                                  choose_threshold, logit_model, predict_batched, source_ids,
                                  standardization_stats, stratified_group_split, train_fc)


def synthetic(n_neg=240, n_pos=40, dim=12, seed=0, shift=2.5):
    """Imbalanced two-class data: the positives differ from the negatives along 3 columns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_neg + n_pos, dim)).astype(np.float32) * 3 + 10
    y = np.r_[np.zeros(n_neg), np.ones(n_pos)].astype(np.float32)
    x[y == 1, :3] += shift * 3
    order = rng.permutation(len(y))
    return x[order], y[order]


def test_fc_has_three_dense_blocks_with_batchnorm_and_dropout_and_outputs_probabilities():
    model = build_fc(7, hidden=(16, 8, 4), dropout=0.25)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Dense") == 4  # three hidden + the logit
    assert kinds.count("BatchNormalization") == 3 and kinds.count("Dropout") == 3
    assert all(layer.rate == 0.25 for layer in model.layers if type(layer).__name__ == "Dropout")
    x = np.random.default_rng(1).normal(size=(5, 7)).astype(np.float32)
    p = predict_batched(model, x)
    assert p.shape == (5,) and np.all((p > 0) & (p < 1))
    z = predict_batched(logit_model(model), x)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z)), rtol=1e-5)


def test_standardisation_is_inside_the_model():
    rng = np.random.default_rng(2)
    x = rng.normal(loc=50, scale=7, size=(40, 6)).astype(np.float32)
    x[:, 5] = 3.0  # constant column: its variance is replaced by 1
    mean, var = standardization_stats(x)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5)
    assert var[5] == 1.0
    with_stats = build_fc(6, hidden=(8, 4, 2), mean=mean, variance=var, seed=3)
    identity = build_fc(6, hidden=(8, 4, 2), seed=3)
    by_hand = (x - mean) / np.sqrt(var)
    np.testing.assert_allclose(predict_batched(with_stats, x), predict_batched(identity, by_hand),
                               rtol=1e-4, atol=1e-6)


def test_balanced_class_weight_by_hand():
    assert balanced_class_weight(np.array([0, 0, 0, 1])) == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0)}
    with pytest.raises(ValueError, match="both classes"):
        balanced_class_weight(np.zeros(5))


def test_split_keeps_augmented_copies_with_their_source_and_stratifies():
    ids = [f"img{i}.jpg" for i in range(40)]
    labels = np.array([1.0] * 10 + [0.0] * 30)
    all_ids = ids + [f"{i}#aug1" for i in ids] + [f"{i}#aug2" for i in ids]
    all_labels = np.tile(labels, 3)
    groups = source_ids(all_ids)
    assert groups[45] == "img5.jpg"
    tr, va = stratified_group_split(all_labels, groups, 0.25, seed=4)
    assert set(groups[tr]).isdisjoint(groups[va])
    assert len(tr) + len(va) == len(all_ids)
    assert len(set(groups[va])) == 10
    positive_groups_in_validation = len(set(groups[va][all_labels[va] == 1]))
    assert positive_groups_in_validation in (2, 3)  # a quarter of the 10 positive sources


def test_threshold_maximises_balanced_accuracy_on_the_given_rows():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(5)
    y = (rng.random(200) < 0.2).astype(int)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.15, size=200), 0, 1)
    t = choose_threshold(y, p)
    grid = np.linspace(0, 1, 401)
    best = max(balanced_accuracy_score(y, (p >= g).astype(int)) for g in grid)
    assert balanced_accuracy_score(y, (p >= t).astype(int)) == pytest.approx(best)
    assert t not in set(p)  # the cut never sits on a score


def test_threshold_ties_go_to_the_cut_nearest_one_half():
    # 0.5 itself splits [0, 1, 0, 1] (balanced accuracy 0.5); the midpoints 0.225 and 0.675 both
    # give 0.75, and 0.675 is nearer 0.5
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.55, 0.35, 0.8]) == pytest.approx(0.675)
    # with 0.4 instead of 0.55, 0.5 is among the best cuts and wins the tie outright
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)


def test_metrics_against_hand_counts():
    m = validation_summary(np.array([1, 1, 0, 0, 0]), np.array([0.9, 0.2, 0.6, 0.1, 0.3]), 0.5)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx(0.5 * (1 / 2 + 2 / 3))
    assert m["auc"] == pytest.approx(4 / 6)  # positive/negative pairs ranked right: 0.9>all, 0.2>0.1


def test_bundle_summary_and_report_metrics_are_one_engine():
    """A bundle's metrics.json and a report's table decide the same way (p >= threshold) and
    agree on a one-class set: balanced accuracy is that class's recall, not NaN."""
    y, p = np.array([1, 1, 1]), np.array([0.5, 0.7, 0.2])
    summary = validation_summary(y, p, 0.5)
    table = binary_metrics(y, p, 0.5)
    assert summary["balanced_accuracy"] == table.balanced_accuracy == pytest.approx(2 / 3)  # 0.5 counts
    assert summary["accuracy"] == table.accuracy and np.isnan(summary["auc"]) and table.roc_auc is None


def test_training_on_imbalanced_data_finds_the_minority_class():
    x, y = synthetic()
    result = train_fc(x, y, config=FCConfig(hidden=(32, 16, 8), epochs=60, patience=15, seed=0, threshold_folds=0))
    assert result.metrics["balanced_accuracy"] > 0.85
    assert 0.0 < result.threshold < 1.0
    assert set(result.train_rows).isdisjoint(result.validation_rows)
    assert result.metrics["n"] == len(result.validation_rows)
    # the minority class is found on fresh data at the stored threshold
    x_new, y_new = synthetic(seed=9)
    p = predict_batched(result.model, x_new)
    recall = ((p >= result.threshold) & (y_new == 1)).sum() / (y_new == 1).sum()
    assert recall > 0.8
    assert result.metrics["epochs_run"] <= 60


def test_training_rejects_unlabelled_rows_and_single_class():
    x, y = synthetic(n_neg=20, n_pos=10)
    y_bad = y.copy()
    y_bad[0] = np.nan
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        train_fc(x, y_bad, config=FCConfig(epochs=1))
    with pytest.raises(ValueError, match="both classes"):
        train_fc(x, np.zeros(len(y), np.float32), config=FCConfig(epochs=1))
