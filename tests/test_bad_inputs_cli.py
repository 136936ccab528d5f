"""Bad image files through the commands users run (issue 14): `aesthetic extract` and `aesthetic predict`
given a truncated JPEG, a text file named .jpg, a missing file and a PNG decompression bomb beside good
photos. Each run exits as documented, names every bad file with its reason on one line, prints no
traceback, records every bad file (the store's errors, the CSV's error column), and scores the good ones.
The read limits are the commands' options (--max-decode-bytes refuses the bomb here)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aesthetic.cli import app
from aesthetic.feature_store import FeatureStore

runner = CliRunner()
FAST_EXTRACT = ("--branches", "mobilenet", "--weights", "none", "--input-scale", "0.25", "--batch-size", "4",
                "--no-progress")
#: Under the 4000^2 RGBA bomb's 107 MiB, far over a good photo's few MiB.
BUDGET = ("--max-decode-bytes", str(50 * 2**20))
REASONS = {"truncated.jpg": "corrupt", "notes.jpg": "looks like a text file", "missing.jpg": "file not found",
           "bomb.png": "over the decode budget of 50 mib"}


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean(result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def assert_each_bad_file_named_once(output: str, files: dict[str, Path]) -> None:
    """One line per bad file, holding its path and its reason."""
    text = output.replace("\n  ", " ")  # the console may not wrap, but be safe
    for name, reason in REASONS.items():
        lines = [line for line in text.splitlines() if str(files[name]) in line]
        assert len(lines) == 1, (name, output)
        assert reason in lines[0].lower(), (name, lines[0])


@pytest.fixture()
def inputs(tmp_path, photo_bytes, make_png_bomb) -> dict[str, Path]:
    folder = tmp_path / "photos"
    folder.mkdir()
    files = {name: folder / name for name in ("good1.jpg", "good2.jpg", *REASONS)}
    files["good1.jpg"].write_bytes(photo_bytes)
    files["good2.jpg"].write_bytes(photo_bytes)
    files["truncated.jpg"].write_bytes(photo_bytes[:len(photo_bytes) // 2] + b"\xff\xd9")
    files["notes.jpg"].write_text("shopping list: eggs, flour\n")
    make_png_bomb(files["bomb.png"], side=4000)
    listing = tmp_path / "photos.csv"  # a CSV, so the missing file is listed too
    listing.write_text("path\n" + "".join(f"{p}\n" for p in files.values()))
    files["csv"] = listing
    return files


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_store) -> Path:
    out = tmp_path_factory.mktemp("bad_cli") / "model"
    result = cli("train", tiny_store, "--out", out, "--hidden", "8", "--epochs", "2", "--validation-fraction",
                 "0.25", "--no-sensitivity", "--threshold-folds", "0")
    assert result.exit_code == 0, result.output
    return out


def test_extract_skips_and_records_each_bad_file_and_extracts_the_good(inputs, tmp_path):
    store = tmp_path / "features.h5"
    result = cli("extract", inputs["csv"], "--out", store, *FAST_EXTRACT, *BUDGET)
    assert_clean(result, 0)
    assert "6 images: 2 ok, 4 failed" in result.output
    assert_each_bad_file_named_once(result.output, inputs)
    with FeatureStore.open(store) as st:
        recorded = {Path(p).name: (bool(ok), err) for p, ok, err in zip(st.paths, st.ok, st.errors)}
    assert recorded["good1.jpg"] == (True, "") and recorded["good2.jpg"] == (True, "")
    for name, reason in REASONS.items():
        ok, error = recorded[name]
        assert not ok and reason in error.lower(), (name, error)


def test_predict_scores_the_good_lists_the_bad_and_writes_every_row(inputs, bundle, tmp_path):
    out = tmp_path / "pred.csv"
    paths = [inputs[n] for n in ("good1.jpg", "good2.jpg", *REASONS)]
    result = cli("predict", bundle, *paths, "--out", out, *BUDGET)
    assert_clean(result, 0)
    assert "scored 2 of 6 images" in result.output and "4 image(s) skipped" in result.output
    assert_each_bad_file_named_once(result.output, inputs)
    with open(out, newline="") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert set(rows) == {p.name for p in paths}
    assert rows["good1.jpg"]["error"] == "" and 0.0 <= float(rows["good1.jpg"]["p_aesthetic"]) <= 1.0
    for name, reason in REASONS.items():
        assert reason in rows[name]["error"].lower() and rows[name]["p_aesthetic"] == "", rows[name]


def test_predict_with_only_bad_files_exits_1_and_says_why(inputs, bundle):
    result = cli("predict", bundle, *[inputs[n] for n in REASONS], *BUDGET)
    assert_clean(result, 1)
    assert "scored 0 of 4 images" in result.output
    assert_each_bad_file_named_once(result.output, inputs)


def test_read_limits_come_from_options_and_the_config_file(inputs, bundle, tmp_path):
    """--max-file-bytes refuses a good photo unread; the same key in --config does; a bad value is one line."""
    small = inputs["good1.jpg"].stat().st_size - 1
    result = cli("predict", bundle, inputs["good1.jpg"], "--max-file-bytes", small)
    assert_clean(result, 1)
    assert "good1.jpg" in result.output and "over the limit of" in result.output
    config = tmp_path / "read.toml"
    config.write_text(f"max_file_bytes = {small}\n")
    result = cli("predict", bundle, inputs["good1.jpg"], "--config", config)
    assert_clean(result, 1)
    config.write_text("max_file_bytes = -1\n")
    result = cli("predict", bundle, inputs["good1.jpg"], "--config", config)
    assert_clean(result, 2)
    assert f"{config}: key 'max_file_bytes'" in result.output
