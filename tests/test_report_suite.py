"""Suite files: validation errors name file and key; sources, class folders and the split resolve as stated."""

import csv
from pathlib import Path

import numpy as np
import pytest

from aesthetic.reports.sources import (LabeledImage, SourceError, deterministic_split, labels_csv_text,
                                       read_labels_csv, resolve_input)
from aesthetic.reports.suite import SuiteError, load_suite, parse_suite
from aesthetic.degradations import Blur, CenterCrop

REPO = Path(__file__).resolve().parents[1]


def _touch_images(folder: Path, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"\xff\xd8\xff")  # listing never decodes
    return folder


def _labels(path: Path, rows, header=("path", "label")):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def layout(tmp_path):
    data = tmp_path / "data"
    _touch_images(data / "imgs", [f"{i:02d}.jpg" for i in range(20)])
    _labels(data / "labels.csv", [[f"imgs/{i:02d}.jpg", int(i < 8)] for i in range(20)])
    _touch_images(data / "neg", ["a.png", "b.png", "c.png"])
    return tmp_path


def _suite(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "suites" / "s.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(body)
    return path


GOOD = """
name = "t"
caveats = ["small"]
[split]
test_fraction = 0.25
seed = 7
[train]
labels = "../data/labels.csv"
part = "train"
[sets.Test]
labels = "../data/labels.csv"
part = "test"
[sets.Neg]
folders = {"0" = "../data/neg"}
[sets.Mixed]
sources = [{labels = "../data/labels.csv", part = "test"}, {folders = {"0" = "../data/neg"}}]
[robustness]
set = "Test"
transforms = [{kind = "blur", sigma = 2.5}, {kind = "center_crop"}]
"""


def test_suite_resolves_relative_to_its_file_with_a_disjoint_stratified_split(layout):
    suite = load_suite(_suite(layout, GOOD))
    test, train = suite.sets["Test"], suite.train
    assert (test.n_positive, test.n_negative) == (2, 3)       # round(8 * .25), round(12 * .25)
    assert (train.n_positive, train.n_negative) == (6, 9)
    assert not {i.path for i in test.items} & {i.path for i in train.items}
    assert {i.path for i in test.items} | {i.path for i in train.items} == \
        {(layout / "data" / "imgs" / f"{i:02d}.jpg").resolve() for i in range(20)}
    assert [i.label for i in suite.sets["Neg"].items] == [0, 0, 0]
    assert len(suite.sets["Mixed"].items) == 8 and len(suite.sets["Mixed"].provenance) == 2
    assert suite.spec.robustness.transforms == [Blur(sigma=2.5), CenterCrop()]
    assert "seed 7" in test.provenance[0]


def test_split_depends_only_on_key_label_and_seed():
    items = [LabeledImage(Path(f"/x/{k}.jpg"), k % 3 == 0, f"{k}.jpg") for k in range(60)]
    a = deterministic_split(items, "test", 0.5, seed=1)
    b = deterministic_split(list(reversed(items)), "test", 0.5, seed=1)
    assert {i.key for i in a} == {i.key for i in b}
    assert {i.key for i in a} != {i.key for i in deterministic_split(items, "test", 0.5, seed=2)}
    moved = [LabeledImage(Path("/elsewhere") / i.key, i.label, i.key) for i in items]
    assert {i.key for i in deterministic_split(moved, "test", 0.5, seed=1)} == {i.key for i in a}
    with pytest.raises(SourceError, match="test_fraction"):
        deterministic_split(items, "test", 1.0, 0)


@pytest.mark.parametrize("body,expected", [
    ('name = "t"\n', r"s\.toml: sets: Field required"),
    ('name = "t"\n[sets.A]\nlabels = "x.csv"\nfolders = {"0" = "d"}\n', r"s\.toml: sets\.A: Value error.*exactly one"),
    ('name = "t"\n[sets.A]\nlabel = "x.csv"\n', r"s\.toml: sets\.A\.label: Extra inputs"),
    ('name = "t"\n[sets.A]\nlabels = "x.csv"\npart = "val"\n', r"sets\.A\.part"),
    ('name = "t"\n[sets.A]\nlabels = "x.csv"\n[robustness]\nset = "B"\n', r"robustness\.set 'B' is not one of the sets"),
    ('name = "t"\n[sets.A]\nlabels = "x.csv"\n[robustness]\nset = "A"\ntransforms = [{kind = "jpeg", quality = 0}]\n',
     r"robustness\.transforms\[0\]\.jpeg\.quality"),
    ('name = "t"\n[sets.A\n', r"not valid TOML"),
    ('name = "t"\n[sets.train]\nlabels = "x.csv"\n', r"may not be called 'train'"),
])
def test_invalid_suites_name_file_and_key(tmp_path, body, expected):
    with pytest.raises(SuiteError, match=expected):
        parse_suite(_suite(tmp_path, body))


def test_missing_files_and_bad_labels_name_the_key(layout):
    bad = GOOD.replace('folders = {"0" = "../data/neg"}\n[sets.Mixed]', 'folders = {"0" = "../data/nope"}\n[sets.Mixed]')
    with pytest.raises(SuiteError, match=r"sets\.Neg: .*nope: folder not found"):
        load_suite(_suite(layout, bad))
    _labels(layout / "data" / "bad.csv", [["imgs/00.jpg", 2]])
    with pytest.raises(SuiteError, match=r"sets\.B: .*bad\.csv, imgs/00\.jpg: label 2 is not 0 or 1"):
        load_suite(_suite(layout, 'name = "t"\n[sets.B]\nlabels = "../data/bad.csv"\n'))
    _labels(layout / "data" / "nolabel.csv", [["imgs/00.jpg"]], header=("path",))
    with pytest.raises(SuiteError, match="missing label"):
        load_suite(_suite(layout, 'name = "t"\n[sets.B]\nlabels = "../data/nolabel.csv"\n'))
    with pytest.raises(SuiteError, match="folders key 'yes'"):
        load_suite(_suite(layout, 'name = "t"\n[sets.B]\nfolders = {"yes" = "../data/neg"}\n'))


def test_split_csv_text_is_a_labels_csv_that_reads_back(layout, tmp_path):
    suite = load_suite(_suite(layout, GOOD))
    out = tmp_path / "report" / "splits"
    out.mkdir(parents=True)
    (out / "Test.csv").write_text(labels_csv_text(suite.sets["Test"].items, out))
    back = read_labels_csv(out / "Test.csv")
    assert [(i.path, i.label) for i in back] == [(i.path, i.label) for i in suite.sets["Test"].items]


def test_resolve_input_reads_class_folders_csvs_and_globs(layout):
    root = layout / "classes"
    _touch_images(root / "1", ["p.jpg"])
    _touch_images(root / "0", ["n1.jpg", "n2.jpg"])
    assert sorted(i.label for i in resolve_input(str(root))) == [0, 0, 1]
    assert [i.label for i in resolve_input(str(layout / "data" / "neg"))] == [None] * 3
    assert len(resolve_input(str(layout / "data" / "imgs" / "1*.jpg"))) == 10
    assert sum(i.label for i in resolve_input(str(layout / "data" / "labels.csv"))) == 8
    with pytest.raises(SourceError, match="nothing-here"):
        resolve_input(str(layout / "nothing-here"))


def test_shipped_shared_data_suite_parses():
    spec = parse_suite(REPO / "benchmarks" / "suites" / "shared_data.toml")
    assert spec.train is not None and spec.robustness is not None
    assert {"Curated_vs_Snapshot", "Imbalanced", "Snapshots"} <= set(spec.sets)
    assert spec.caveats


@pytest.mark.skipif(not (REPO.parent / "shared" / "data" / "snapshots" / "labels.csv").is_file(),
                    reason="needs ../shared/data")
def test_shipped_suite_resolves_sets_of_different_balance_and_an_all_negative_one():
    suite = load_suite(REPO / "benchmarks" / "suites" / "shared_data.toml")
    fractions = {n: s.n_positive / len(s.items) for n, s in suite.sets.items()}
    assert fractions["Snapshots"] == 0
    assert 0.4 < fractions["Curated_vs_Snapshot"] < 0.6 and fractions["Imbalanced"] < 0.2
    train_paths = {i.path for i in suite.train.items}
    assert all(not (train_paths & {i.path for i in s.items}) for s in suite.sets.values())
    assert np.all([p.is_file() for p in list(train_paths)[:20]])
