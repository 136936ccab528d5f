"""The one home of atomic writes and JSON cleaning: what an artifact holds and that writes never tear."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from aesthetic.fileio import atomic_dir, atomic_write_text, json_text, to_jsonable, write_json


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
