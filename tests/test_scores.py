"""Score heads: EMD loss, distribution/mean heads, the P(aesthetic) rule and low-score targets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from aesthetic.classifier.fc import FCConfig, build_fc
from aesthetic.data import LabelTable, mean_from_distribution
from aesthetic.classifier.scores import (RATINGS, ScoreRule, distribution_mean, distribution_std, emd_loss,
                              low_score_distribution, low_score_mean, pack_score_targets, score_distillation_loss,
                              score_outputs, score_targets, train_score_head)


def numpy_emd(p: np.ndarray, q: np.ndarray, r: float = 2.0) -> np.ndarray:
    """Reference: per row, (mean_k |CDF_p(k) - CDF_q(k)|^r)^(1/r) of normalised rows, by loops."""
    out = []
    for a, b in zip(p, q):
        a, b = a / a.sum(), b / b.sum()
        ca = cb = 0.0
        total = 0.0
        for k in range(len(a)):
            ca += a[k]
            cb += b[k]
            total += abs(ca - cb) ** r
        out.append((total / len(a)) ** (1.0 / r))
    return np.array(out)


def test_emd_loss_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 50, (20, 10)).astype(np.float64) + 1
    pred = rng.dirichlet(np.ones(10), 20)
    got = np.asarray(emd_loss(counts, pred))
    np.testing.assert_allclose(got, numpy_emd(counts, pred), atol=1e-5)


def test_emd_is_zero_for_equal_distributions_and_grows_with_rating_distance():
    one_hot = np.eye(10)
    d_near = np.asarray(emd_loss(one_hot[[6]], one_hot[[5]]))[0]
    d_far = np.asarray(emd_loss(one_hot[[6]], one_hot[[0]]))[0]
    assert np.asarray(emd_loss(one_hot[[3]], one_hot[[3]]))[0] < 1e-5
    assert d_far > d_near > 0
    np.testing.assert_allclose(d_far, np.sqrt(6 / 10), atol=1e-5)  # 6 of 10 CDF bins differ by 1


def test_distribution_mean_and_std_match_direct_formulas():
    counts = np.array([[0, 1, 5, 17, 38, 36, 15, 6, 5, 1], [7, 15, 25, 41, 67, 41, 12, 11, 4, 1]], float)
    p = counts / counts.sum(axis=1, keepdims=True)
    mean = (p * RATINGS).sum(axis=1)
    std = np.sqrt((p * (RATINGS - mean[:, None]) ** 2).sum(axis=1))
    np.testing.assert_allclose(distribution_mean(counts), mean)
    np.testing.assert_allclose(distribution_mean(counts), mean_from_distribution(counts))
    np.testing.assert_allclose(distribution_std(counts), std)
    assert distribution_mean(counts)[0] == pytest.approx(5.6371, abs=1e-4)  # rated_smoke's ava_953619


def test_low_score_distribution_is_a_distribution_centred_low():
    d = low_score_distribution()
    assert d.shape == (10,) and d.sum() == pytest.approx(1.0) and (d >= 0).all()
    assert 2.0 <= low_score_mean() <= 3.0
    assert low_score_mean() == pytest.approx(float(d @ RATINGS))
    assert ScoreRule().probability(np.array([low_score_mean()]))[0] < 0.01


def test_score_rule_decides_at_the_threshold_and_is_monotone():
    rule = ScoreRule(threshold=5.0, scale=0.5)
    p = rule.probability(np.array([4.0, 5.0, 6.0]))
    np.testing.assert_allclose(p, [1 / (1 + np.e ** 2), 0.5, 1 / (1 + np.e ** -2)], rtol=1e-6)
    out = score_outputs(np.array([[0, 0, 0, 0, 1, 0, 0, 0, 0, 0]], float), "distribution", rule)
    assert out["mean_score"][0] == pytest.approx(5.0) and out["score_std"][0] == pytest.approx(0.0)
    assert out["p_aesthetic"][0] == pytest.approx(0.5)
    np.testing.assert_allclose(1 / (1 + np.exp(-out["logit"])), out["p_aesthetic"], rtol=1e-6)


def test_score_targets_give_degraded_rows_the_low_score_target():
    table = LabelTable(["a.jpg", "b.jpg"], np.array([1.0, 0.0]), np.array([6.0, 4.0], np.float32),
                       np.array([[0, 0, 0, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]], float))
    ids = ["a.jpg", "a.jpg", "c.jpg"]
    dist = score_targets(table, ids, "distribution", degraded=np.array([False, True, False]))
    np.testing.assert_allclose(dist[0], table.distributions[0])
    np.testing.assert_allclose(dist[1], low_score_distribution())
    assert np.isnan(dist[2]).all()
    means = score_targets(table, ids, "mean", degraded=np.array([False, True, False]))
    assert means[0] == pytest.approx(6.0) and means[1] == pytest.approx(low_score_mean()) and np.isnan(means[2])


def test_build_fc_heads_have_the_documented_outputs():
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    dist = np.asarray(build_fc(6, (8,), head="distribution")(x))
    assert dist.shape == (4, 10)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-5)
    assert np.asarray(build_fc(6, (8,), head="mean")(x)).shape == (4, 1)
    with pytest.raises(ValueError, match="head must be one of"):
        build_fc(6, (8,), head="ordinal")


def test_distillation_loss_falls_back_to_the_teacher_without_human_targets():
    rng = np.random.default_rng(1)
    teacher = rng.dirichlet(np.ones(10), 3)
    human = rng.dirichlet(np.ones(10), 3)
    human[1] = np.nan
    pred = rng.dirichlet(np.ones(10), 3)
    packed = pack_score_targets(human, teacher, "distribution")
    got = np.asarray(score_distillation_loss(packed, pred, "distribution", alpha=0.25))
    ref_h, ref_t = numpy_emd(np.nan_to_num(human, nan=1.0), pred), numpy_emd(teacher, pred)
    np.testing.assert_allclose(got[[0, 2]], 0.25 * ref_h[[0, 2]] + 0.75 * ref_t[[0, 2]], atol=1e-5)
    np.testing.assert_allclose(got[1], ref_t[1], atol=1e-5)


def synthetic_rated(n: int, d: int = 6, seed: int = 0):
    """Features and rating distributions whose mean is a known smooth function of the features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    centre = 5.5 + 2.0 * np.tanh(x @ w / np.sqrt(d))
    votes = np.exp(-0.5 * ((RATINGS[None, :] - centre[:, None]) / 1.3) ** 2) * 100
    counts = rng.poisson(votes).astype(np.float64) + 1e-3
    return x, counts


@pytest.mark.parametrize("target", ["distribution", "mean"])
def test_score_head_recovers_the_ranking_of_synthetic_means(target):
    x, counts = synthetic_rated(700)
    means = distribution_mean(counts)
    train, test = slice(0, 500), slice(500, 700)
    config = FCConfig(hidden=(32, 16), dropout=0.1, epochs=40, patience=8, batch_size=32, learning_rate=3e-3)
    targets = counts[train] if target == "distribution" else means[train]
    result = train_score_head(x[train], targets, config=config, target=target)
    raw = np.asarray(result.model(x[test], training=False))
    predicted = score_outputs(raw, target)["mean_score"]
    assert spearmanr(predicted, means[test]).statistic > 0.9
    assert result.metrics["srcc"] > 0.8 and result.threshold == 0.5


def test_train_score_head_rejects_missing_and_off_scale_targets():
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match="1-10 scale"):
        train_score_head(x, np.full(10, 70.0), target="mean")
    with pytest.raises(ValueError, match="needs a distribution target"):
        train_score_head(x, np.full((10, 10), np.nan), target="distribution")
