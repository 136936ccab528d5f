"""Extraction and GA fitness on a local Ray cluster (num_cpus=2) started by this module.

The sharded store from Ray equals the single-process store; a model worker killed mid-run
loses nothing; a re-run after a partial run rewrites only the missing shards; the GA through
Ray ends exactly where the local GA ends.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from aesthetic.feature_extraction import ExtractionConfig, extract
from aesthetic.feature_store import FeatureStore

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.e2e  # a Ray cluster started and driven end to end: CI runs it in its e2e step
GIF_REASON = "GIF is not a supported format (convert it to JPEG or PNG)"
CONFIG = dict(branches=["mobilenet"], weights={"mobilenet": None}, input_scale=0.25, chunk_size=4, batch_size=2)


@pytest.fixture(scope="module")
def cluster():
    from aesthetic.raycluster import init_ray

    init_ray("local", num_cpus=2, object_store_memory=200 * 1024**2, logging_level="WARNING",
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}})
    yield ray
    ray.shutdown()


def test_the_local_cluster_listens_on_loopback_only(cluster):
    """Every listening TCP socket of the cluster's processes (GCS, raylet, agents, a worker) is loopback."""
    import ipaddress

    import psutil

    assert ray.get(ray.remote(lambda: os.getpid()).remote()) > 0  # at least one worker is up
    me = psutil.Process()
    listening = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            listening += [(proc.name(), c.laddr.ip) for c in proc.net_connections(kind="inet")
                          if c.status == psutil.CONN_LISTEN]
        except psutil.Error:  # a worker that exited meanwhile
            continue
    names = {name for name, _ in listening}
    assert "gcs_server" in names and "raylet" in names, listening
    exposed = [(name, ip) for name, ip in listening
               if not ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback]
    assert not exposed, exposed


def _write_images(folder: Path, astronaut: np.ndarray, n: int, bad: bool = True) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        h, w = [(120, 160), (160, 120), (100, 100)][i % 3]
        y, x = rng.integers(0, 512 - h), rng.integers(0, 512 - w)
        cv2.imwrite(str(folder / f"img_{i:03d}.jpg"), astronaut[y:y + h, x:x + w, ::-1])
    if bad:
        (folder / "bad_empty.jpg").write_bytes(b"")
        (folder / "bad_text.png").write_text("not a png")
        (folder / "anim.gif").write_bytes(b"GIF89a")  # seen by the scan, not used: listed as skipped
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut) -> Path:
    return _write_images(tmp_path_factory.mktemp("ray") / "imgs", astronaut, 13)


@pytest.fixture(scope="module")
def local_store(images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "local.h5"
    extract(images, out, ExtractionConfig(**CONFIG), progress=False)
    return out


def _assert_same_store(reference: Path, got: Path) -> None:
    with FeatureStore.open(reference) as ref, FeatureStore.open(got) as st:
        assert list(st.ids) == list(ref.ids)
        assert list(st.paths) == list(ref.paths)
        np.testing.assert_array_equal(st.status, ref.status)
        assert list(st.errors) == list(ref.errors)
        np.testing.assert_allclose(st.read("mobilenet"), ref.read("mobilenet"), rtol=2e-3, atol=1e-4)
        assert st.branch_attrs("mobilenet") == ref.branch_attrs("mobilenet")


def test_ray_sharded_store_equals_the_single_process_store(cluster, images, local_store, tmp_path):
    """``aesthetic extract --engine ray`` (the Ray this process started is used) against the local job."""
    from typer.testing import CliRunner

    from aesthetic.cli import app

    result = CliRunner().invoke(app, [
        "extract", str(images), "--out", str(tmp_path / "feats.h5"), "--engine", "ray", "--branches", "mobilenet",
        "--weights", "none", "--input-scale", "0.25", "--chunk-size", "4", "--batch-size", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = tmp_path / "feats.json"
    assert "15 images: 13 ok, 2 failed" in result.output and f"-> {manifest}" in result.output
    assert "1 other files in the input not used" in result.output
    assert "bad_empty.jpg: empty file" in result.output and "bad_text.png" in result.output
    shards = sorted((tmp_path / "feats.shards").glob("shard-*.h5"))
    assert [p.name for p in shards] == [f"shard-{k:06d}.h5" for k in range(4)]  # 15 images / 4 per shard
    with FeatureStore.open(shards[1]) as one, FeatureStore.open(local_store) as ref:
        assert list(one.ids) == list(ref.ids[4:8])  # shard k holds manifest rows [4k, 4k + 4)
    _assert_same_store(local_store, manifest)
    with FeatureStore.open(manifest) as st, FeatureStore.open(local_store) as ref:  # skipped files recorded alike
        assert st.metadata["skipped"] == ref.metadata["skipped"] == [[str(images / "anim.gif"), GIF_REASON]]
        assert st.metadata["skipped_total"] == 1 and st.metadata["engine"] == "ray"


def test_a_failed_run_keeps_its_shards_and_the_rerun_extracts_only_the_missing_ones(
        cluster, images, local_store, tmp_path, monkeypatch):
    from aesthetic.feature_extraction import ExtractionJobError, ray_engine

    # The driver loses the stream once, right after its first shard is on disk (as when the node
    # holding a batch dies and Ray gives up on it).
    collect, failures = ray_engine._ShardCollector.add, []

    def add_then_fail_once(self, batch):
        new = collect(self, batch)
        if not failures and any(self.shard_dir.glob("shard-*.h5")):
            failures.append(batch["row"].tolist())
            raise RuntimeError("lost the node holding this batch")
        return new

    monkeypatch.setattr(ray_engine._ShardCollector, "add", add_then_fail_once)
    config, shard_dir = ExtractionConfig(**CONFIG), tmp_path / "f.shards"
    with pytest.raises(ExtractionJobError, match="re-run to resume"):
        ray_engine.extract_ray(images, tmp_path / "f.json", config, progress=False, max_attempts=1)
    kept = {p.name: p.stat().st_mtime_ns for p in shard_dir.glob("shard-*.h5")}
    assert 1 <= len(kept) < 4 and not (tmp_path / "f.json").exists()

    failures.clear()  # fails once more, then the second attempt re-runs what is missing
    summary = ray_engine.extract_ray(images, tmp_path / "f.json", config, progress=False, max_attempts=2)
    assert failures and summary.resumed_parts == len(kept) and summary.ok == 13
    assert {n: (shard_dir / n).stat().st_mtime_ns for n in kept} == kept  # finished shards untouched
    _assert_same_store(local_store, tmp_path / "f.json")

    again = ray_engine.extract_ray(images, tmp_path / "f.json", config, progress=False)
    assert again.seconds == 0.0 and again.ok == 13  # a finished run is a no-op


def _alive_actors(class_name: str) -> list[dict]:
    # ray._private.state reads the GCS directly; the public state API needs the dashboard.
    from ray._private import state

    return [a for a in state.actors().values() if class_name in a["ActorClassName"] and a["State"] == "ALIVE"]


def test_killing_a_model_worker_mid_run_loses_nothing(cluster, astronaut, tmp_path):
    from aesthetic.feature_extraction.ray_engine import extract_ray

    folder = _write_images(tmp_path / "many", astronaut, 48, bad=False)
    config = ExtractionConfig(**{**CONFIG, "input_scale": 0.5})
    reference = tmp_path / "ref.h5"
    extract(folder, reference, config, progress=False)

    shard_dir = tmp_path / "killed.shards"
    result: dict = {}
    job = threading.Thread(target=lambda: result.setdefault(
        "summary", extract_ray(folder, tmp_path / "killed.json", config, progress=False)), daemon=True)
    job.start()
    victim, deadline = None, time.time() + 240
    while victim is None and time.time() < deadline and job.is_alive():
        alive = _alive_actors("BranchWorker")
        if alive and any(shard_dir.glob("shard-*.h5")):
            victim = alive[0]
        time.sleep(0.005)
    assert victim is not None, "no model actor and first shard seen"
    done_at_kill = len(list(shard_dir.glob("shard-*.h5")))
    os.kill(victim["Pid"], signal.SIGKILL)
    job.join(timeout=300)

    assert not job.is_alive() and "summary" in result
    assert done_at_kill < 12, "the kill must land mid-run"
    summary = result["summary"]
    assert (summary.images, summary.ok, summary.failed) == (48, 48, 0)
    with pytest.raises(ProcessLookupError):
        os.kill(victim["Pid"], 0)  # the worker really died ...
    from ray._private import state
    assert state.actors()[victim["ActorID"]]["NumRestarts"] >= 1  # ... and Ray restarted it and retried its batch
    _assert_same_store(reference, tmp_path / "killed.json")


def test_ga_through_ray_ends_where_the_local_ga_ends(cluster, tmp_path):
    """``aesthetic select ga --engine ray`` against ``GeneticSelector`` run locally, same store and seed."""
    import json

    from typer.testing import CliRunner

    from aesthetic.cli import app
    from aesthetic.genetic_selection import GeneticSelector, load_selector
    from aesthetic.genetic_selection.synthetic import planted_features, write_synthetic_store

    X, y, _ = planted_features(120, 40, 6, shift=0.8, seed=2)
    store = write_synthetic_store(tmp_path / "features.h5", X, labels=y)
    params = dict(k=6, population=8, elite=2, parents=4, window=3, generations=2, seed=5, hidden=(8,),
                  epochs=2, batch_size=32, individuals_per_step=3, progress=False)
    with FeatureStore.open(store) as st:
        local = GeneticSelector(**params).fit_store(st)

    args = ["select", "ga", str(store), "--out", str(tmp_path / "ga"), "--engine", "ray", "--k", "6",
            "--population", "8", "--elite", "2", "--parents", "4", "--window", "3", "--generations", "2",
            "--seed", "5", "--hidden", "8", "--epochs", "2", "--batch-size", "32", "--individuals-per-step", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "ga" / "history.json").read_text())
    assert [h["best"] for h in history["generations"]] == [h["best"] for h in local.history_]
    assert [h["mean"] for h in history["generations"]] == [h["mean"] for h in local.history_]
    np.testing.assert_array_equal(load_selector(tmp_path / "ga").support_, local.support_)
    assert _no_actors_left("_FitnessWorker")  # the run freed its actors when it ended


def _no_actors_left(class_name: str, wait_s: float = 30) -> bool:
    deadline = time.time() + wait_s
    while _alive_actors(class_name) and time.time() < deadline:
        time.sleep(0.1)
    return not _alive_actors(class_name)


@pytest.mark.slow  # ~30 s on 2 busy cores (two fresh actors import TensorFlow); the GA test covers the results
def test_ray_fitness_spreads_the_groups_over_actors_and_frees_them(cluster):
    from aesthetic.genetic_selection.fitness import ArraySource, FCFitness, FitnessFC
    from aesthetic.genetic_selection.ray_fitness import RayFitness
    from aesthetic.genetic_selection.synthetic import planted_features

    X, y, _ = planted_features(80, 20, 4, seed=1)
    local = FCFitness(ArraySource(X, np.arange(60), y[:60]), ArraySource(X, np.arange(60, 80), y[60:]),
                      FitnessFC(hidden=(4,), epochs=1, batch_size=32), seed=3, individuals_per_step=2)
    population = np.stack([np.random.default_rng(i).choice(20, 5, replace=False) for i in range(5)])
    with RayFitness(local) as remote:
        np.testing.assert_array_equal(remote(population, 4), local(population, 4))
        alive = _alive_actors("_FitnessWorker")
        assert len(alive) == 2  # 3 groups on the cluster's 2 CPUs: two actors
    assert _no_actors_left("_FitnessWorker")  # closed: the actors are gone
