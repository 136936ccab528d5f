"""GeneticSelector end to end: determinism, elitism, finding planted features, checkpoints and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from aesthetic.feature_store import FeatureStore
from aesthetic.genetic_selection import GeneticSelector, SelectionError
from aesthetic.genetic_selection.synthetic import planted_features, write_synthetic_store

N_IMAGES, N_FEATURES, K = 400, 200, 10
SMALL = dict(k=K, population=20, parents=10, elite=2, window=3, keep_fraction=0.7, epochs=4,
             validation_fraction=0.3, progress=False)


@pytest.fixture(scope="module")
def planted():
    return planted_features(N_IMAGES, N_FEATURES, K, shift=0.5, seed=0)


@pytest.fixture(scope="module")
def store_path(planted, tmp_path_factory):
    X, y, _ = planted
    return write_synthetic_store(tmp_path_factory.mktemp("ga") / "features.h5", X, labels=y,
                                 branches={"multigap": 150, "efficientnet": 50})


def fitness_trace(history):
    return [(h["generation"], h["best"], h["mean"], h["std"], h["evaluated"]) for h in history]


@pytest.fixture(scope="module")
def fc_run(planted):
    """The default (FC) fitness, population 40 of which 20 parents, 12 generations."""
    X, y, _ = planted
    return GeneticSelector(generations=12, seed=1, **dict(SMALL, population=40, parents=20)).fit(X, y)


def test_the_ga_finds_the_planted_features_far_above_chance(planted, fc_run):
    _, _, informative = planted
    found = np.isin(fc_run.support_, informative).sum()
    chance = K * K / N_FEATURES  # expected planted features in a random individual: 0.5
    assert found >= 4, f"best individual holds {found} of {K} planted features (chance: {chance})"
    assert fc_run.best_fitness_ > 0.8
    assert fc_run.history_[-1]["mean"] > fc_run.history_[0]["mean"] + 0.1


def test_every_individual_holds_k_unique_indices_in_range(fc_run):
    assert fc_run.population_.shape == (40, K)
    for individual in fc_run.population_:
        assert len(np.unique(individual)) == K and individual.min() >= 0 and individual.max() < N_FEATURES
    assert fc_run.get_support().sum() == K
    np.testing.assert_array_equal(fc_run.get_support(indices=True), fc_run.support_)


def test_elitism_keeps_the_best_fitness_non_decreasing(fc_run):
    best = [h["best"] for h in fc_run.history_]
    assert len(best) == 13  # generation 0 and 12 more
    assert all(b >= a for a, b in zip(best, best[1:])), best
    assert all(h["evaluated"] == 38 for h in fc_run.history_[1:]), "the 2 elites are not re-evaluated"


def test_the_same_seed_gives_the_same_run(planted):
    X, y, _ = planted
    first = GeneticSelector(generations=2, seed=1, **SMALL).fit(X, y)
    again = GeneticSelector(generations=2, seed=1, **SMALL).fit(X, y)
    np.testing.assert_array_equal(again.population_, first.population_)
    assert fitness_trace(again.history_) == fitness_trace(first.history_)
    other = GeneticSelector(generations=0, seed=2, **SMALL).fit(X, y)
    assert other.history_[0]["mean"] != first.history_[0]["mean"]


def test_transform_picks_the_selected_columns_from_matrix_and_store(planted, fc_run, store_path):
    X, _, _ = planted
    np.testing.assert_array_equal(fc_run.transform(X), X[:, fc_run.support_])
    selector = GeneticSelector(generations=1, seed=1, fitness="proxy", **SMALL)
    with FeatureStore.open(store_path) as store:
        selector.fit_store(store)
        np.testing.assert_array_equal(selector.transform_store(store, rows=[5, 1, 9], chunk_rows=2),
                                      X[[5, 1, 9]][:, selector.support_])
    assert selector.branches_ == ["multigap", "efficientnet"]


def test_proxy_fitness_finds_the_planted_features_too(planted):
    X, y, informative = planted
    ga = GeneticSelector(generations=30, seed=0, fitness="proxy", **dict(SMALL, population=40, parents=20)).fit(X, y)
    assert np.isin(ga.support_, informative).sum() >= 4  # chance: 0.5


def test_streaming_features_from_the_store_gives_the_in_memory_result(store_path):
    params = dict(generations=1, seed=4, **SMALL)
    with FeatureStore.open(store_path) as store:
        in_memory = GeneticSelector(**params).fit_store(store)
        streamed = GeneticSelector(memory_budget_mb=0.01, **params).fit_store(store)
    np.testing.assert_array_equal(streamed.population_, in_memory.population_)
    assert fitness_trace(streamed.history_) == fitness_trace(in_memory.history_)


def record_store_reads(monkeypatch) -> list[int]:
    """Rows asked of the store per read, of features (``FeatureStore.read``) and of string columns (ids)."""
    from aesthetic.feature_store import StringColumn

    reads: list[int] = []
    real_read, real_take = FeatureStore.read, StringColumn._take
    monkeypatch.setattr(FeatureStore, "read", lambda self, branch, rows=None, dtype=np.float32: reads.append(
        len(self._rows(rows))) or real_read(self, branch, rows, dtype))
    monkeypatch.setattr(StringColumn, "_take", lambda self, idx: reads.append(len(idx)) or real_take(self, idx))
    return reads


def test_fit_store_reads_features_and_ids_in_row_chunks_with_the_whole_read_result(store_path, monkeypatch):
    from aesthetic.genetic_selection.ga import _sha256, _store_sha256

    params = dict(generations=1, seed=4, **SMALL)
    with FeatureStore.open(store_path) as store:
        whole = GeneticSelector(**params).fit_store(store, chunk_rows=10_000)
        idx = np.flatnonzero(store.ok & store.has_labels)[::-1]
        expected_digest = _sha256(np.asarray(store.ids)[idx], store.labels[idx])
        reads = record_store_reads(monkeypatch)
        chunked = GeneticSelector(**params).fit_store(store, chunk_rows=37)
        assert _store_sha256(store, idx, store.labels[idx], 37) == expected_digest  # old checkpoints still resume
        in_memory_reads, reads[:] = list(reads), []
        GeneticSelector(memory_budget_mb=0.01, **params).fit_store(store, chunk_rows=37)  # streamed every epoch
        with pytest.raises(SelectionError, match="chunk_rows must be a positive int, got 0"):
            GeneticSelector(**params).fit_store(store, chunk_rows=0)
    assert in_memory_reads and max(in_memory_reads) <= 37 and sum(in_memory_reads) >= 3 * N_IMAGES
    assert reads and max(reads) <= 37
    np.testing.assert_array_equal(chunked.population_, whole.population_)
    assert fitness_trace(chunked.history_) == fitness_trace(whole.history_)


def test_a_run_writes_checkpoint_history_and_plot(planted, tmp_path):
    X, y, _ = planted
    ga = GeneticSelector(generations=3, seed=1, fitness="proxy", checkpoint_dir=str(tmp_path), **SMALL).fit(X, y)
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["generations"] == ga.history_
    assert history["best_individual"] == ga.support_.tolist()
    assert history["best_fitness"] == ga.best_fitness_
    assert (tmp_path / "fitness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoint = json.loads((tmp_path / "checkpoint.json").read_text())
    assert checkpoint["generation"] == 3 and np.array_equal(checkpoint["population"], ga.population_)


def test_continuing_from_a_checkpoint_equals_one_uninterrupted_run(planted, tmp_path):
    X, y, _ = planted
    params = dict(seed=6, fitness="proxy", **SMALL)
    straight = GeneticSelector(generations=6, **params).fit(X, y)
    GeneticSelector(generations=2, checkpoint_dir=str(tmp_path), **params).fit(X, y)
    continued = GeneticSelector(generations=6, checkpoint_dir=str(tmp_path), **params).fit(X, y)
    np.testing.assert_array_equal(continued.population_, straight.population_)
    assert fitness_trace(continued.history_) == fitness_trace(straight.history_)


def test_a_checkpoint_of_other_settings_is_refused(planted, tmp_path):
    X, y, _ = planted
    params = dict(SMALL, seed=6, fitness="proxy", checkpoint_dir=str(tmp_path))
    GeneticSelector(generations=1, **params).fit(X, y)
    with pytest.raises(SelectionError, match="other settings or data.*params.window: 3 in the checkpoint, 4 now"):
        GeneticSelector(generations=2, **dict(params, window=4)).fit(X, y)
    with pytest.raises(SelectionError, match="other settings or data.*data.sha256"):
        GeneticSelector(generations=2, **params).fit(X[::-1], y[::-1])
    restarted = GeneticSelector(generations=1, resume=False, **dict(params, window=4)).fit(X, y)
    assert restarted.n_generations_ == 1


@pytest.mark.parametrize("labels, threshold, message", [
    (np.linspace(1, 10, N_IMAGES), None, "binary labels 0/1"),
    (np.r_[np.nan, np.zeros(N_IMAGES - 1)], None, "missing"),
    (np.r_[1.0, np.zeros(N_IMAGES - 1)], None, "at least 2 images of each class"),
])
def test_unusable_labels_are_refused(planted, labels, threshold, message):
    X, _, _ = planted
    with pytest.raises(SelectionError, match=message):
        GeneticSelector(generations=0, fitness="proxy", label_threshold=threshold, **SMALL).fit(X, labels)


def test_scores_are_binarised_with_a_threshold(planted):
    X, y, _ = planted
    scores = np.where(y > 0, 6.5, 3.5)
    by_threshold = GeneticSelector(generations=1, fitness="proxy", label_threshold=5.0, **SMALL).fit(X, scores)
    by_labels = GeneticSelector(generations=1, fitness="proxy", **SMALL).fit(X, y)
    np.testing.assert_array_equal(by_threshold.support_, by_labels.support_)


def _ga_command(store_path, out, generations):
    return [sys.executable, "-m", "aesthetic.genetic_selection", "select", "ga", str(store_path),
            "--out", str(out), "--population", "8", "--parents", "4", "--k", str(K), "--epochs", "2",
            "--generations", str(generations), "--seed", "5"]


def test_a_killed_run_resumes_to_the_uninterrupted_result(store_path, tmp_path):
    generations = 8
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(_ga_command(store_path, out, generations), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = out / "checkpoint.json"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if checkpoint.exists() and json.loads(checkpoint.read_text())["generation"] >= 1:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the GA ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed_at = json.loads(checkpoint.read_text())["generation"]
    assert 1 <= killed_at < generations, "the kill must land mid-run"
    assert not (out / "selector.h5").exists()

    resumed = subprocess.run(_ga_command(store_path, out, generations), env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {out} after generation {killed_at}" in resumed.stderr

    with FeatureStore.open(store_path) as store:
        reference = GeneticSelector(k=K, population=8, parents=4, epochs=2, generations=generations, seed=5,
                                    progress=False).fit_store(store)
    history = json.loads((out / "history.json").read_text())
    assert history["best_individual"] == reference.support_.tolist()
    assert fitness_trace(history["generations"]) == fitness_trace(reference.history_)
    from aesthetic.genetic_selection import load_selector
    np.testing.assert_array_equal(load_selector(out).support_, reference.support_)
