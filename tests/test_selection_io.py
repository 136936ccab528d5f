"""Saving and loading selectors (HDF5 / JSON, no pickle) and the identity selector."""

import json

import h5py
import numpy as np
import pytest

from aesthetic.feature_store import FeatureStore
from aesthetic.genetic_selection import (AllFeatures, BranchPCA, GeneticSelector, SelectionError, Selector,
                                         load_selector)
from aesthetic.genetic_selection.synthetic import planted_features, write_synthetic_store

LAYOUT = {"multigap": 30, "efficientnet": 20}


@pytest.fixture(scope="module")
def data():
    X, y, informative = planted_features(160, 50, 6, shift=0.8, seed=2)
    return X, y


def fitted_selectors(X, y):
    return {
        "all": AllFeatures().fit(X, branches=LAYOUT),
        "pca": BranchPCA(n_components={"multigap": 5, "efficientnet": 0.5}, whiten=True).fit(X, branches=LAYOUT),
        "ga": GeneticSelector(k=7, population=8, parents=4, generations=2, seed=3, fitness="proxy",
                              progress=False).fit(X, y, branches=LAYOUT),
    }


@pytest.mark.parametrize("target", ["folder", "file.h5", "file.json"])
@pytest.mark.parametrize("kind", ["all", "pca", "ga"])
def test_selectors_round_trip_with_equal_output(data, tmp_path, kind, target):
    X, y = data
    selector = fitted_selectors(X, y)[kind]
    if kind == "pca" and target == "file.json":
        with pytest.raises(SelectionError, match="float arrays.*save it as .h5"):
            selector.save(tmp_path / target)
        return
    written = selector.save(tmp_path / target)
    assert written.exists()
    loaded = load_selector(tmp_path / target)
    assert type(loaded) is type(selector)
    as_json = lambda params: json.dumps(params, sort_keys=True, default=list)  # noqa: E731 (tuples load as lists)
    assert as_json(loaded.get_params()) == as_json(selector.get_params())
    np.testing.assert_array_equal(loaded.transform(X), selector.transform(X))
    np.testing.assert_array_equal(loaded.get_support(), selector.get_support())
    assert (loaded.branches_, loaded.branch_widths_, loaded.n_features_in_) == \
        (list(LAYOUT), LAYOUT, 50)


def test_a_loaded_ga_keeps_its_history_and_best_fitness(data, tmp_path):
    X, y = data
    ga = fitted_selectors(X, y)["ga"]
    loaded = GeneticSelector.load(ga.save(tmp_path / "ga"))
    assert loaded.history_ == ga.history_ and loaded.best_fitness_ == ga.best_fitness_


def test_the_selector_file_holds_no_pickle(data, tmp_path):
    X, y = data
    path = fitted_selectors(X, y)["pca"].save(tmp_path / "p.h5")
    with h5py.File(path) as f:
        assert f.attrs["format"] == "aesthetic-selector" and f.attrs["kind"] == "pca"
        kinds = []
        f.visititems(lambda name, obj: kinds.append(obj.dtype.kind) if isinstance(obj, h5py.Dataset) else None)
    assert set(kinds) <= {"f", "i", "u"}, "arrays only, no opaque/object data"


def test_loading_the_wrong_thing_fails_clearly(data, tmp_path):
    X, y = data
    with pytest.raises(SelectionError, match="no selector file"):
        load_selector(tmp_path / "empty")
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(SelectionError, match="not an aesthetic selector"):
        load_selector(tmp_path / "other.json")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(SelectionError, match="not an HDF5 file"):
        load_selector(tmp_path / "text.h5")
    saved = fitted_selectors(X, y)["all"].save(tmp_path / "all.json")
    with pytest.raises(SelectionError, match="holds a AllFeatures, not a BranchPCA"):
        BranchPCA.load(saved)


def test_all_features_is_the_identity_on_matrices_and_stores(data, tmp_path):
    X, _ = data
    selector = AllFeatures().fit(X, branches=LAYOUT)
    np.testing.assert_array_equal(selector.transform(X), X)
    assert selector.get_support().all() and selector.n_features_out_ == 50
    path = write_synthetic_store(tmp_path / "s.h5", X, branches=LAYOUT)
    with FeatureStore.open(path) as store:
        from_store = AllFeatures().fit_store(store)
        np.testing.assert_array_equal(from_store.transform_store(store, chunk_rows=17), X)
        np.testing.assert_array_equal(from_store.transform_store(store, rows=[7, 2]), X[[7, 2]])
        with pytest.raises(SelectionError, match="row indices must be in \\[0, 160\\)"):
            from_store.transform_store(store, rows=[3, 160])
        with pytest.raises(SelectionError, match="row mask must have 160 entries"):
            from_store.transform_store(store, rows=np.ones(10, bool))
    with pytest.raises(SelectionError, match="X has 49 features"):
        selector.transform(X[:, :49])


def test_an_unfitted_selector_says_so():
    with pytest.raises(SelectionError, match="not fitted yet"):
        AllFeatures().transform(np.zeros((2, 3)))


def test_layout_that_does_not_add_up_is_refused(data):
    X, _ = data
    with pytest.raises(SelectionError, match="add up to 40"):
        AllFeatures().fit(X, branches={"a": 20, "b": 20})


def test_selectors_are_scikit_learn_estimators(data):
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression

    X, y = data
    pipe = make_pipeline(BranchPCA(n_components=4), LogisticRegression()).fit(X, y)
    assert pipe.predict(X).shape == (160,)
    for selector in fitted_selectors(X, y).values():
        assert isinstance(selector, Selector)
        assert clone(selector).get_params() == selector.get_params()
        assert not hasattr(clone(selector), "branches_")
