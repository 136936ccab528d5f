"""Selectors are scikit-learn selectors found by name: registry, Pipeline, clone, and an acyclic package."""

import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from aesthetic.genetic_selection import (AllFeatures, BranchPCA, GeneticSelector, SelectionError, Selector,
                                         get_selector, list_selectors, load_selector, register_selector)
from aesthetic.genetic_selection.synthetic import planted_features

PACKAGE = Path(__file__).resolve().parents[1] / "genetic_selection"


@pytest.fixture(scope="module")
def planted():
    return planted_features(240, 40, 5, shift=1.0, seed=4)


def test_the_built_in_selectors_are_registered_by_kind():
    assert set(list_selectors()) >= {"all", "pca", "ga"}
    assert type(get_selector("pca", n_components=3)) is BranchPCA
    assert get_selector("ga", k=4).k == 4
    assert type(get_selector("all")) is AllFeatures
    with pytest.raises(ValueError, match="unknown selector kind 'nope'.*pca"):
        get_selector("nope")


def test_a_registered_selector_saves_and_loads_by_its_kind(planted, tmp_path):
    X, _, _ = planted

    @register_selector
    class FirstColumns(Selector):
        """Keeps the first ``n`` columns (a selector defined outside the package)."""

        kind = "first-columns-test"

        def __init__(self, n: int = 2):
            self.n = n

        def fit(self, X, y=None):
            self._set_layout({"features": np.asarray(X).shape[1]})
            self.n_features_out_ = self.n
            return self

        def _needed_branches(self):
            return ["features"]

        def _transform_blocks(self, blocks):
            return np.asarray(blocks["features"][:, :self.n], dtype=np.float32)

        def get_support(self, indices=False):
            mask = np.arange(self.n_features_in_) < self.n
            return np.flatnonzero(mask) if indices else mask

    assert "first-columns-test" in list_selectors()
    loaded = load_selector(FirstColumns(n=3).fit(X).save(tmp_path / "first.json"))
    assert type(loaded) is FirstColumns and loaded.n == 3
    np.testing.assert_array_equal(loaded.transform(X), X[:, :3])
    with pytest.raises(ValueError, match="registered twice"):
        register_selector(type("Other", (FirstColumns,), {}))


def test_an_unknown_kind_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "sel.json"
    path.write_text('{"format": "aesthetic-selector", "format_version": 1, "kind": "martian", '
                    '"params": {}, "state": {}}')
    with pytest.raises(SelectionError, match=r"sel\.json: unknown selector kind 'martian'"):
        load_selector(path)


@pytest.mark.parametrize("selector", [
    GeneticSelector(k=5, population=10, parents=4, generations=2, seed=1, fitness="proxy", progress=False),
    BranchPCA(n_components=5),
], ids=["ga", "pca"])
def test_a_selector_drops_into_a_pipeline(planted, selector):
    X, y, _ = planted
    pipe = Pipeline([("select", clone(selector)), ("classify", LogisticRegression(max_iter=500))])
    pipe.fit(X, y)
    fitted = pipe.named_steps["select"]
    assert fitted is not selector and not hasattr(selector, "n_features_in_")  # clone left the original alone
    reduced = pipe[:-1].transform(X)
    assert reduced.shape == (len(X), 5) and reduced.dtype == np.float32
    np.testing.assert_array_equal(reduced, fitted.transform(X))
    assert pipe.predict(X).shape == (len(X),)
    assert pipe.score(X, y) > 0.6  # the planted columns survive selection


def test_ga_support_is_what_transform_keeps(planted):
    X, y, _ = planted
    ga = GeneticSelector(k=6, population=10, parents=4, generations=1, seed=2, fitness="proxy",
                         progress=False).fit(X, y)
    np.testing.assert_array_equal(ga.transform(X), X[:, ga.get_support(indices=True)])
    np.testing.assert_array_equal(np.flatnonzero(ga.get_support()), ga.get_support(indices=True))


def test_init_stores_parameters_only():
    for kind in ("all", "pca", "ga"):
        selector = get_selector(kind)
        assert not [name for name in vars(selector) if name.endswith("_")], kind
        assert set(vars(selector)) == set(selector.get_params(deep=False)), kind


def _local_imports(path: Path) -> set[str]:
    """Sibling modules a package file imports at run time, inside functions too (``from .x import``);
    imports for type checkers only (``if TYPE_CHECKING:``) are not followed."""
    found, todo = set(), [ast.parse(path.read_text())]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        todo.extend(ast.iter_child_nodes(node))
    return found


def test_the_package_has_no_import_cycle():
    graph = {p.stem: _local_imports(p) for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    order, state = [], {}

    def visit(module, trail):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join(trail + [module])}"
        state[module] = "open"
        for dep in sorted(graph.get(module, ())):
            visit(dep, trail + [module])
        state[module] = "done"
        order.append(module)

    for module in sorted(graph):
        visit(module, [])
    assert order.index("io") < order.index("base") < order.index("ga")
