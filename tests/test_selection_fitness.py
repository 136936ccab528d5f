"""Batched FC fitness: the stacked population model is P independent FCs, deterministic, and agrees with
one Keras model per individual on what is informative."""

import numpy as np
import pytest

from aesthetic.classifier.fc import LOGIT_LAYER, build_fc
from aesthetic.feature_store import FeatureStore
from aesthetic.genetic_selection.fitness import (BN_EPSILON, ArraySource, FCFitness, FitnessFC, PopulationFC,
                                                 ProxyFitness, StoreSource, balanced_accuracy, group_size,
                                                 one_at_a_time_fitness)
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
    spec = FitnessFC(hidden=(6, 5))
    model = PopulationFC(4, K, N_FEATURES, spec).reset(individuals, seed=0, generation=0)
    rng = np.random.default_rng(1)
    for v in model.kernels + [model.bias] + model.gammas + model.betas + model.moving_mean:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))
    for v in model.moving_var:
        v.assign(rng.uniform(0.5, 2.0, v.shape).astype(np.float32))
    got = model.logits(X[:50])

    for p, idx in enumerate(individuals):
        h = X[:50][:, idx].astype(np.float64)
        for layer in range(2):
            h = h @ model.kernels[layer].numpy()[p]
            mean, var = model.moving_mean[layer].numpy()[p, :, 0], model.moving_var[layer].numpy()[p, :, 0]
            h = (h - mean) / np.sqrt(var + BN_EPSILON) * model.gammas[layer].numpy()[p, :, 0] \
                + model.betas[layer].numpy()[p, :, 0]
            h = np.maximum(h, 0)
        out = h @ model.kernels[2].numpy()[p][:, 0] + model.bias.numpy()[p, 0, 0]
        np.testing.assert_allclose(got[p], out, rtol=1e-4, atol=1e-4)


def test_an_individual_of_the_population_model_is_the_classifiers_fc(data):
    """Same weights in, same output out: the batched fast path and ``build_fc`` are one architecture."""
    X, y, train, val, individuals = data
    spec = FitnessFC(hidden=(6, 5), dropout=0.4)
    population = PopulationFC(4, K, N_FEATURES, spec).reset(individuals, seed=0, generation=0)
    rng = np.random.default_rng(2)
    for v in population.kernels + [population.bias] + population.gammas + population.betas + population.moving_mean:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))
    for v in population.moving_var:
        v.assign(rng.uniform(0.5, 2.0, v.shape).astype(np.float32))
    logits = population.logits(X[:40])

    p = 2
    single = build_fc(K, hidden=spec.hidden, dropout=spec.dropout, l2=spec.l2, bn_momentum=spec.bn_momentum)
    for layer in range(len(spec.hidden)):
        single.get_layer(f"dense_{layer}").set_weights([population.kernels[layer].numpy()[p]])
        single.get_layer(f"bn_{layer}").set_weights(
            [v.numpy()[p, :, 0] for v in (population.gammas[layer], population.betas[layer],
                                          population.moving_mean[layer], population.moving_var[layer])])
    single.get_layer(LOGIT_LAYER).set_weights([population.kernels[-1].numpy()[p],
                                               population.bias.numpy()[p, 0]])
    expected = np.asarray(single(X[:40][:, individuals[p]], training=False))[:, 0]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits[p])), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(logits[p], logits[p - 1])  # the other individuals are other networks


def test_l2_pulls_the_hidden_kernels_toward_zero(data):
    X, y, train, val, individuals = data
    train_src, _ = sources(X, y, train, val)

    def kernel_norm(l2):
        spec = FitnessFC(hidden=(8,), dropout=0.0, epochs=5, learning_rate=0.01, l2=l2)
        model = PopulationFC(1, K, N_FEATURES, spec).reset(individuals[:1], seed=0, generation=0).fit(train_src)
        return float(np.sum(model.kernels[0].numpy() ** 2))

    assert kernel_norm(1.0) < 0.5 * kernel_norm(0.0)


def test_individuals_train_independently_of_the_others_in_their_group(data):
    X, y, train, val, individuals = data
    spec = FitnessFC(hidden=(16, 8), dropout=0.0, epochs=3)  # dropout masks depend on the group; all else must not
    train_src, _ = sources(X, y, train, val)
    together = PopulationFC(4, K, N_FEATURES, spec).reset(individuals, seed=5, generation=2).fit(train_src)
    alone = PopulationFC(1, K, N_FEATURES, spec).reset(individuals[2:3], seed=5, generation=2,
                                                       init_ids=np.array([2])).fit(train_src)
    np.testing.assert_allclose(together.logits(X[val])[2], alone.logits(X[val])[0], rtol=1e-3, atol=1e-3)
    assert not np.allclose(together.logits(X[val])[1], alone.logits(X[val])[0], atol=1e-2)


def test_fitness_is_deterministic_for_a_seed_and_groups_cover_everyone(data):
    X, y, train, val, individuals = data
    spec = FitnessFC(epochs=3)
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
    spec = FitnessFC(epochs=6)
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
    spec = FitnessFC(epochs=2)
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
    assert group_size(5000, FitnessFC(), eval_batch=256) >= 100
    assert group_size(5000, FitnessFC(), eval_batch=256, budget_bytes=200 * 1024**2) < 100


def test_bad_fc_settings_are_refused():
    from aesthetic.genetic_selection import GeneticSelector, SelectionError
    from aesthetic.genetic_selection.fitness import fitness_fc

    with pytest.raises(ValueError, match="hidden"):
        FitnessFC(hidden=())
    with pytest.raises(ValueError, match="dropout"):
        FitnessFC(dropout=1.0)
    with pytest.raises(SelectionError, match="GA fitness FC settings: hidden: .*positive"):
        fitness_fc(hidden=(4, 0))
    X = np.random.default_rng(0).standard_normal((40, 12)).astype(np.float32)
    with pytest.raises(SelectionError, match="learning_rate"):
        GeneticSelector(k=3, population=4, parents=2, window=2, generations=0, learning_rate=0.0,
                        progress=False).fit(X, np.arange(40) % 2)


def test_the_fitness_fc_is_the_classifiers_config():
    from aesthetic.classifier.fc import FCConfig

    spec = FitnessFC()
    assert isinstance(spec, FCConfig)
    assert (spec.hidden, spec.dropout, spec.l2, spec.epochs, spec.batch_size) == ((64, 32), 0.3, 0.0, 10, 64)


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
    model = PopulationFC(2, K, N_FEATURES, FitnessFC(hidden=(4,))).reset(
        np.stack([np.arange(K), np.arange(K, 2 * K)]), seed=0, generation=0)
    model.kernels[-1].assign(np.zeros(model.kernels[-1].shape, np.float32))
    model.bias.assign(np.full(model.bias.shape, -5.0, np.float32))  # always "not"
    np.testing.assert_allclose(model.accuracy(source), [0.875, 0.875])
    np.testing.assert_allclose(model.balanced_accuracy(source), [0.5, 0.5])
    np.testing.assert_allclose(model.balanced_accuracy(source, eval_batch=7), [0.5, 0.5])  # batching-independent


def test_bf16_fitness_computes_in_bf16_and_ranks_individuals_as_fp32(data):
    X, y, train, val, individuals = data
    fp32 = PopulationFC(4, K, N_FEATURES, FitnessFC(hidden=(6, 5))).reset(individuals, seed=0, generation=0)
    bf16 = PopulationFC(4, K, N_FEATURES, FitnessFC(hidden=(6, 5), precision="bf16")).reset(
        individuals, seed=0, generation=0)
    assert bf16.compute.name == "bfloat16" and fp32.compute.name == "float32"
    assert all(v.dtype.name == "float32" for v in bf16.trainable)  # mixed: the variables stay float32
    a, b = fp32.logits(X[:50]), bf16.logits(X[:50])
    assert not np.array_equal(a, b)  # bf16 really ran: 8 bits of mantissa
    np.testing.assert_allclose(b, a, rtol=0.05, atol=0.05)
    train_src, val_src = sources(X, y, train, val)
    acc = {}
    for name, model in (("fp32", fp32), ("bf16", bf16)):
        model.fit(train_src)
        acc[name] = balanced_accuracy(model.logits(X[val]) > 0, y[val])
    assert np.argmax(acc["bf16"]) == np.argmax(acc["fp32"]) == 0  # the informative individual wins in both
    assert np.abs(acc["bf16"] - acc["fp32"]).max() < 0.1


def test_the_ops_population_honours_bf16_as_the_tensorflow_one_does(data, monkeypatch):
    """The backend-neutral model (JAX, PyTorch) takes its precision from the shared base: under bf16
    its matmuls receive bfloat16 operands, its parameters stay float32, and its logits are those of
    the TensorFlow fast path under bf16, not fp32's."""
    import keras

    from aesthetic.genetic_selection.population_ops import OpsPopulationFC

    X, y, train, val, individuals = data
    spec = {p: FitnessFC(hidden=(6, 5), dropout=0.0, precision=p) for p in ("fp32", "bf16")}
    ops_model = {p: OpsPopulationFC(4, K, N_FEATURES, s).reset(individuals, seed=0, generation=0)
                 for p, s in spec.items()}
    tf_bf16 = PopulationFC(4, K, N_FEATURES, spec["bf16"]).reset(individuals, seed=0, generation=0)
    assert ops_model["bf16"].precision == "bf16" and ops_model["bf16"].compute_dtype == "bfloat16"

    seen = []
    real_matmul = keras.ops.matmul
    monkeypatch.setattr(keras.ops, "matmul", lambda a, b: seen.append(
        (keras.backend.standardize_dtype(a.dtype), keras.backend.standardize_dtype(b.dtype))) or real_matmul(a, b))
    a, b = ops_model["fp32"].logits(X[:50]), ops_model["bf16"].logits(X[:50])
    assert seen == [("float32", "float32")] * 3 + [("bfloat16", "bfloat16")] * 3  # three layers each
    monkeypatch.undo()
    assert b.dtype == np.float32 and not np.array_equal(a, b)  # bf16 really ran: 8 bits of mantissa
    np.testing.assert_allclose(b, a, rtol=0.05, atol=0.05)
    np.testing.assert_allclose(b, tf_bf16.logits(X[:50]), rtol=1e-2, atol=1e-2)  # the fast path's bf16

    train_src, val_src = sources(X, y, train, val)
    acc = {}
    for name, model in ops_model.items():
        model.fit(train_src)
        assert all(keras.backend.standardize_dtype(w.dtype) == "float32"
                   for w in keras.tree.flatten(model.params) + keras.tree.flatten(model.m))  # mixed
        acc[name] = model.balanced_accuracy(val_src)
    assert np.argmax(acc["bf16"]) == np.argmax(acc["fp32"]) == 0  # the informative individual wins in both
    assert np.abs(acc["bf16"] - acc["fp32"]).max() < 0.1


@pytest.mark.parametrize("enabled, preset, says", [(False, None, True), (True, None, False), (False, "0", False)])
def test_the_tensorflow_fitness_says_once_when_onednn_is_off_and_nobody_chose(monkeypatch, caplog, enabled, preset,
                                                                             says):
    import logging

    from aesthetic.genetic_selection import fitness as fitness_module

    monkeypatch.setattr(fitness_module, "onednn_enabled", lambda: enabled)
    monkeypatch.delenv(fitness_module.ONEDNN_ENV, raising=False)
    if preset is not None:
        monkeypatch.setenv(fitness_module.ONEDNN_ENV, preset)
    fitness_module._hint_onednn.cache_clear()
    with caplog.at_level(logging.INFO, logger=fitness_module.__name__):
        for _ in range(2):
            fitness_module.population_fc(2, 3, 10, fitness_module.FitnessFC(hidden=[4]))
    fitness_module._hint_onednn.cache_clear()
    lines = [r.getMessage() for r in caplog.records if "oneDNN" in r.getMessage()]
    assert len(lines) == (1 if says else 0)
    if says:
        assert "TF_ENABLE_ONEDNN_OPTS=1" in lines[0]
