"""The one home of atomic writes and JSON cleaning: what an artifact holds and that writes never tear."""

import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from aesthetic.fileio import atomic_dir, atomic_write_text, json_text, read_json, read_toml, to_jsonable, write_json


@dataclass
class _Pair:
    a: float
    b: np.ndarray


def test_to_jsonable_turns_numpy_paths_and_dataclasses_into_plain_json():
    value = {1: np.float32(0.5), "p": Path("/x/y"), "arr": np.arange(3, dtype=np.int8),
             "pair": _Pair(np.float64(2.0), np.array([[1, 2]])), "t": (np.bool_(True), None)}
    out = to_jsonable(value)
    assert out == {"1": 0.5, "p": "/x/y", "arr": [0, 1, 2], "pair": {"a": 2.0, "b": [[1, 2]]}, "t": [True, None]}
    assert json.loads(json.dumps(out)) == out
    assert all(type(v) is int for v in out["arr"])


def test_nan_is_kept_for_artifacts_and_none_for_strict_reports():
    assert math.isnan(to_jsonable(float("nan")))
    assert to_jsonable([np.float32("nan"), np.inf], nan_as_none=True) == [None, None]
    assert json.loads(json_text({"x": float("nan")}, nan_as_none=True)) == {"x": None}
    with pytest.raises(ValueError):  # strict JSON refuses a NaN that slipped past cleaning
        json.dumps(float("nan"), allow_nan=False)


def test_unknown_types_are_refused_with_their_name():
    with pytest.raises(TypeError, match="set"):
        to_jsonable({"s": {1, 2}})


def test_write_json_round_trips_and_leaves_no_temporaries(tmp_path):
    path = write_json(tmp_path / "sub" / "a.json", {"k": np.arange(2)})
    assert json.loads(path.read_text()) == {"k": [0, 1]}
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})
    assert target.read_text() == "old"


def test_atomic_dir_replaces_a_folder_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "bundle"
    with atomic_dir(target) as tmp:
        (tmp / "one").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "two").write_text("2")
            raise RuntimeError("boom")
    assert sorted(p.name for p in target.iterdir()) == ["one"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_files_get_the_mode_a_plain_open_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "atomic.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    atomic_mode = stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode)
    assert atomic_mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~umask


def test_structured_files_fail_with_one_sentence_naming_the_file(tmp_path):
    class Refused(ValueError):
        pass

    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.toml").write_text("a = = 1")
    (tmp_path / "good.toml").write_text("a = 1\n")
    with pytest.raises(Refused, match=r"missing\.json: config not found"):
        read_json(tmp_path / "missing.json", "config", Refused)
    with pytest.raises(Refused, match=r"bad\.json: not valid JSON"):
        read_json(tmp_path / "bad.json", "config", Refused)
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML"):
        read_toml(tmp_path / "bad.toml")
    assert read_toml(tmp_path / "good.toml") == {"a": 1}
