"""The one locator of ../shared and of the package's embedded data, and what is embedded."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from aesthetic import shared
from aesthetic.feature_extraction.branches.mobilenet import NIMA_WEIGHTS
from aesthetic.feature_extraction.weights import WeightsError, resolve_weights, sha256_of

REPO = Path(__file__).resolve().parents[1]


def test_environment_variable_is_the_only_candidate_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path))
    assert shared.shared_candidates() == [tmp_path]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.h5").write_bytes(b"x")
    assert shared.shared_file("weights/w.h5") == tmp_path / "weights" / "w.h5"
    assert shared.shared_file("weights/missing.h5") is None


def test_inside_the_checkout_is_tried_before_beside_it(tmp_path, monkeypatch):
    monkeypatch.delenv(shared.ENV_VAR, raising=False)
    checkout = tmp_path / "repo"
    for folder in (checkout / "shared", tmp_path / "shared"):
        (folder / "data").mkdir(parents=True)
    assert shared.shared_candidates(checkout) == [checkout / "shared", tmp_path / "shared"]
    assert shared.find_shared("data", checkout) == checkout / "shared"
    (tmp_path / "shared" / "data" / "only_here.csv").write_text("")
    assert shared.find_shared("data/only_here.csv", checkout) == tmp_path / "shared"


def test_missing_folder_names_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.delenv(shared.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        shared.require_shared("data/x.csv", tmp_path / "repo", why="the demo")
    message = str(info.value)
    assert message.startswith("the demo needs")
    assert str(tmp_path / "repo" / "shared" / "data" / "x.csv") in message
    assert str(tmp_path / "shared" / "data" / "x.csv") in message and shared.ENV_VAR in message


def test_package_data_resolves_to_a_shipped_suite():
    suite = shared.package_file("benchmarks/suites/shared_data.toml")
    assert suite.is_file() and suite.read_text().strip()
    assert isinstance(suite, Path)


def test_shared_dir_is_the_env_folder_or_the_one_beside_the_checkout_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path))
    assert shared.shared_dir() == tmp_path
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path / "missing"))
    assert shared.shared_dir() is None and shared.shared_data_dir() is None  # a missing folder means none
    monkeypatch.delenv(shared.ENV_VAR)
    beside = REPO.parent / "shared"
    assert shared.shared_dir() == (beside if beside.is_dir() else None)  # no walking further up


def test_shared_set_needs_its_labels_csv(tmp_path, monkeypatch):
    (tmp_path / "data" / "curated_vs_snapshot").mkdir(parents=True)
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path))
    assert shared.shared_data_dir() == tmp_path / "data"
    assert shared.shared_set("curated_vs_snapshot") is None
    (tmp_path / "data" / "curated_vs_snapshot" / "labels.csv").write_text("path,label\n")
    assert shared.shared_set("curated_vs_snapshot") == tmp_path / "data" / "curated_vs_snapshot"


def test_embedded_nima_file_is_the_known_one_with_its_license():
    path = shared.embedded_weights_dir() / NIMA_WEIGHTS.filename
    assert path.stat().st_size == NIMA_WEIGHTS.size and sha256_of(path) == NIMA_WEIGHTS.sha256
    folder = path.parent
    assert "Apache License" in (folder / "LICENSE").read_text() and "idealo" in (folder / "NOTICE").read_text()
    assert NIMA_WEIGHTS.sha256 in (folder / "README.md").read_text()


def test_builtin_name_prefers_the_shared_copy_then_the_embedded_one(tmp_path, monkeypatch):
    embedded = shared.embedded_weights_dir() / NIMA_WEIGHTS.filename
    (tmp_path / "weights").mkdir()
    shutil.copyfile(embedded, tmp_path / "weights" / NIMA_WEIGHTS.filename)  # paths resolve, so no symlink
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path))
    got = resolve_weights("nima", "mobilenet", (NIMA_WEIGHTS,))
    assert got.path == tmp_path / "weights" / NIMA_WEIGHTS.filename and got.known is NIMA_WEIGHTS
    monkeypatch.setenv(shared.ENV_VAR, "/nonexistent")
    got = resolve_weights("NIMA", "mobilenet", (NIMA_WEIGHTS,))
    assert got.path == embedded and got.sha256 == NIMA_WEIGHTS.sha256
    assert resolve_weights(str(embedded), "mobilenet", (NIMA_WEIGHTS,)).path == embedded  # a path still works


def test_builtin_name_checks_the_file_and_is_unknown_to_other_branches(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / NIMA_WEIGHTS.filename).write_bytes(b"truncated")
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path))
    with pytest.raises(WeightsError, match="truncated, corrupt or a different model"):
        resolve_weights("nima", "mobilenet", (NIMA_WEIGHTS,))
    with pytest.raises(WeightsError, match="nima: weights file for branch 'multigap' not found"):
        resolve_weights("nima", "multigap", ())


def test_missing_builtin_file_names_it(monkeypatch):
    import aesthetic.feature_extraction.weights as weights

    monkeypatch.setattr(weights, "weights_file", lambda filename: None)
    with pytest.raises(WeightsError, match="built-in weights 'nima'.*nima_mobilenet_aesthetic.hdf5.*pass its path"):
        resolve_weights("nima", "mobilenet", (NIMA_WEIGHTS,))


def _rows(name: str) -> list[dict]:
    return list(csv.DictReader(open(shared.demo_set_dir() / name)))


def test_demo_set_is_redistributable_labelled_and_listed_exactly():
    rows = _rows("labels.csv")
    assert {r["license"] for r in rows} <= {"CC0-1.0", "public domain"}
    assert not any("flickr" in (r["origin"] + r["path"]).lower() for r in rows)  # research-only, never shipped
    assert all(r["origin"].strip() for r in rows)
    listed = {r["path"] for r in rows}
    on_disk = {f"images/{p.name}" for p in (shared.demo_set_dir() / "images").iterdir()}
    assert listed == on_disk
    assert {r["label"] for r in rows} == {"0", "1"}


def test_demo_set_split_keeps_each_scene_on_one_side_with_both_classes_each():
    train, test = _rows("train.csv"), _rows("test.csv")
    assert sorted(r["path"] for r in train + test) == sorted(r["path"] for r in _rows("labels.csv"))
    assert not {r["group"] for r in train} & {r["group"] for r in test}
    for part in (train, test):
        assert {r["label"] for r in part} == {"0", "1"}


def test_demo_set_is_small_and_its_suite_loads():
    from aesthetic.benchmarks.report.suite import load_suite

    files = [p for p in shared.demo_set_dir().rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 3_000_000
    for p in files:
        if p.suffix == ".jpg":
            assert max(Image.open(p).size) <= 500, p
    suite = load_suite(shared.demo_set_dir() / "suite.toml")
    assert len(suite.train.items) == len(_rows("train.csv"))
    assert len(suite.sets["Demo_set"].items) == len(_rows("test.csv"))


def test_branches_command_shows_where_the_builtin_weights_are():
    result = subprocess.run([sys.executable, "-m", "aesthetic", "branches"], capture_output=True, text=True,
                            env={**os.environ, "AESTHETIC_SHARED": "/nonexistent", "COLUMNS": "250"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    embedded = shared.embedded_weights_dir() / NIMA_WEIGHTS.filename
    assert f"built-in weights mobilenet=nima: {embedded}" in result.stdout
