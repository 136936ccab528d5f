"""`aesthetic select pca|ga`: fit from a store, save a loadable selector, fail with one clear line."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from aesthetic.genetic_selection import BranchPCA, GeneticSelector, load_selector
from aesthetic.genetic_selection.cli import parse_components, register
from aesthetic.genetic_selection.synthetic import planted_features, write_synthetic_store


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    X, y, _ = planted_features(120, 60, 6, shift=0.8, seed=1)
    return write_synthetic_store(tmp_path_factory.mktemp("cli") / "features.h5", X, labels=y,
                                 branches={"multigap": 40, "efficientnet": 20}), X


def invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_select_pca_saves_a_selector_with_the_requested_components(app, store, tmp_path):
    path, X = store
    result = invoke(app, "select", "pca", path, "--out", tmp_path / "sel",
                    "--components", "multigap=5,efficientnet=0.5")
    assert result.exit_code == 0, result.output
    assert "60 -> 15 features" in result.output
    selector = load_selector(tmp_path / "sel")
    assert isinstance(selector, BranchPCA) and selector.n_components_ == {"multigap": 5, "efficientnet": 10}
    expected = BranchPCA(n_components={"multigap": 5, "efficientnet": 0.5}).fit(
        X, branches={"multigap": 40, "efficientnet": 20}).transform(X)
    np.testing.assert_allclose(selector.transform(X), expected, rtol=1e-5, atol=1e-5)


def test_select_ga_writes_selector_history_and_plot(app, store, tmp_path, monkeypatch):
    path, _ = store
    out = tmp_path / "ga"
    asked = []  # the command asks for oneDNN's CPU kernels before it reads anything (tests/test_backend_select.py)
    monkeypatch.setattr("aesthetic.backend.prefer_onednn", lambda: asked.append(True) or False)
    result = invoke(app, "select", "ga", path, "--out", out, "--population", 10, "--parents", 5, "--k", 6,
                    "--generations", 2, "--seed", 3, "--fitness", "proxy")
    assert result.exit_code == 0, result.output
    assert "best validation balanced accuracy" in result.output
    selector = load_selector(out)
    assert isinstance(selector, GeneticSelector) and selector.n_features_out_ == 6
    history = json.loads((out / "history.json").read_text())
    assert [h["generation"] for h in history["generations"]] == [0, 1, 2]
    assert history["best_individual"] == selector.support_.tolist()
    assert (out / "fitness.png").exists() and (out / "checkpoint.json").exists()
    assert asked == [True]


@pytest.mark.parametrize("args, message", [
    (["select", "pca", "{missing}", "--out", "{out}"], "feature store not found"),
    (["select", "pca", "{store}", "--out", "{out}", "--components", "many"], "--components: value 'many'"),
    (["select", "pca", "{store}", "--out", "{out}", "--components", "mobilenet=4"], "names none of the branches"),
    (["select", "ga", "{store}", "--out", "{out}", "--k", "500"], "k must be in [1, 60]"),
    (["select", "ga", "{store}", "--out", "{out}.h5"], "ga writes a folder"),
    (["select", "ga", "{store}", "--out", "{out}", "--branches", "mobilenet"], "no branch 'mobilenet'"),
])
def test_bad_input_fails_with_one_clear_line(app, store, tmp_path, args, message):
    path, _ = store
    args = [a.format(missing=tmp_path / "nope.h5", store=path, out=tmp_path / "o") for a in args]
    result = invoke(app, *args)
    assert result.exit_code == 2  # a user error (cli_utils.EXIT_USAGE)
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error:")


def test_parse_components_reads_ints_fractions_and_mappings():
    assert parse_components(None) is None
    assert parse_components("256") == 256
    assert parse_components("0.5") == 0.5
    assert parse_components("multigap=8464, efficientnet=0.5") == {"multigap": 8464, "efficientnet": 0.5}


@pytest.mark.parametrize("flag, native, ran", [("bf16", False, "bf16"), ("auto", True, "bf16"),
                                               ("auto", False, "fp32"), ("fp32", True, "fp32")])
def test_select_ga_precision_reaches_the_fitness_and_is_recorded(app, store, tmp_path, monkeypatch,
                                                                 flag, native, ran):
    """--precision sets the dtype the fitness FC's matmuls run in (auto resolved for the hardware),
    and the saved selector, checkpoint and history record both the setting and what ran."""
    import aesthetic.precision
    from aesthetic.genetic_selection import fitness

    monkeypatch.setattr(aesthetic.precision, "bf16_is_native", lambda: native)
    built = []
    real = fitness.population_fc
    monkeypatch.setattr(fitness, "population_fc", lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
    path, _ = store
    out = tmp_path / "ga"
    result = invoke(app, "select", "ga", path, "--out", out, "--population", 6, "--parents", 3, "--k", 6,
                    "--generations", 1, "--epochs", 1, "--hidden", "8", "--precision", flag)
    assert result.exit_code == 0, result.output
    assert built and {m.compute_dtype for m in built} == {{"bf16": "bfloat16", "fp32": "float32"}[ran]}
    selector = load_selector(out)
    assert selector.get_params()["precision"] == flag and selector.precision_ == ran
    for name in ("checkpoint.json", "history.json"):
        assert json.loads((out / name).read_text())["config"]["params"]["precision"] == ran


@pytest.mark.parametrize("option, value, says", [("--precision", "fp16", "precision"),
                                                 ("--parents", "50", "parents")])
def test_select_ga_refuses_a_bad_setting_before_reading_any_feature(app, store, tmp_path, monkeypatch,
                                                                    option, value, says):
    """A mistyped option must fail in one line before the (possibly huge) store is read."""
    from aesthetic.feature_store import FeatureStore

    reads = []
    real = FeatureStore.features
    monkeypatch.setattr(FeatureStore, "features", lambda self, *a, **kw: reads.append(1) or real(self, *a, **kw))
    path, _ = store
    result = invoke(app, "select", "ga", path, "--out", tmp_path / "ga", "--population", 6, "--parents", 3,
                    "--k", 6, "--generations", 1, "--epochs", 1, "--hidden", "8", option, value)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert reads == [] and not (tmp_path / "ga").exists()
