"""Correlation with human ratings in benchmark reports: SRCC/PLCC against scipy, bootstrap
intervals, human scores read from suite sets, and the report section on rated_smoke."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from aesthetic.benchmarks.report.benchmark import BenchmarkOptions, run_benchmark
from aesthetic.metrics import bootstrap_interval, correlation_metrics
from aesthetic.benchmarks.report.report import write_report
from aesthetic.benchmarks.report.suite import SuiteError, load_suite

HUMAN = np.array([5.64, 5.21, 4.80, 6.10, 3.90, 5.00, 4.40, 6.70, 5.55, 4.95])
PRED = np.array([5.30, 5.40, 4.20, 6.00, 4.60, 4.90, 4.70, 5.90, 5.10, 5.20])


def test_srcc_and_plcc_match_scipy_on_fixed_vectors():
    c = correlation_metrics(HUMAN, PRED, n_resamples=500)
    assert c.srcc == pytest.approx(stats.spearmanr(HUMAN, PRED).statistic, abs=1e-12)
    assert c.plcc == pytest.approx(stats.pearsonr(HUMAN, PRED).statistic, abs=1e-12)
    assert c.mae == pytest.approx(np.mean(np.abs(HUMAN - PRED)))
    # agreement of pred > 5 with human > 5: rows 0,1,2,3,4,5,6,7,8 agree; row 9 (4.95 vs 5.20) does not
    assert c.accuracy_at_threshold == pytest.approx(0.9)


def test_bootstrap_interval_contains_the_estimate_and_is_reproducible():
    c = correlation_metrics(HUMAN, PRED, n_resamples=1000, seed=3)
    for value, ci in ((c.srcc, c.srcc_ci), (c.plcc, c.plcc_ci)):
        assert ci is not None and ci[0] <= value <= ci[1] and ci[0] < ci[1]
    assert bootstrap_interval("srcc", HUMAN, PRED, 1000, seed=3) == c.srcc_ci
    assert correlation_metrics(HUMAN, PRED, n_resamples=1000, seed=3) == c


def test_too_few_rated_images_give_undefined_correlations():
    c = correlation_metrics(HUMAN[:2], PRED[:2])
    assert c.srcc is None and c.plcc is None and c.srcc_ci is None
    assert any("correlations undefined" in n for n in c.notes)


class GreenRating:
    """A 1-10 rating scorer: mean green level mapped to 1..10."""

    name = "green-rating"
    kind = "peer"
    threshold = 5.0
    inclusive = False
    probabilistic = False
    score_label = "rating (1-10)"
    rates = True

    def score_images(self, images):
        return np.array([1 + 9 * im[..., 1].mean() / 255.0 for im in images])


@pytest.fixture(scope="module")
def rated_suite(tmp_path_factory, shared_data) -> Path:
    """A suite over the real rated_smoke images (copied beside it) plus an unrated set."""
    root = tmp_path_factory.mktemp("rated_suite")
    shutil.copytree(shared_data / "rated_smoke", root / "rated_smoke")
    (root / "unrated.csv").write_text("path,label\nrated_smoke/images/ava_953619.jpg,1\n"
                                      "rated_smoke/images/ava_42040.jpg,0\n")
    suite = root / "suite.toml"
    suite.write_text('name = "rated"\n\n[sets.Rated]\nlabels = "rated_smoke/labels.csv"\n'
                     'scores = "rating_distribution"\n\n[sets.Unrated]\nlabels = "unrated.csv"\n')
    return suite


def test_suite_reads_distribution_means_as_human_scores(rated_suite):
    suite = load_suite(rated_suite)
    by_key = {i.key: i.score for i in suite.sets["Rated"].items}
    assert by_key["images/ava_953619.jpg"] == pytest.approx(5.6371, abs=1e-4)
    assert by_key["images/ava_42040.jpg"] == pytest.approx(4.7991, abs=1e-4)
    assert by_key["images/koniq_10004473376.jpg"] is None  # no distribution: no human score
    assert suite.sets["Rated"].n_rated == 3 and suite.sets["Unrated"].n_rated == 0


def test_scores_off_the_1_to_10_scale_are_refused(rated_suite, tmp_path):
    bad = rated_suite.parent / "bad.toml"
    bad.write_text('name = "bad"\n[sets.K]\nlabels = "rated_smoke/labels.csv"\nscores = "mean_score"\n')
    with pytest.raises(SuiteError, match="1-10 mean ratings"):
        load_suite(bad)


@pytest.fixture(scope="module")
def rated_result(rated_suite, red_scorer):
    options = BenchmarkOptions(baselines=False, robustness=False, leakage=False, progress=False, n_resamples=200)
    return run_benchmark(load_suite(rated_suite), [GreenRating(), red_scorer], options)


def test_correlation_rows_only_for_rated_sets_and_rating_scorers(rated_result):
    assert set(rated_result.correlations) == {"Rated"}  # the unrated set gets no rows
    assert set(rated_result.correlations["Rated"]) == {"green-rating"}  # P(aesthetic) is not a rating
    c = rated_result.correlations["Rated"]["green-rating"]
    ss = rated_result.set_scores["Rated"]
    rated = np.isfinite(ss.human)
    assert c.n == 3 == rated.sum()
    assert c.srcc == pytest.approx(stats.spearmanr(ss.human[rated], ss.scores["green-rating"][rated]).statistic)


def test_report_shows_the_correlation_section_and_scatter(rated_result, tmp_path):
    out = write_report(rated_result, tmp_path / "report", "test")
    md = (out / "report.md").read_text()
    assert "## Correlation with human ratings" in md and "### Rated (3 rated images)" in md
    assert "Unrated (" not in md.split("## Correlation with human ratings")[1].split("## Shortcut")[0]
    assert (out / "plots" / "Rated" / "ratings.png").is_file()
    data = json.loads((out / "report.json").read_text())
    assert set(data["correlations"]) == {"Rated"}
    assert data["correlations"]["Rated"]["green-rating"]["n"] == 3


def test_report_without_human_scores_has_no_correlation_section(rated_suite, tmp_path):
    suite = load_suite(rated_suite)
    suite.sets.pop("Rated")
    options = BenchmarkOptions(baselines=False, robustness=False, leakage=False, progress=False)
    result = run_benchmark(suite, [GreenRating()], options)
    assert result.correlations == {}
    md = (write_report(result, tmp_path / "r", "test") / "report.md").read_text()
    assert "Correlation with human ratings" not in md


def test_nima_peer_gets_correlation_rows_on_rated_smoke(rated_suite, nima_file):
    from aesthetic.feature_extraction.nima import NimaScorer
    from aesthetic.bundles.scoring import NimaPeerScorer

    suite = load_suite(rated_suite)
    suite.sets.pop("Unrated")
    options = BenchmarkOptions(baselines=False, robustness=False, leakage=False, progress=False, n_resamples=200)
    peer = NimaPeerScorer(NimaScorer(nima_file))
    result = run_benchmark(suite, [peer], options)
    c = result.correlations["Rated"][peer.name]
    ss = result.set_scores["Rated"]
    rated = np.isfinite(ss.human)
    assert c.n == 3 and 1.0 <= ss.scores[peer.name].min() and ss.scores[peer.name].max() <= 10.0
    expected = np.mean((ss.scores[peer.name][rated] > 5) == (ss.human[rated] > 5))
    assert c.accuracy_at_threshold == pytest.approx(expected)


def test_shipped_template_suite_parses_and_maps_the_five_kinds():
    from aesthetic.benchmarks.report.suite import parse_suite

    spec = parse_suite(Path(__file__).resolve().parents[1] / "benchmarks" / "suites" / "template.toml")
    assert {"Small_balanced", "Large_balanced", "Set_A_100_100", "Set_B_100_100", "All_negative_1000"} == set(spec.sets)
    assert spec.sets["All_negative_1000"].folders == {"0": "data/snapshots_1000/"}


def test_shipped_shared_data_suite_has_a_rated_set():
    from aesthetic.benchmarks.report.suite import parse_suite

    spec = parse_suite(Path(__file__).resolve().parents[1] / "benchmarks" / "suites" / "shared_data.toml")
    assert spec.sets["Rated_smoke"].scores == "rating_distribution"
