"""End to end with fake scorers: a suite with an all-negative set, an unreadable file and a planted
leak runs, its numbers match scikit-learn on the known scores, and the report files exist and parse."""

import csv
import dataclasses
import json
import re
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image
from sklearn import metrics as skm

from aesthetic.benchmarks.report.benchmark import BenchmarkOptions, run_benchmark
from aesthetic.benchmarks.report.report import ReportError, write_report
from aesthetic.data import read_labels_csv
from aesthetic.benchmarks.report.suite import load_suite
from aesthetic.degradations import exposure


class RatingScorer:
    """A 1-10 rating peer like NIMA: green level mapped to 1..10, aesthetic above 5."""

    name = "fake-rating"
    kind = "peer"
    threshold = 5.0
    inclusive = False
    probabilistic = False
    score_label = "rating (1-10)"

    def score_images(self, images):
        return np.array([1 + 9 * im[..., 1].mean() / 255.0 for im in images])


def _image(rng, red, landscape):
    h, w = (40, 60) if landscape else (60, 40)
    img = rng.integers(0, 90, (h, w, 3)).astype(np.float64)  # texture: distinct perceptual hashes
    img[..., 0] = img[..., 0] - img[..., 0].mean() + red
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _save(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])  # PNG: lossless, the planted score survives
    return path


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    truth = {}
    for i in range(6):  # training folders: aesthetic = landscape + red
        _save(root / "train" / "1" / f"t{i}.png", _image(rng, 150 + 10 * i, True))
        _save(root / "train" / "0" / f"t{i}.png", _image(rng, 60 + 10 * i, False))
    rows = []
    for i, red in enumerate([200, 170, 140, 110, 90, 125]):   # positives; 110/90 below 0.5
        p = _save(root / "bal" / f"p{i}.png", _image(rng, red, i % 2 == 0))
        rows.append([p.name, 1])
        truth[p.name] = red
    for i, red in enumerate([30, 60, 100, 135, 50, 80]):       # negatives; 135 above 0.5
        p = _save(root / "bal" / f"n{i}.png", _image(rng, red, False))
        rows.append([p.name, 0])
        truth[p.name] = red
    (root / "bal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows.append(["broken.png", 1])
    leaked = root / "train" / "1" / "t0.png"
    shutil.copy(leaked, root / "bal" / "leak.png")                 # a training image in the benchmark
    rows.append(["leak.png", 1])
    truth["leak.png"] = float(cv2.imread(str(leaked))[..., 2].mean())
    with open(root / "bal" / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label"], *rows])
    for i in range(4):
        _save(root / "neg" / f"s{i}.png", _image(rng, 40 + 40 * i, i % 2 == 0))
    (root / "suite.toml").write_text("""
name = "fake"
caveats = ["synthetic images, planted scores"]
[train]
folders = {"1" = "train/1", "0" = "train/0"}
[sets.Balanced]
labels = "bal/labels.csv"
[sets.AllNegative]
folders = {"0" = "neg"}
[robustness]
set = "Balanced"
transforms = [{kind = "exposure", ev = 1.0}, {kind = "center_crop"}]
""")
    return root, truth


@pytest.fixture(scope="module")
def result(suite_dir, red_scorer):
    root, _ = suite_dir
    return run_benchmark(load_suite(root / "suite.toml"), [red_scorer, RatingScorer()],
                         BenchmarkOptions(batch_size=5, progress=False))


@pytest.fixture(scope="module")
def report(result, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "report"
    write_report(result, out, "aesthetic benchmark fake --suite suite.toml --out report")
    return out


def test_metrics_match_sklearn_on_the_planted_scores(result, suite_dir):
    _, truth = suite_dir
    ss = result.set_scores["Balanced"]
    items = [i for i in result.sets["Balanced"].items if str(i.path) not in ss.unreadable]
    y = np.array([i.label for i in items])
    expected_scores = np.array([truth[i.path.name] / 255.0 for i in items])
    np.testing.assert_allclose(ss.scores["fake-red"], expected_scores, atol=0.01)
    m = result.metrics["Balanced"]["fake-red"]
    pred = (ss.scores["fake-red"] >= 0.5).astype(int)
    assert m.n == 13 and m.accuracy == pytest.approx(skm.accuracy_score(y, pred))
    assert m.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m.f1 == pytest.approx(skm.f1_score(y, pred))
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y, ss.scores["fake-red"]))
    assert m.confusion == skm.confusion_matrix(y, pred).tolist()


def test_unreadable_image_is_skipped_and_listed(result):
    unreadable = result.set_scores["Balanced"].unreadable
    assert [p.split("/")[-1] for p in unreadable] == ["broken.png"]
    assert "truncated" in next(iter(unreadable.values()))


def test_all_negative_set_reports_without_auc(result):
    for name, m in result.metrics["AllNegative"].items():
        assert m.roc_auc is None and m.n_positive == 0, name
        assert m.accuracy == pytest.approx(m.confusion[0][0] / 4)
    assert result.metrics["AllNegative"]["fake-rating"].reliability is None  # not a probability


def test_baselines_are_fitted_on_train_and_scored(result):
    names = [s["name"] for s in result.scorers]
    assert names[:2] == ["fake-red", "fake-rating"]
    assert "baseline: aspect ratio" in names and "baseline: hand-crafted LR (6 features)" in names
    assert result.baseline_train["n"] == 12 and result.baseline_train["n_positive"] == 6
    aspect = next(m for m in result.baselines if m.features == ("aspect_ratio",))
    assert aspect.coef_[0] > 0  # training positives are landscape


def test_leakage_check_finds_the_copied_training_image(result):
    leak = result.audit.leakage
    assert len(leak) == 1 and leak[0].kind == "exact"
    assert {leak[0].path_a.split("/")[-1], leak[0].path_b.split("/")[-1]} == {"leak.png", "t0.png"}


def test_robustness_rows_match_an_independent_computation(result, suite_dir):
    rows = {(r.transform, r.scorer): r for r in result.robustness}
    assert len(rows) == 2 * len(result.scorers)
    ss = result.set_scores["Balanced"]
    items = [i for i in result.sets["Balanced"].items if str(i.path) not in ss.unreadable]
    images = [cv2.imread(str(i.path))[:, :, ::-1] for i in items]
    after = np.array([exposure(im, 1.0)[..., 0].mean() / 255 for im in images])
    before = ss.scores["fake-red"]
    r = rows[("exposure(+1 EV)", "fake-red")]
    assert r.mean_shift == pytest.approx(np.mean(after - before))
    assert r.flip_rate == pytest.approx(np.mean((after >= 0.5) != (before >= 0.5)))
    assert r.accuracy == pytest.approx(np.mean((after >= 0.5) == np.array([i.label for i in items])))
    crop = rows[("center_crop(square)", "baseline: aspect ratio")]
    assert crop.mean_shift != 0  # every image becomes square: the aspect-ratio baseline moves


def test_report_files_exist_and_parse(report, result):
    data = json.loads((report / "report.json").read_text())
    assert data["format"] == "aesthetic-benchmark-report"
    assert data["metrics"]["AllNegative"]["fake-red"]["roc_auc"] is None
    assert data["metrics"]["Balanced"]["fake-red"]["accuracy"] == pytest.approx(
        result.metrics["Balanced"]["fake-red"].accuracy)
    assert data["audit"]["leakage_pairs"] == 1 and len(data["robustness"]["rows"]) == 2 * len(result.scorers)
    md = (report / "report.md").read_text()
    assert md.splitlines()[4] == "```" and "aesthetic benchmark fake" in md.splitlines()[5]
    headline = md.split("## Headline: accuracy per set")[1].split("###")[0]
    table = [line for line in headline.splitlines() if line.startswith("|")]
    assert table[0].startswith("| scorer | Balanced (n=13: 7 / 6) | AllNegative (n=4: 0 / 4) |")
    assert [line.split("|")[1].strip() for line in table[2:]] == [s["name"] for s in result.scorers]
    auc_table = md.split("### ROC-AUC per set")[1].split("###")[0]
    assert re.search(r"\| fake-red \| [0-9.]+ \| undefined \|", auc_table)
    assert "1 leaked pairs found" in md and "synthetic images, planted scores" in md
    robust = md.split("## Robustness")[1].split("##")[0]
    assert "| fake-red | none |" in robust and "|  | exposure(+1 EV) |" in robust
    assert "| baseline: aspect ratio |" not in robust  # single features: heatmap and JSON only
    assert "broken.png" in md
    for link in re.findall(r"\((plots/[^)]+\.png)\)", md):
        with Image.open(report / link) as im:
            assert im.size[0] > 100 and im.format == "PNG"
    assert (report / "plots" / "robustness.png").is_file()
    members = read_labels_csv(report / "splits" / "Balanced.csv")
    assert [i.path for i in members] == [i.path for i in result.sets["Balanced"].items]
    assert json.loads((report / "baselines.json").read_text())["models"]


def test_report_replaces_a_previous_report_and_refuses_other_folders(result, report, tmp_path):
    (report / "stale.txt").write_text("from an older run")
    smaller = dataclasses.replace(result, scorers=result.scorers[:1], robustness=[])  # fewer figures
    write_report(smaller, report, "again")
    assert not (report / "stale.txt").exists() and "again" in (report / "report.md").read_text()
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".report.")]  # no temp left
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    with pytest.raises(ReportError, match="is not a benchmark report"):
        write_report(result, other, "x")
    assert (other / "thesis.tex").read_text() == "x"


class _FakeModel:
    threshold = 0.5
    name = "fake-bundle"
    config: dict = {}

    def __init__(self, scorer):
        self.predict_images = scorer.score_images


def test_cli_benchmark_loads_models_through_aesthetic_model(suite_dir, tmp_path, monkeypatch, red_scorer):
    import sys
    import types

    from typer.testing import CliRunner

    from aesthetic.cli import app

    from aesthetic.feature_store import BranchData, write_store

    root, _ = suite_dir
    train_files = sorted(str(p) for p in (root / "train").rglob("*.png"))
    store = write_store(tmp_path / "train.h5", ids=[p.split("/")[-1] for p in train_files] + ["t0.png#aug1"],
                        paths=train_files + [train_files[0]], labels=None, status=[1] * (len(train_files) + 1),
                        errors=[""] * (len(train_files) + 1),
                        branches={"b": BranchData(np.zeros((len(train_files) + 1, 2), np.float32))})
    model = _FakeModel(red_scorer)
    model.config = {"training": {"features": str(store)}}   # as aesthetic.classifier.training records it
    loaded = []
    fake = types.ModuleType("aesthetic.bundles.model")
    fake.load_model = lambda path: loaded.append(path) or model
    monkeypatch.setitem(sys.modules, "aesthetic.bundles.model", fake)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    out = tmp_path / "rep"
    runner = CliRunner()
    res = runner.invoke(app, ["benchmark", str(bundle), "--suite", str(root / "suite.toml"), "--out", str(out),
                              "--no-baselines", "--no-robustness", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert loaded == [bundle] and "fake-bundle" in res.output and "leakage" in res.output
    data = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in data["scorers"]] == ["fake-bundle"]
    assert data["scorers"][0]["decision"] == "score >= 0.5"
    assert data["command"].startswith(f"aesthetic benchmark {bundle} --suite")
    assert "--no-baselines --no-robustness" in data["command"]
    # the model's own training images (from its feature store) are checked for leakage too
    assert data["audit"]["training_sets"] == ["[train]", "fake-bundle training"]
    assert data["audit"]["sets"]["fake-bundle training"]["n"] == len(train_files)  # augmented row folded
    leaked = data["audit"]["across"]["Balanced <> fake-bundle training"]
    assert [p["path_a"].split("/")[-1] for p in leaked] == ["leak.png"]
    assert any("12 training images from its feature store" in n for n in data["notes"])

    res = runner.invoke(app, ["benchmark", str(bundle), "--suite", str(root / "missing.toml"), "--out", str(out)])
    assert res.exit_code == 2 and "missing.toml: suite file not found" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["benchmark", str(tmp_path / "nobundle"), "--suite", str(root / "suite.toml"),
                              "--out", str(out)])
    assert res.exit_code == 2 and "not a model bundle folder" in res.output
    res = runner.invoke(app, ["benchmark", "--suite", str(root / "suite.toml"), "--out", str(out),
                              "--nima", str(tmp_path / "nope.hdf5")])
    assert res.exit_code == 2 and "nope.hdf5: weights file not found" in res.output


def test_cli_splits_writes_the_exact_members_of_every_set(suite_dir, tmp_path):
    from typer.testing import CliRunner

    from aesthetic.cli import app

    root, _ = suite_dir
    res = CliRunner().invoke(app, ["splits", str(root / "suite.toml"), "--out", str(tmp_path / "splits")])
    assert res.exit_code == 0, res.output
    suite = load_suite(root / "suite.toml")
    assert sorted(p.name for p in (tmp_path / "splits").iterdir()) == ["AllNegative.csv", "Balanced.csv", "train.csv"]
    train = read_labels_csv(tmp_path / "splits" / "train.csv")
    assert [(i.path, i.label) for i in train] == [(i.path, i.label) for i in suite.train.items]
    assert "train.csv: 12 images (6 aesthetic, 6 not)" in res.output


def test_shortcut_check_flags_a_model_no_better_than_aspect_ratio(result):
    import copy

    from aesthetic.benchmarks.report.report import _shortcut_check

    def line_for(model_auc, baseline_auc, scorer="fake-red"):
        metrics = copy.deepcopy(result.metrics)
        for name, m in metrics["Balanced"].items():
            m.roc_auc = model_auc if name == scorer else baseline_auc
        lines = _shortcut_check(dataclasses.replace(result, metrics=metrics))
        return next(line for line in lines if f"**{scorer}** on Balanced" in line)

    assert "does not beat aspect ratio alone" in line_for(0.80, 0.85)
    assert "does not beat aspect ratio alone" in line_for(0.85, 0.85)   # a tie is not a win
    assert "beats every hand-crafted baseline" in line_for(0.95, 0.85)
    assert "ROC-AUC 0.950 vs aspect ratio alone 0.850" in line_for(0.95, 0.85)
    assert "Centre-cropped to squares" in line_for(0.95, 0.85)
    assert not any("AllNegative" in line for line in _shortcut_check(result))  # AUC undefined there
    peer = line_for(0.60, 0.85, scorer="fake-rating")  # a peer is not accused of learning the sources
    assert "a peer trained elsewhere" in peer and "learned the framing" not in peer


def test_every_scorer_gets_the_same_sensitivity_rows(result, report):
    names = {s["name"] for s in result.scorers}
    rows = result.sensitivity
    assert {r.scorer for r in rows} == names
    per_scorer = {n: sorted((r.check, r.group, r.label) for r in rows if r.scorer == n) for n in names}
    assert len({tuple(v) for v in per_scorer.values()}) == 1
    groups = {r.group for r in rows if r.check == "degradation"}
    assert groups == {"Balanced"}  # AllNegative has no aesthetic photo to spoil
    text = (report / "report.md").read_text()
    assert "## Sensitivity" in text and "Near-empty frames" in text and "plots/sensitivity_Balanced_fake-red.png" in text
    assert (report / "plots" / "sensitivity_Balanced_fake-red.png").is_file()
    data = json.loads((report / "report.json").read_text())
    assert len(data["sensitivity"]["rows"]) == len(rows)
