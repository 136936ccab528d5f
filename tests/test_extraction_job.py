"""The extraction job: bad files skipped and listed, resume after kill -9 is exact, CLI summary."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from aesthetic.feature_extraction import ExtractionConfig, ExtractionJobError, FeatureExtractor, extract
from aesthetic.feature_store import FeatureStore

REPO = Path(__file__).resolve().parents[1]


def _write_folder(folder: Path, astronaut: np.ndarray, n_good: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n_good):
        h, w = [(120, 160), (160, 120), (100, 100)][i % 3]
        y, x = rng.integers(0, 512 - h), rng.integers(0, 512 - w)
        cv2.imwrite(str(folder / f"img_{i:03d}.jpg"), astronaut[y:y + h, x:x + w, ::-1])


def _add_bad_files(folder: Path, astronaut: np.ndarray) -> dict[str, str]:
    ok, buf = cv2.imencode(".jpg", astronaut[:, :, ::-1])
    (folder / "bad_empty.jpg").write_bytes(b"")
    (folder / "bad_truncated.jpg").write_bytes(buf.tobytes()[:4000])
    (folder / "bad_text.png").write_text("this is not a png")
    (folder / "bad_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(3000) + b"\xff\xd9")
    return {"bad_empty.jpg": "empty", "bad_truncated.jpg": "truncated", "bad_text.png": "not a supported",
            "bad_corrupt.jpg": ""}


CONFIG = dict(branches=["mobilenet"], weights={"mobilenet": None}, input_scale=0.25, chunk_size=3, batch_size=2)


def test_bad_files_are_skipped_listed_and_never_stop_the_job(tmp_path, astronaut):
    _write_folder(tmp_path / "imgs", astronaut, 5)
    expected = _add_bad_files(tmp_path / "imgs", astronaut)
    summary = extract(tmp_path / "imgs", tmp_path / "f.h5", ExtractionConfig(**CONFIG), progress=False)
    assert (summary.images, summary.ok, summary.failed) == (9, 5, 4)
    with FeatureStore.open(tmp_path / "f.h5") as st:
        failures = {Path(p).name: reason for p, reason in st.failures()}
        assert set(failures) == set(expected)
        for name, fragment in expected.items():
            assert fragment in failures[name] and failures[name]
        feats = st.read("mobilenet")
        assert np.all(feats[~st.ok] == 0) and np.all(np.abs(feats[st.ok]).sum(1) > 0)
        assert st.branch_attrs("mobilenet")["input_policy"] == "resize(56x56, nearest)"  # NIMA's own resize
    assert not (tmp_path / "f.h5.parts").exists()


def test_rerun_of_a_finished_job_is_a_no_op_and_other_settings_refuse(tmp_path, astronaut):
    _write_folder(tmp_path / "imgs", astronaut, 4)
    extract(tmp_path / "imgs", tmp_path / "f.h5", ExtractionConfig(**CONFIG), progress=False)
    again = extract(tmp_path / "imgs", tmp_path / "f.h5", ExtractionConfig(**CONFIG), progress=False)
    assert again.seconds == 0.0 and again.ok == 4
    with pytest.raises(ExtractionJobError, match="--overwrite"):
        extract(tmp_path / "imgs", tmp_path / "f.h5", ExtractionConfig(**{**CONFIG, "dtype": "float32"}), progress=False)


def _cli(folder: Path, out: Path, branch: str = "multigap", scale: float = 0.1) -> list[str]:
    return [sys.executable, "-m", "aesthetic", "extract", str(folder), "--out", str(out), "--branches", branch,
            "--weights", "none", "--input-scale", str(scale), "--chunk-size", "2", "--batch-size", "2", "--no-progress"]


def test_killed_job_resumes_to_the_same_file(tmp_path, astronaut):
    # MobileNet at its own 224 px: a network a tenth of multigap's to build in each of the three processes,
    # and 30 parts of 2 photos, so a kill right after the third part still lands mid-run on a loaded machine
    _write_folder(tmp_path / "imgs", astronaut, 60)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cli = lambda out: _cli(tmp_path / "imgs", out, "mobilenet", 1.0)  # noqa: E731
    # the uninterrupted reference: the same job (the CLI's settings) run in this process, saving a
    # third Python-and-TensorFlow start; the kill and the resume go through the CLI in processes of their own
    extract(tmp_path / "imgs", tmp_path / "ref.h5", ExtractionConfig(
        branches=["mobilenet"], weights={"mobilenet": None}, input_scale=1.0, chunk_size=2, batch_size=2),
        progress=False)

    out = tmp_path / "killed.h5"
    parts = tmp_path / "killed.h5.parts"
    proc = subprocess.Popen(cli(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (parts / "part-000002.h5").exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.name for p in parts.glob("part-*.h5"))
    assert 3 <= len(done_before) < 30 and not out.exists(), "the kill must land mid-run"

    result = subprocess.run(cli(out), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    assert not parts.exists() and not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "killed.h5.lock").exists()
    with FeatureStore.open(tmp_path / "ref.h5") as ref, FeatureStore.open(out) as got:
        assert list(ref.ids) == list(got.ids)
        np.testing.assert_array_equal(ref.status, got.status)
        np.testing.assert_array_equal(ref.read("mobilenet"), got.read("mobilenet"))


def test_cli_prints_summary_and_lists_skipped_files(tmp_path, astronaut):
    from typer.testing import CliRunner

    from aesthetic.cli import app

    _write_folder(tmp_path / "imgs", astronaut, 2)
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"")
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\nimgs/img_000.jpg,1\nimgs/img_001.jpg,0\nimgs/broken.jpg,1\n")
    result = CliRunner().invoke(app, ["extract", str(csv), "--out", str(tmp_path / "f.h5"), "--branches", "mobilenet",
                                      "--weights", "none", "--input-scale", "0.25", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "3 images: 2 ok, 1 failed" in result.output and "broken.jpg: empty file" in result.output
    with FeatureStore.open(tmp_path / "f.h5") as st:
        np.testing.assert_array_equal(st.labels, [1, 0, 1])

    bad = CliRunner().invoke(app, ["extract", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.h5")])
    assert bad.exit_code == 2 and "no such folder" in bad.output


def test_upscale_setting_reaches_the_multigap_policy_and_the_store(tmp_path, astronaut):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "small.png"), astronaut[:60, :80, ::-1])  # smaller than max side 996 * 0.1
    network = None  # the same seeded random-weight InceptionResNetV2 either way: built and compiled once
    for upscale, expected in ((True, "max_side(100, upscale=True)"), (False, "max_side(100, upscale=False)")):
        config = ExtractionConfig(branches=["multigap"], weights={"multigap": None}, input_scale=0.1, upscale=upscale)
        fx = config.build_extractor()
        if network is not None:
            fx._models, fx._layers, fx._fns = network
        assert fx.policies["multigap"].describe() == expected
        shape = fx.resize(astronaut[:60, :80])["multigap"].shape[:2]
        assert shape == ((75, 100) if upscale else (75, 80))  # 60x80 kept, then padded to the 75-px minimum
        out = tmp_path / f"f_{upscale}.h5"
        extract(folder, out, config, progress=False, extractor=fx)
        network = fx._models, fx._layers, fx._fns
        with FeatureStore.open(out) as st:
            assert st.branch_attrs("multigap")["input_policy"] == expected
            assert st.metadata["extractor"]["upscale"] is upscale


def test_the_extractor_config_is_a_model_and_old_store_metadata_still_rebuilds_it(tmp_path):
    import json

    from aesthetic.feature_extraction import ExtractorConfig
    from aesthetic.feature_store import BranchData, write_store

    fx = FeatureExtractor(["mobilenet"], weights=None, input_scale=0.25, upscale=False)
    config = fx.config()
    assert isinstance(config, ExtractorConfig)
    assert json.loads(json.dumps(config.model_dump())) == config.model_dump()  # stores record plain JSON
    # A store written before the model existed: a plain dict, without the later keys, with one we dropped.
    old = {"branches": ["mobilenet"], "weights": {"mobilenet": None}, "input_scale": 0.25, "batch_size": 8,
           "seed": 0, "retired_setting": 1}
    path = write_store(tmp_path / "old.h5", ids=["a"], paths=["a.jpg"], labels=None, status=[1], errors=[""],
                       branches={"mobilenet": BranchData(np.zeros((1, 5952), np.float32), {})},
                       metadata={"extractor": old}, dtype="float32")
    with FeatureStore.open(path) as store:
        rebuilt = FeatureExtractor.from_config(store.metadata["extractor"])
    assert rebuilt.config() == config.model_copy(update={"upscale": True})  # upscale: the default of its day
    assert FeatureExtractor.from_config(config, workers=1).config() == config
    with pytest.raises(ValueError, match="input_scale"):
        FeatureExtractor.from_config({**old, "input_scale": 9})


# -- resume trusts contents, not names (issue 14, item 1) ---------------------------------------------
MOBILE = dict(branches=["mobilenet"], input_scale=0.25, chunk_size=2, batch_size=2)


@pytest.fixture(scope="module")
def two_weights_contents(tmp_path_factory) -> tuple[bytes, bytes]:
    """Two plain MobileNet weights files of different random initialisations (same name, other bytes)."""
    import keras

    folder = tmp_path_factory.mktemp("weights")
    contents = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        net = keras.applications.MobileNet(input_shape=(None, None, 3), include_top=False, weights=None)
        path = folder / f"seed{seed}.weights.h5"
        net.save_weights(path)
        contents.append(path.read_bytes())
    assert contents[0] != contents[1]
    return contents[0], contents[1]


class _Crash(RuntimeError):
    pass


def _crash_after(fx, n_chunks: int):
    """Make ``fx`` die after ``n_chunks`` chunks, as a killed run would: parts so far stay on disk."""
    real, calls = fx.extract_loaded, []

    def extract_loaded(*args, **kwargs):
        if len(calls) == n_chunks:
            raise _Crash("killed")
        calls.append(1)
        return real(*args, **kwargs)

    fx.extract_loaded = extract_loaded
    return fx


def _labelled_csv(tmp_path: Path, astronaut, n: int, flip: bool = False) -> Path:
    if not (tmp_path / "imgs").exists():
        _write_folder(tmp_path / "imgs", astronaut, n)
    csv = tmp_path / "list.csv"
    lines = [f"imgs/img_{i:03d}.jpg,{(i % 2) ^ int(flip)}" for i in range(n)]
    csv.write_text("path,label\n" + "\n".join(lines) + "\n")
    return csv


def test_resume_is_refused_when_the_weights_file_changed_content_at_the_same_path(
        tmp_path, astronaut, two_weights_contents):
    from aesthetic.feature_extraction import FeatureExtractor

    a, b = two_weights_contents
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(a)
    _write_folder(tmp_path / "imgs", astronaut, 6)
    config = ExtractionConfig(**MOBILE, weights={"mobilenet": str(weights)})
    out = tmp_path / "f.h5"
    with pytest.raises(_Crash):
        extract(tmp_path / "imgs", out, config, progress=False, extractor=_crash_after(config.build_extractor(), 2))
    parts = sorted((tmp_path / "f.h5.parts").glob("part-*.h5"))
    assert len(parts) == 2

    weights.write_bytes(b)  # same path and name, another model
    with pytest.raises(ExtractionJobError, match=r"weights of branch 'mobilenet' differ in content.*--overwrite"):
        extract(tmp_path / "imgs", out, config, progress=False)
    assert sorted((tmp_path / "f.h5.parts").glob("part-*.h5")) == parts and not out.exists()

    summary = extract(tmp_path / "imgs", out, config, progress=False, overwrite=True)
    assert summary.ok == 6 and summary.resumed_parts == 0
    fresh = FeatureExtractor(["mobilenet"], {"mobilenet": str(weights)}, input_scale=0.25, batch_size=2)
    with FeatureStore.open(out) as st:
        assert st.branch_attrs("mobilenet")["weights_sha256"] == fresh.weights["mobilenet"].sha256
        np.testing.assert_allclose(st.read("mobilenet"), fresh.extract_paths(list(st.paths)).features["mobilenet"],
                                   rtol=1e-2, atol=1e-2)  # the store is float16


def test_a_rerun_with_flipped_labels_updates_the_store_without_extracting_again(tmp_path, astronaut):
    config = ExtractionConfig(**MOBILE, weights={"mobilenet": None})
    out = tmp_path / "f.h5"
    extract(_labelled_csv(tmp_path, astronaut, 5), out, config, progress=False)
    with FeatureStore.open(out) as st:
        before = st.read("mobilenet")
        np.testing.assert_array_equal(st.labels, [0, 1, 0, 1, 0])

    fx = config.build_extractor()
    fx.extract_loaded = lambda *a, **k: pytest.fail("a label change must not re-extract features")
    again = extract(_labelled_csv(tmp_path, astronaut, 5, flip=True), out, config, progress=False, extractor=fx)
    assert again.labels_updated == 5 and "labels of 5 image(s) updated" in again.line()
    with FeatureStore.open(out) as st:
        np.testing.assert_array_equal(st.labels, [1, 0, 1, 0, 1])
        np.testing.assert_array_equal(st.read("mobilenet"), before)


def test_a_resume_after_the_labels_changed_ends_with_the_new_labels(tmp_path, astronaut):
    config = ExtractionConfig(**MOBILE, weights={"mobilenet": None})
    out = tmp_path / "f.h5"
    with pytest.raises(_Crash):
        extract(_labelled_csv(tmp_path, astronaut, 6), out, config, progress=False,
                extractor=_crash_after(config.build_extractor(), 2))
    summary = extract(_labelled_csv(tmp_path, astronaut, 6, flip=True), out, config, progress=False)
    assert summary.resumed_parts == 2 and summary.labels_updated == 4  # the 4 rows of the 2 earlier parts
    with FeatureStore.open(out) as st:
        np.testing.assert_array_equal(st.labels, [1, 0, 1, 0, 1, 0])


def test_orphan_parts_and_parts_of_another_job_are_never_adopted(tmp_path, astronaut, caplog):
    _write_folder(tmp_path / "imgs", astronaut, 8)
    mine = ExtractionConfig(**MOBILE, weights={"mobilenet": None}, seed=0)
    other = ExtractionConfig(**MOBILE, weights={"mobilenet": None}, seed=1)
    extract(tmp_path / "imgs", tmp_path / "ref.h5", mine, progress=False)
    with pytest.raises(_Crash):  # another job's partial run, left behind
        extract(tmp_path / "imgs", tmp_path / "other.h5", other, progress=False,
                extractor=_crash_after(other.build_extractor(), 3))

    # 1. a parts folder without job.json (e.g. of another job whose job.json is lost): discarded
    orphan = tmp_path / "f.h5.parts"
    shutil.copytree(tmp_path / "other.h5.parts", orphan)
    (orphan / "job.json").unlink()
    (orphan / ".part-000004.h5.abc123.tmp").write_bytes(b"half a part of a killed write")
    with caplog.at_level("WARNING"):
        summary = extract(tmp_path / "imgs", tmp_path / "f.h5", mine, progress=False)
    assert summary.resumed_parts == 0 and "discarded, not adopted" in caplog.text
    # 2. a part of another job slipped into this job's folder: extracted again
    with pytest.raises(_Crash):
        extract(tmp_path / "imgs", tmp_path / "g.h5", mine, progress=False,
                extractor=_crash_after(mine.build_extractor(), 2))
    shutil.copy(tmp_path / "other.h5.parts" / "part-000002.h5", tmp_path / "g.h5.parts" / "part-000002.h5")
    summary_g = extract(tmp_path / "imgs", tmp_path / "g.h5", mine, progress=False)
    assert summary_g.resumed_parts == 2

    with FeatureStore.open(tmp_path / "ref.h5") as ref:
        for name in ("f.h5", "g.h5"):
            with FeatureStore.open(tmp_path / name) as got:
                np.testing.assert_array_equal(ref.read("mobilenet"), got.read("mobilenet"))
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "f.h5.parts").exists()


def test_a_second_writer_of_the_same_out_is_refused_while_the_first_finishes(tmp_path, astronaut):
    from typer.testing import CliRunner

    from aesthetic.cli import app

    _write_folder(tmp_path / "imgs", astronaut, 24)
    out = tmp_path / "f.h5"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen(_cli(tmp_path / "imgs", out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (tmp_path / "f.h5.parts" / "job.json").exists():
        time.sleep(0.01)
    second = CliRunner().invoke(app, _cli(tmp_path / "imgs", out)[3:])
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert second.exit_code == 2, second.output
    assert "another extraction is writing it right now" in second.output and "Traceback" not in second.output
    with FeatureStore.open(out) as st:
        assert len(st) == 24 and st.ok.all()
    assert not (tmp_path / "f.h5.parts").exists() and not (tmp_path / "f.h5.lock").exists()


def test_labels_of_a_sharded_store_are_refreshed_shard_by_shard(tmp_path):
    """The Ray engine's store (JSON manifest + shard files) takes new labels the same way."""
    from aesthetic.data import Manifest
    from aesthetic.feature_extraction.job import refresh_labels
    from aesthetic.feature_store import STATUS_OK, BranchData, write_shard_manifest, write_store

    ids = [f"img{i}.jpg" for i in range(5)]
    feats = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    shards = []
    for k, rows in enumerate((range(0, 3), range(3, 5))):
        shards.append(write_store(tmp_path / f"shard-{k}.h5", ids=[ids[i] for i in rows], paths=[ids[i] for i in rows],
                                  labels=[0.0] * len(rows), status=[STATUS_OK] * len(rows), errors=[""] * len(rows),
                                  branches={"b": BranchData(feats[list(rows)], {})}, dtype="float32"))
    manifest_path = write_shard_manifest(tmp_path / "f.json", shards)
    new = np.array([1, 0, np.nan, 1, 1], np.float32)
    assert refresh_labels(manifest_path, Manifest(ids, ids, new)) == 4  # the NaN row and row 1 were 0 / unchanged
    assert refresh_labels(manifest_path, Manifest(ids, ids, new)) == 0
    with FeatureStore.open(manifest_path) as st:
        np.testing.assert_array_equal(st.labels, new)
        np.testing.assert_array_equal(st.read("b"), feats)
    with pytest.raises(ExtractionJobError, match="ids differ"):
        refresh_labels(manifest_path, Manifest(ids[::-1], ids, new))
