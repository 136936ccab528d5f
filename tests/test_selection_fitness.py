"""Batched FC fitness: the stacked population model is P independent FCs, deterministic, and agrees with
one Keras model per individual on what is informative."""

import numpy as np
import pytest

from aesthetic.feature_store import FeatureStore
from aesthetic.genetic_selection.fitness import (ArraySource, FCFitness, FCSpec, PopulationFC, ProxyFitness,
                                                 StoreSource, balanced_accuracy, group_size, one_at_a_time_fitness)
from aesthetic.genetic_selection.synthetic import planted_features, write_synthetic_store

N_FEATURES, K = 120, 8


@pytest.fixture(scope="module")
def data():
    X, y, informative = planted_features(450, N_FEATURES, K, shift=0.6, seed=7)
    train, val = np.arange(300), np.arange(300, 450)
    noise = np.setdiff1d(np.arange(N_FEATURES), informative)
    individuals = np.stack([informative, noise[:K], noise[K:2 * K], noise[2 * K:3 * K]])
    return X, y, train, val, individuals


def sources(X, y, train, val):
    return ArraySource(X, train, y[train]), ArraySource(X, val, y[val])


def test_forward_pass_equals_a_numpy_fc_per_individual(data):
    X, y, train, val, individuals = data
    spec = FCSpec(hidden=(6, 5))
    model = PopulationFC(4, K, N_FEATURES, spec).reset(individuals, seed=0, generation=0)
    rng = np.random.default_rng(1)
    for v in model.kernels + model.biases + model.gammas + model.betas + model.moving_mean:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))
    for v in model.moving_var:
        v.assign(rng.uniform(0.5, 2.0, v.shape).astype(np.float32))
    got = model.logits(X[:50])

    for p, idx in enumerate(individuals):
        h = X[:50][:, idx].astype(np.float64)
        for layer in range(2):
            h = h @ model.kernels[layer].numpy()[p] + model.biases[layer].numpy()[p, :, 0]
            mean, var = model.moving_mean[layer].numpy()[p, :, 0], model.moving_var[layer].numpy()[p, :, 0]
            h = (h - mean) / np.sqrt(var + spec.bn_epsilon) * model.gammas[layer].numpy()[p, :, 0] \
                + model.betas[layer].numpy()[p, :, 0]
            h = np.maximum(h, 0)
        out = h @ model.kernels[2].numpy()[p][:, 0] + model.biases[2].numpy()[p, 0, 0]
        np.testing.assert_allclose(got[p], out, rtol=1e-4, atol=1e-4)


def test_individuals_train_independently_of_the_others_in_their_group(data):
    X, y, train, val, individuals = data
    spec = FCSpec(hidden=(16, 8), dropout=0.0, epochs=3)  # dropout masks depend on the group; all else must not
    train_src, _ = sources(X, y, train, val)
    together = PopulationFC(4, K, N_FEATURES, spec).reset(individuals, seed=5, generation=2).fit(train_src)
    alone = PopulationFC(1, K, N_FEATURES, spec).reset(individuals[2:3], seed=5, generation=2,
                                                       init_ids=np.array([2])).fit(train_src)
    np.testing.assert_allclose(together.logits(X[val])[2], alone.logits(X[val])[0], rtol=1e-3, atol=1e-3)
    assert not np.allclose(together.logits(X[val])[1], alone.logits(X[val])[0], atol=1e-2)


def test_fitness_is_deterministic_for_a_seed_and_groups_cover_everyone(data):
    X, y, train, val, individuals = data
    spec = FCSpec(epochs=3)
    fitness = FCFitness(*sources(X, y, train, val), spec, seed=9, individuals_per_step=3)
    first = fitness(individuals, generation=4)
    again = FCFitness(*sources(X, y, train, val), spec, seed=9, individuals_per_step=3)(individuals, generation=4)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (4,)
    assert np.all((first >= 0) & (first <= 1))
    n_pos = int((y[val] > 0.5).sum())
    # balanced accuracy: the mean of two recalls, each a count of rows over its class size
    ok = [any(np.isclose(f, 0.5 * (a / n_pos + b / (len(val) - n_pos))) for a in range(n_pos + 1)
              for b in range(len(val) - n_pos + 1)) for f in first]
    assert all(ok), first


def test_batched_and_one_model_at_a_time_agree_on_what_is_informative(data):
    X, y, train, val, individuals = data
    spec = FCSpec(epochs=6)
    individuals = individuals[:3]
    batched = FCFitness(*sources(X, y, train, val), spec, seed=1)(individuals, generation=0)
    single = one_at_a_time_fitness(individuals, X[train], y[train], X[val], y[val], spec, seed=1)
    for scores in (batched, single):
        assert scores[0] > 0.8, scores  # the 8 planted features separate the classes well
        assert scores[0] > scores[1:].max() + 0.15, scores  # noise sits near chance
    assert abs(batched[0] - single[0]) < 0.1
    assert abs(batched[1:].mean() - single[1:].mean()) < 0.15


def test_streaming_from_the_store_gives_the_in_memory_result(data, tmp_path):
    X, y, train, val, individuals = data
    spec = FCSpec(epochs=2)
    path = write_synthetic_store(tmp_path / "f.h5", X, labels=y, branches={"a": 70, "b": 50})
    expected = FCFitness(*sources(X, y, train, val), spec, seed=3)(individuals, generation=1)
    with FeatureStore.open(path) as store:
        one_chunk = [StoreSource(store, ["a", "b"], rows, y[rows], chunk_rows=1000) for rows in (train, val)]
        np.testing.assert_array_equal(FCFitness(*one_chunk, spec, seed=3)(individuals, generation=1), expected)
        small = [StoreSource(store, ["a", "b"], rows, y[rows], chunk_rows=37) for rows in (train, val)]
        streamed = FCFitness(*small, spec, seed=3)(individuals, generation=1)
        assert streamed[0] > streamed[1:].max()
        rows, labels = zip(*small[0].batches(64, np.random.default_rng(0)))
        assert sum(len(r) for r in rows) == len(train)
        np.testing.assert_array_equal(np.sort(np.concatenate(labels)), np.sort(y[train]))


def test_proxy_fitness_also_ranks_the_informative_individual_first(data):
    X, y, train, val, individuals = data
    scores = ProxyFitness(*sources(X, y, train, val), seed=0)(individuals, generation=0)
    assert scores[0] > 0.8 and scores[0] > scores[1:].max() + 0.15


def test_a_default_population_fits_in_one_group():
    assert group_size(5000, FCSpec(), eval_batch=256) >= 100
    assert group_size(5000, FCSpec(), eval_batch=256, budget_bytes=200 * 1024**2) < 100


def test_bad_fc_settings_are_refused():
    from aesthetic.genetic_selection import SelectionError

    with pytest.raises(SelectionError, match="hidden"):
        FCSpec(hidden=())
    with pytest.raises(SelectionError, match="dropout"):
        FCSpec(dropout=1.0)


def test_balanced_accuracy_matches_sklearn_and_handles_one_class():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    y = (rng.random(80) < 0.125).astype(float)
    pred = rng.random((5, 80)) < 0.4
    expected = [balanced_accuracy_score(y, p) for p in pred]
    np.testing.assert_allclose(balanced_accuracy(pred, y), expected)
    np.testing.assert_allclose(balanced_accuracy(pred[0], y), expected[0])
    assert balanced_accuracy(np.zeros(6, bool), np.zeros(6)) == 1.0  # one class: its recall


def test_fitness_rewards_balanced_accuracy_not_the_majority_class():
    """On 1:7 data an FC that calls every photo 'not aesthetic' is 0.875 accurate but scores 0.5."""
    X, _, _ = planted_features(160, N_FEATURES, K, shift=0.6, seed=3)
    y = np.zeros(160, np.float32)
    y[::8] = 1.0
    source = ArraySource(X, np.arange(160), y)
    model = PopulationFC(2, K, N_FEATURES, FCSpec(hidden=(4,))).reset(
        np.stack([np.arange(K), np.arange(K, 2 * K)]), seed=0, generation=0)
    model.kernels[-1].assign(np.zeros(model.kernels[-1].shape, np.float32))
    model.biases[-1].assign(np.full(model.biases[-1].shape, -5.0, np.float32))  # always "not"
    np.testing.assert_allclose(model.accuracy(source), [0.875, 0.875])
    np.testing.assert_allclose(model.balanced_accuracy(source), [0.5, 0.5])
    np.testing.assert_allclose(model.balanced_accuracy(source, eval_batch=7), [0.5, 0.5])  # batching-independent
