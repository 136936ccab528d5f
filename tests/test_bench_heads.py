"""The head-by-head analysis of held-out misses (benchmarks/report/bench_heads.py): the error budget,
which head decided each miss, the look-alike statistics and the comparison heads, on inputs with known
answers."""

from types import SimpleNamespace

import numpy as np
import pytest

from aesthetic.benchmarks.report import bench_heads as B
from aesthetic.feature_extraction.branches.pixel_stats import FEATURE_NAMES


@pytest.mark.parametrize("n_pos, n_neg, expected", [
    (48, 48, (6, 6)),      # 1 - 6/96 = 0.9375 passes, 7 errors = 0.927 does not
    (10, 10, (1, 1)),
    (48, 453, (6, 63)),    # a false positive costs far less on the large class
    (50, 50, (7, 7)),      # 0.93 exactly: 7 of 100 errors is allowed
])
def test_the_error_budget_is_the_most_errors_that_keep_the_target(n_pos, n_neg, expected):
    from sklearn.metrics import balanced_accuracy_score

    fn, fp = B.allowed_errors(n_pos, n_neg)
    assert (fn, fp) == expected
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    for k, kind in ((fn, "fn"), (fp, "fp")):
        for errors, meets in ((k, True), (k + 1, False)):
            called = y.copy()
            idx = np.flatnonzero(y == (1 if kind == "fn" else 0))[:errors]
            called[idx] = 1 - called[idx]
            assert (balanced_accuracy_score(y, called) >= B.TARGET - 1e-12) is meets


def test_each_miss_is_put_down_to_the_head_that_decided_it():
    model = SimpleNamespace(threshold=0.5)
    y = np.array([1, 1, 1, 0, 0])
    heads = {"aesthetic_head": np.array([0.9, 0.3, 0.95, 0.8, 0.2]),
             "clean_cnn": np.array([0.1, 1.0, 1.0, 1.0, 1.0]),
             "clean_statistics": np.array([1.0, 1.0, 0.99, 0.9, 1.0])}
    p = heads["aesthetic_head"] * heads["clean_cnn"] * heads["clean_statistics"]
    found = B.misses(model, ["a", "b", "c", "d", "e"], y, heads, p)
    assert [(m["photo"], m["cause"]) for m in found] == [
        ("a", "quality head(s) on a clean photo"),  # the aesthetic head said yes, a quality head said spoiled
        ("b", "aesthetic head"),                     # the aesthetic head said no on its own
        ("d", "aesthetic head")]                     # a false positive is always the aesthetic head's
    assert found[0]["clean_cnn"] == pytest.approx(0.1) and found[0]["p"] == pytest.approx(0.09)


def test_look_alikes_count_the_copies_at_least_as_clean_as_each_rejected_photo():
    col = FEATURE_NAMES.index("laplacian_p99.9")
    clean = np.zeros((4, len(FEATURE_NAMES)))
    clean[:, col] = [0.5, 0.02, 0.4, 0.3]
    copies = np.zeros((5, len(FEATURE_NAMES)))
    copies[:, col] = [0.01, 0.015, 0.02, 0.025, 0.03]
    rejected = np.array([False, True, False, False])
    (row,) = B.lookalikes(clean, {"blur sigma 3": copies}, rejected)
    assert row["statistic"] == "laplacian_p99.9" and row["rejected_clean"] == [pytest.approx(0.02)]
    assert row["copies_at_least_as_high"] == [pytest.approx(0.6)]  # 0.02, 0.025 and 0.03 of 5
    assert row["copies_median"] == pytest.approx(0.02)
    assert row["clean_p10"] == pytest.approx(np.percentile([0.5, 0.02, 0.4, 0.3], 10))


def _store(path, x, y):
    from aesthetic.feature_store import STATUS_OK, BranchData, write_store

    n = len(y)
    return write_store(path, ids=[f"p{i}" for i in range(n)], paths=[f"p{i}.jpg" for i in range(n)], labels=y,
                       status=[STATUS_OK] * n, errors=[""] * n, branches={"mobilenet": BranchData(x, {})},
                       dtype="float32")


def test_the_comparison_heads_learn_from_the_training_store_and_count_their_errors(tmp_path):
    from aesthetic.genetic_selection import AllFeatures

    rng = np.random.default_rng(0)

    def draw(n, informative=True):
        y = (np.arange(n) % 4 == 0).astype(np.float32)  # 1 in 4 aesthetic, as imbalanced as the suite
        x = rng.normal(0, 1, (n, 6)).astype(np.float32)
        if informative:
            x[:, 0] += 3.0 * y
        return x, y

    x, y = draw(120)
    model = SimpleNamespace(selector=AllFeatures().fit(x, branches={"mobilenet": 6}))
    x_test, y_test = draw(80)
    names = [f"t{i}" for i in range(len(y_test))]
    rows = B.other_heads(model, _store(tmp_path / "s.h5", x, y), x_test, y_test.astype(int), names)
    assert [r["head"] for r in rows] == [f"logistic regression, C={c}" for c in B.LR_C]
    for r in rows:
        n_pos, n_neg = int(y_test.sum()), int((1 - y_test).sum())
        assert len(r["missed"]) == r["false_negatives"] + r["false_positives"] and set(r["missed"]) <= set(names)
        # the counts and the balanced accuracy describe the same calls
        assert r["balanced_accuracy"] == pytest.approx(1 - (r["false_negatives"] / n_pos
                                                            + r["false_positives"] / n_neg) / 2)
        assert r["roc_auc"] > 0.95 and r["balanced_accuracy"] > 0.85
    # features with nothing to learn: no better than chance held out
    x0, y0 = draw(120, informative=False)
    x0_test, y0_test = draw(400, informative=False)
    r = B.other_heads(model, _store(tmp_path / "noise.h5", x0, y0), x0_test, y0_test.astype(int))[0]
    assert 0.35 < r["roc_auc"] < 0.65 and 0.35 < r["balanced_accuracy"] < 0.65


def test_the_report_states_the_budget_the_misses_and_what_is_left():
    result = {"model": "runs/m", "threshold": 0.3, "n": 96, "n_aesthetic": 48, "balanced_accuracy": 0.885,
              "aesthetic_head": {"balanced_accuracy": 0.927, "roc_auc": 0.98, "false_negatives": 2,
                                 "false_positives": 5},
              "errors_allowed": {"false_negatives_alone": 6, "false_positives_alone": 6}, "clean_rejected": 4,
              "misses": [{"photo": "a.jpg", "label": 1, "p": 0.001, "aesthetic_head": 1.0, "clean_cnn": 0.9,
                          "clean_statistics": 0.0, "cause": "quality head(s) on a clean photo"}],
              "lookalikes": [{"copies": "blur sigma 3", "statistic": "laplacian_p99.9", "rejected_clean": [0.019],
                              "copies_at_least_as_high": [0.71], "copies_median": 0.022, "copies_p90": 0.03,
                              "clean_p10": 0.25}]}
    md = B.markdown(result, "python -m x")
    assert "allows **6 errors**" in md and "leaves **2** for the aesthetic head; at this threshold it makes 7" in md
    assert "| a.jpg | 1 | 0.001 | 1.000 | 0.900 | 0.000 | quality head(s) on a clean photo |" in md
    assert "0.019 (71%)" in md
