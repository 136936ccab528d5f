"""The GA's operators: crossover vote, mutation, one generation of the original scheme (no TensorFlow)."""

import numpy as np
import pytest

from aesthetic.genetic_selection import SelectionError
from aesthetic.genetic_selection.ga import crossover_vote, mutate
from aesthetic.genetic_selection.operators import check_ga_shape, init_population, next_generation


def assert_valid_individual(ind, k, n_features):
    assert ind.shape == (k,)
    assert np.issubdtype(ind.dtype, np.integer)
    assert len(np.unique(ind)) == k, "indices must be unique"
    assert ind.min() >= 0 and ind.max() < n_features
    assert np.all(np.diff(ind) > 0), "individuals are kept sorted"


def test_crossover_vote_keeps_the_indices_most_parents_share():
    window = np.array([[0, 1, 2, 3],
                       [1, 2, 3, 4],
                       [2, 3, 4, 5]])
    # votes: 0:1, 1:2, 2:3, 3:3, 4:2, 5:1 -> the four with >= 2 votes win, whatever the seed
    for seed in range(5):
        child = crossover_vote(window, 4, np.random.default_rng(seed))
        np.testing.assert_array_equal(child, [1, 2, 3, 4])


def test_crossover_vote_breaks_ties_at_random_but_reproducibly_per_seed():
    window = np.array([[0, 1], [0, 2]])  # 0 has two votes; 1 and 2 tie for the last place
    children = {seed: tuple(crossover_vote(window, 2, np.random.default_rng(seed))) for seed in range(40)}
    assert all(c[0] == 0 for c in children.values())
    assert {c[1] for c in children.values()} == {1, 2}, "both tied indices must win for some seed"
    for seed, child in children.items():
        assert tuple(crossover_vote(window, 2, np.random.default_rng(seed))) == child


def test_crossover_vote_refuses_a_window_with_too_few_distinct_indices():
    with pytest.raises(SelectionError, match="distinct"):
        crossover_vote(np.array([[0, 1], [0, 1]]), 3, np.random.default_rng(0))


@pytest.mark.parametrize("keep_fraction", [0.0, 0.25, 0.8, 1.0])
def test_mutate_keeps_exactly_the_requested_fraction_of_genes(keep_fraction):
    rng = np.random.default_rng(3)
    original = np.sort(rng.choice(200, 40, replace=False))
    mutated = mutate(original, 200, keep_fraction, rng)
    assert_valid_individual(mutated, 40, 200)
    assert len(np.intersect1d(original, mutated)) == round(keep_fraction * 40)


def test_mutate_refuses_when_too_few_features_lie_outside_the_individual():
    with pytest.raises(SelectionError, match="outside"):
        mutate(np.arange(8), 10, 0.5, np.random.default_rng(0))


def test_every_individual_stays_k_unique_in_range_across_generations():
    n_features, k, size = 60, 12, 20
    rng = np.random.default_rng(11)
    population = init_population(size, n_features, k, rng)
    for ind in population:
        assert_valid_individual(ind, k, n_features)
    for _ in range(30):
        fitness = rng.random(size)
        population, _ = next_generation(population, fitness, n_features=n_features, elite=2, parents=10,
                                        window=3, keep_fraction=0.5, rng=rng)
        assert population.shape == (size, k)
        for ind in population:
            assert_valid_individual(ind, k, n_features)


def test_next_generation_keeps_the_elite_and_replaces_the_worst_with_children():
    n_features, k, size = 50, 5, 8
    rng = np.random.default_rng(2)
    population = init_population(size, n_features, k, rng)
    fitness = np.array([0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.0, 0.4])
    new, elite_rows = next_generation(population, fitness, n_features=n_features, elite=2, parents=4,
                                      window=2, keep_fraction=0.6, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(elite_rows, [1, 3])  # the two fittest
    np.testing.assert_array_equal(new[:2], population[[1, 3]])
    parents = population[[1, 3, 5, 7]]  # ranked 0.9, 0.8, 0.7, 0.4
    for row, parent in zip(new[2:4], parents[2:]):  # mutated non-elite parents keep 3 of 5 genes
        assert len(np.intersect1d(row, parent)) == 3
    # child i votes over parents i, i+1 (wrapping): each gene of a child is held by one of them
    for i, child in enumerate(new[4:]):
        window = parents[[i % 4, (i + 1) % 4]]
        assert np.isin(child, window).all()
        both = np.intersect1d(*window)
        assert np.isin(both, child).all(), "genes both parents share have 2 votes and must win"


def test_the_same_seed_gives_the_same_generations():
    def run(seed):
        rng = np.random.default_rng(seed)
        population = init_population(10, 40, 6, rng)
        for g in range(5):
            fitness = np.sin(population.sum(axis=1) + g)  # any fixed function of the individuals
            population, _ = next_generation(population, fitness, n_features=40, elite=2, parents=5,
                                            window=3, keep_fraction=0.5, rng=rng)
        return population

    np.testing.assert_array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))


@pytest.mark.parametrize("bad, message", [
    ({"parents": 20}, "parents"),
    ({"elite": 6}, "elite"),
    ({"window": 6}, "window"),
    ({"k": 0}, "k must"),
    ({"keep_fraction": 1.5}, "keep_fraction"),
    ({"k": 30, "keep_fraction": 0.0}, "mutation needs"),
])
def test_check_ga_shape_names_the_bad_parameter(bad, message):
    params = dict(population=20, k=10, n_features=40, elite=2, parents=5, window=3, keep_fraction=0.5)
    params.update(bad)
    with pytest.raises(SelectionError, match=message):
        check_ga_shape(**params)
