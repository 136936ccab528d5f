"""Bad inputs of issue 14 (items 2, 4, 6, 8): each ends in one sentence naming the file and the problem,
exit code 2, no traceback, and nothing already on disk lost. Every bad file is made on the fly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from aesthetic.cli import app
from aesthetic.feature_store import STATUS_OK, BranchData, FeatureStore, FeatureStoreError, write_store

runner = CliRunner()


def cli(*args) -> "object":
    return runner.invoke(app, [str(a) for a in args])


def assert_refused(result, *fragments: str, code: int = 2) -> None:
    """Exit ``code`` (2: bad input), one error line
    holding every fragment, no Python traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    text = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in text, result.output


#: The smallest training that makes a bundle: no sensitivity copies, no out-of-fold threshold fits.
FIT = ("--hidden", "8,4", "--epochs", "2", "--patience", "1", "--validation-fraction", "0.25", "--no-sensitivity",
       "--threshold-folds", "0")


# -- 2. --out never replaces a folder holding an input or a folder of something else --------------------------
@pytest.fixture(scope="module")
def old_bundle(tmp_path_factory, tiny_store) -> Path:
    """An earlier model bundle that also holds the store a new model is trained on."""
    folder = tmp_path_factory.mktemp("outsafety") / "m"
    result = cli("train", tiny_store, "--out", folder, *FIT)
    assert result.exit_code == 0, result.output
    shutil.copy(tiny_store, folder / "features.h5")
    return folder


def test_train_onto_the_bundle_holding_its_own_store_refuses_and_keeps_everything(old_bundle):
    before = sorted(p.name for p in old_bundle.iterdir())
    config = (old_bundle / "config.json").read_bytes()
    result = cli("train", old_bundle / "features.h5", "--out", old_bundle, *FIT)
    assert_refused(result, f"--out {old_bundle}", "holds the input", "features.h5", "another folder")
    assert sorted(p.name for p in old_bundle.iterdir()) == before
    assert (old_bundle / "config.json").read_bytes() == config
    with FeatureStore.open(old_bundle / "features.h5") as store:  # the input is intact
        assert store.ok.all()


def test_train_onto_a_folder_that_is_not_a_bundle_refuses(tmp_path, tiny_store):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("x")
    result = cli("train", tiny_store, "--out", precious, *FIT)
    assert_refused(result, "is not a model bundle", "choose another folder")
    assert (precious / "chapter1.tex").read_text() == "x"


def test_train_with_labels_inside_out_refuses(tmp_path, tiny_store, old_bundle):
    labels = old_bundle / "labels.csv"
    labels.write_text("path,label\nimg00.jpg,1\n")
    try:
        assert_refused(cli("train", tiny_store, "--out", old_bundle, "--labels", labels, *FIT), "labels.csv")
        assert labels.exists()
    finally:
        labels.unlink()


def test_distill_onto_its_teacher_refuses(old_bundle):
    config = (old_bundle / "config.json").read_bytes()
    assert_refused(cli("distill", old_bundle, "--out", old_bundle, "--epochs", "1",
                       "--features", old_bundle / "features.h5"), "holds the input")
    assert (old_bundle / "config.json").read_bytes() == config


def test_benchmark_onto_a_folder_holding_its_suite_or_not_a_report_refuses(tmp_path, old_bundle):
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.json").write_text("{}")  # an earlier report: replaceable...
    suite = report / "suite.toml"
    suite.write_text("[suite]\nname = 'x'\n")  # ...but not while it holds the suite
    assert_refused(cli("benchmark", old_bundle, "--suite", suite, "--out", report), "holds the input", "suite.toml")
    assert suite.exists() and (report / "report.json").exists()

    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_bytes(b"x")
    assert_refused(cli("benchmark", old_bundle, "--suite", suite, "--out", other), "is not a benchmark report")
    assert (other / "a.jpg").read_bytes() == b"x"

    assert_refused(cli("benchmark", old_bundle, "--suite", suite, "--out", old_bundle), "holds the input")
    assert (old_bundle / "config.json").exists()


def test_predict_out_onto_its_input_csv_and_select_onto_its_store_refuse(tmp_path, old_bundle, tiny_images):
    listing = tmp_path / "list.csv"
    listing.write_text("path\n" + "\n".join(tiny_images[0][:2]) + "\n")
    text = listing.read_text()
    assert_refused(cli("predict", old_bundle, listing, "--out", listing), "it is the input", "list.csv")
    assert listing.read_text() == text

    store = tmp_path / "f.h5"
    shutil.copy(old_bundle / "features.h5", store)
    assert_refused(cli("select", "pca", store, "--out", store, "--components", "4"), "it is the input")
    with FeatureStore.open(store) as st:
        assert len(st) == 16


# -- 4. corrupt stores and artifacts ---------------------------------------------------------------------
def _small_store(path: Path, features: np.ndarray, labels=None) -> Path:
    n = len(features)
    return write_store(path, ids=[f"img{i}.jpg" for i in range(n)], paths=[f"/x/img{i}.jpg" for i in range(n)],
                       labels=labels if labels is not None else [i % 2 for i in range(n)], status=[STATUS_OK] * n,
                       errors=[""] * n, branches={"mobilenet": BranchData(features, {})}, dtype="float32")


def _garble(path: Path, branch: str = "mobilenet", n_bytes: int = 4000) -> None:
    """Overwrite bytes in the middle of a feature dataset's first chunk, as a bad disk would."""
    with h5py.File(path, "r") as f:
        offset = f["features"][branch].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 1000)
        fh.write(np.random.default_rng(0).integers(0, 256, n_bytes, dtype=np.uint8).tobytes())


def test_garbled_feature_bytes_are_detected_and_name_the_store(tmp_path):
    rng = np.random.default_rng(0)
    good = _small_store(tmp_path / "good.h5", rng.normal(size=(20, 5952)).astype(np.float32))
    bad = tmp_path / "bad.h5"
    shutil.copy(good, bad)
    _garble(bad)
    with FeatureStore.open(bad) as store:
        assert store.ids[0] == "img0.jpg"  # the small columns are fine
        with pytest.raises(FeatureStoreError, match=r"bad\.h5: the stored features of branch 'mobilenet' are corrupt"):
            store.read("mobilenet")
    assert_refused(cli("train", bad, "--out", tmp_path / "m", *FIT), "bad.h5", "are corrupt")
    assert_refused(cli("select", "pca", bad, "--out", tmp_path / "sel", "--components", "4"), "are corrupt")
    assert not (tmp_path / "m").exists()
    with FeatureStore.open(good) as store:  # the same data without damage reads
        assert store.read("mobilenet").shape == (20, 5952)


def test_nan_or_inf_feature_rows_are_refused_with_their_ids(tmp_path):
    feats = np.random.default_rng(1).normal(size=(12, 5952)).astype(np.float32)
    feats[3, 10] = np.nan
    feats[7, 0] = np.inf
    store = _small_store(tmp_path / "nan.h5", feats)
    assert_refused(cli("train", store, "--out", tmp_path / "m", *FIT), "NaN or infinite features in 2 row(s)",
                   "img3.jpg", "img7.jpg")
    assert_refused(cli("select", "pca", store, "--out", tmp_path / "sel", "--components", "4"), "img3.jpg")
    assert_refused(cli("select", "ga", store, "--out", tmp_path / "ga", "--k", "4", "--population", "6",
                       "--parents", "4", "--generations", "1", "--fitness", "proxy"), "img7.jpg")
    assert not (tmp_path / "ga" / "selector.h5").exists()  # no selector saved from NaN features
    with FeatureStore.open(store) as st:  # rows without NaN still read
        assert np.isfinite(st.read("mobilenet", rows=[0, 1, 2])).all()


@pytest.fixture(scope="module")
def ga_run(tmp_path_factory):
    """A finished 1-generation GA run (proxy fitness) with its checkpoint, and the data to resume it."""
    from aesthetic.genetic_selection.ga import GeneticSelector

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 30)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    run = tmp_path_factory.mktemp("ga") / "run"
    params = dict(k=5, population=6, elite=1, parents=4, generations=1, fitness="proxy", progress=False,
                  checkpoint_dir=str(run))
    GeneticSelector(**params).fit(x, y)
    return run, x, y, params


@pytest.mark.parametrize("edit,message", [
    (lambda b: b["population"][0].__setitem__(0, 999999), "gene 999999, outside the 30 features"),
    (lambda b: b["population"][1].__setitem__(2, -5), "gene -5, outside"),
    (lambda b: b["population"][0].__setitem__(1, "7"), "not a whole number"),
    (lambda b: b["population"][0].__setitem__(1, 2.5), "not a whole number"),
    (lambda b: b["population"][2].__setitem__(1, b["population"][2][0]), "names a feature twice"),
    (lambda b: b["population"][0].pop(), "has 4 genes, the run has k=5"),
    (lambda b: b["population"].pop(), "population holds 5 individuals"),
    (lambda b: b.__setitem__("population", "many"), "not a list of individuals"),
    (lambda b: b.__setitem__("fitness", ["high"] * 6), "fitness is not one finite number"),
    (lambda b: b.__setitem__("generation", -1), "generation -1"),
    (lambda b: b.__setitem__("rng_state", {"bit_generator": "os.system"}), "rng_state"),
])
def test_a_tampered_ga_checkpoint_is_refused_with_a_sentence(ga_run, tmp_path, edit, message):
    from aesthetic.genetic_selection.base import SelectionError
    from aesthetic.genetic_selection.ga import GeneticSelector

    run, x, y, params = ga_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    body = json.loads((copy / "checkpoint.json").read_text())
    edit(body)
    (copy / "checkpoint.json").write_text(json.dumps(body))
    with pytest.raises(SelectionError, match="damaged GA checkpoint") as err:
        GeneticSelector(**{**params, "checkpoint_dir": str(copy), "generations": 2}).fit(x, y)
    assert message in str(err.value) and "--restart" in str(err.value)


@pytest.mark.parametrize("support,message", [
    ([0, 1, 2, 3, 30], "outside the 30 input features"),
    ([0, 1, 2, 3, -1], "outside the 30 input features"),
    ([0, 1, 2, 3, 3], "selects a feature twice"),
    ([0, 1, 2, 3], "selects 4 features"),
])
def test_a_saved_selector_with_bad_indices_is_refused(ga_run, tmp_path, support, message):
    from aesthetic.genetic_selection.base import SelectionError
    from aesthetic.genetic_selection.ga import GeneticSelector
    from aesthetic.genetic_selection.io import load_selector

    run, x, y, params = ga_run
    selector = GeneticSelector(**{**params, "checkpoint_dir": None}).fit(x, y)
    path = selector.save(tmp_path / "sel.h5")
    assert load_selector(path).n_features_out_ == 5  # the untouched file loads
    with h5py.File(path, "r+") as f:
        del f["arrays/support"]
        f["arrays/support"] = np.asarray(support, dtype=np.int64)
    with pytest.raises(SelectionError, match="damaged ga selector") as err:
        load_selector(path)
    assert message in str(err.value)


# -- 6. bundles are relocatable, and a malformed config.json is one sentence -------------------------------------
@pytest.fixture(scope="module")
def weights_bundle(tmp_path_factory, tiny_images, nima_file, monkeypatch_module):
    """A bundle trained on features extracted with a weights file given by a *relative* path."""
    from aesthetic.classifier.fc import FCConfig
    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.bundles.build import train_from_store

    root = tmp_path_factory.mktemp("reloc")
    (root / "shared").mkdir()
    shutil.copy(nima_file, root / "shared" / "nima.hdf5")
    (root / "project").mkdir()
    monkeypatch_module.chdir(root / "project")
    paths, labels = tiny_images
    fx = FeatureExtractor(["mobilenet"], {"mobilenet": "../shared/nima.hdf5"}, input_scale=0.25, batch_size=8)
    result = fx.extract_paths(paths)
    store = write_store(root / "project" / "f.h5", ids=[Path(p).name for p in paths], paths=paths, labels=labels,
                        status=[STATUS_OK] * len(paths), errors=[""] * len(paths),
                        branches={"mobilenet": BranchData(result.features["mobilenet"], fx.branch_attrs("mobilenet"))},
                        metadata={"extractor": {**fx.config().model_dump(), "weights": {"mobilenet": "../shared/nima.hdf5"}}},
                        dtype="float32")  # recorded verbatim, as older stores did
    model, _ = train_from_store(store, "m", fc_config=FCConfig(hidden=(8, 4), epochs=2, patience=1,
                                                               validation_fraction=0.25), sensitivity=None)
    expected = model.predict(paths[:4], progress=False).p_aesthetic
    monkeypatch_module.undo()
    return root, paths[:4], expected


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_a_bundle_moved_elsewhere_predicts_from_a_third_folder(weights_bundle, tmp_path, monkeypatch):
    from aesthetic.bundles.model import load_model

    root, paths, expected = weights_bundle
    config = json.loads((root / "project" / "m" / "config.json").read_text())
    assert Path(config["extractor"]["weights"]["mobilenet"]).is_absolute()
    assert config["extractor"]["weights_in_bundle"] == {"mobilenet": "weights/mobilenet-nima.hdf5"}
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(root / "project" / "m", moved)
    (tmp_path / "third").mkdir()
    monkeypatch.chdir(tmp_path / "third")
    np.testing.assert_allclose(load_model(moved).predict(paths, progress=False).p_aesthetic, expected, rtol=1e-5)
    result = cli("predict", moved, *paths)
    assert result.exit_code == 0, result.output
    assert f"scored {len(paths)} of {len(paths)} images" in result.output


def test_a_bundle_whose_weights_are_gone_or_changed_says_so_in_one_sentence(weights_bundle, tmp_path, monkeypatch):
    root, paths, _ = weights_bundle
    moved = tmp_path / "model"
    shutil.copytree(root / "project" / "m", moved)
    shutil.rmtree(moved / "weights")
    recorded = json.loads((moved / "config.json").read_text())["extractor"]["weights"]["mobilenet"]
    monkeypatch.chdir(tmp_path)
    original = Path(recorded).read_bytes()
    try:
        Path(recorded).write_bytes(original[:-10] + b"0123456789")  # same name, other content
        assert_refused(cli("predict", moved, *paths), "weights file of branch 'mobilenet'", "nima.hdf5",
                       "is not found with sha256")
        Path(recorded).unlink()
        assert_refused(cli("predict", moved, *paths), "is not found", str(moved / "weights"))
    finally:
        Path(recorded).write_bytes(original)


MALFORMED = [
    (lambda c: c.pop("threshold"), "threshold: Field required"),
    (lambda c: c.__setitem__("threshold", 1.5), "threshold: Input should be less than 1"),
    (lambda c: c.__setitem__("threshold", 0), "threshold: Input should be greater than 0"),
    (lambda c: c.__setitem__("threshold", "high"), "threshold: Input should be a valid number"),
    (lambda c: c.__setitem__("threshold", float("nan")), "threshold"),
    (lambda c: c["extractor"].__setitem__("branches", ["resnet"]), "unknown branch 'resnet'"),
    (lambda c: c["extractor"].__setitem__("batch_size", 0), "extractor.batch_size: Input should be greater than 0"),
    (lambda c: c["extractor"].__setitem__("batch_size", -3), "extractor.batch_size"),
    (lambda c: c.pop("extractor"), "extractor: Field required"),
    (lambda c: c.__setitem__("branches", []), "branches: List should have at least 1 item"),
    (lambda c: c.__setitem__("branch_widths", {"mobilenet": 12}), "width 12, the branch has 5952"),
    (lambda c: c.__setitem__("n_features_selected", 10**6), "exceeds n_features_in"),
    (lambda c: c.__setitem__("n_features_in", "all"), "n_features_in"),
    (lambda c: c.__setitem__("kind", "huge"), "unknown bundle kind 'huge'"),
    (lambda c: c.__setitem__("n_features_selected", 3), "does not match config.json"),
]


@pytest.mark.parametrize("edit,message", MALFORMED)
def test_a_malformed_bundle_config_is_one_sentence_in_predict(old_bundle, tmp_path, tiny_images, edit, message):
    bundle = tmp_path / "m"
    shutil.copytree(old_bundle, bundle, ignore=shutil.ignore_patterns("features.h5"))
    config = json.loads((bundle / "config.json").read_text())
    edit(config)
    (bundle / "config.json").write_text(json.dumps(config))
    assert_refused(cli("predict", bundle, tiny_images[0][0]), str(bundle), message)


# -- 8. no leaks ------------------------------------------------------------------------------------------------
def test_a_non_image_error_names_its_kind_never_its_bytes(tmp_path, tiny_images):
    from aesthetic.imageio import ImageReadError, read_image

    cases = {"environ.jpg": (b"SECRET_TOKEN=hunter2\x00HOME=/root\x00", "unknown format"),
             "notes.jpg": (b"password: hunter2\n", "looks like a text file"),
             "anim.jpg": (b"GIF89a\x01\x00\x01\x00hunter2", "looks like a GIF image"),
             "phone.jpg": (b"\x00\x00\x00\x18ftypheichunter2", "looks like a HEIC/HEIF image")}
    for name, (content, said) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ImageReadError) as err:
            read_image(tmp_path / name)
        assert said in err.value.reason and "hunter2" not in str(err.value) and "SECRET" not in str(err.value)


def test_a_local_ray_cluster_runs_no_dashboard_on_loopback_and_keeps_its_token_private(monkeypatch, tmp_path):
    """A local cluster: no dashboard, the node IP switched to loopback while it starts (restored after),
    and the auth token (0644 as Ray writes it) made 0600. Joining a cluster changes none of Ray's settings.
    The listening sockets of a real local cluster are checked in test_ray_scaleout.py."""
    import os

    import ray
    from ray._private import ray_constants

    from aesthetic.feature_extraction import ray_engine
    from aesthetic.raycluster import LOOPBACK_SWITCH, local_cluster_options

    assert local_cluster_options(None) == local_cluster_options("local") == {"include_dashboard": False}
    assert local_cluster_options("auto") == {} and local_cluster_options("ray://head:10001") == {}
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(LOOPBACK_SWITCH, raising=False)
    token = tmp_path / ".ray" / "auth_token"
    calls = []

    def fake_init(**kw):
        calls.append({**kw, "switch": os.environ.get(LOOPBACK_SWITCH),
                      "node_ip": ray._private.services.get_node_ip_address()})
        token.parent.mkdir(exist_ok=True)
        token.write_text("secret")
        token.chmod(0o644)  # as Ray 2.60 leaves it

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    for address in (None, "auto"):
        with ray_engine._ray_session(address):
            assert token.stat().st_mode & 0o777 == 0o600
    assert calls[0]["include_dashboard"] is False and calls[0]["address"] is None
    assert calls[0]["switch"] == "0" and calls[0]["node_ip"] == "127.0.0.1"
    assert "include_dashboard" not in calls[1] and calls[1]["address"] == "auto" and calls[1]["switch"] is None
    assert LOOPBACK_SWITCH not in os.environ and ray_constants.ENABLE_RAY_CLUSTER is True  # restored
