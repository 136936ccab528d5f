"""The one locator of the shared folder: the environment variable wins, else shared/ in or beside the checkout."""

from pathlib import Path

import pytest

from aesthetic import shared


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
