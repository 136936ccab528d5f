"""The Ray engine's parts that need no cluster: layout, resource plan, the worker functions run in
this process, refusals, and that Ray stays out of the default import path."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from aesthetic.feature_extraction import ExtractionConfig, ExtractionJobError, FeatureExtractor
from aesthetic.feature_extraction import ray_engine
from aesthetic.imageio import read_image

GiB = 2**30


def test_out_names_the_manifest_and_the_shard_folder(tmp_path):
    assert ray_engine.sharded_paths(tmp_path / "f.h5") == (tmp_path / "f.json", tmp_path / "f.shards")
    assert ray_engine.sharded_paths(tmp_path / "f.json") == (tmp_path / "f.json", tmp_path / "f.shards")
    with pytest.raises(ExtractionJobError, match=r"--out .*f\.npz.*\.json"):
        ray_engine.sharded_paths(tmp_path / "f.npz")


def test_shards_are_the_fixed_chunks_of_the_manifest():
    assert ray_engine.shard_rows(10, 4) == [range(0, 4), range(4, 8), range(8, 10)]
    assert ray_engine.shard_rows(8, 4) == [range(0, 4), range(4, 8)]


def test_resource_plan_fills_the_gpus_and_always_leaves_a_cpu_to_decode():
    cpu_only = ray_engine.plan_resources({"CPU": 2, "memory": 8 * GiB}, 1, 0.0, None)
    assert (cpu_only.actors_per_branch, cpu_only.cpus_per_actor, cpu_only.gpus_per_actor) == (1, 1.0, 0.0)
    two_branches = ray_engine.plan_resources({"CPU": 2, "memory": 8 * GiB}, 2, 0.0, None)
    assert two_branches.actors_per_branch == 1 and two_branches.cpus_per_actor == 0.5
    gpus = ray_engine.plan_resources({"CPU": 32, "GPU": 4, "memory": 64 * GiB}, 2, 1.0, None)
    assert (gpus.actors_per_branch, gpus.cpus_per_actor, gpus.gpus_per_actor) == (2, 1.0, 1.0)
    shared = ray_engine.plan_resources({"CPU": 32, "GPU": 1, "memory": 64 * GiB}, 2, 0.5, None)
    assert shared.actors_per_branch == 1 and shared.gpus_per_actor == 0.5


@pytest.mark.parametrize("cluster, gpus, message", [
    ({"CPU": 8, "GPU": 1, "memory": 64 * GiB}, 1.0, "has 1 GPUs, 2 branch"),
    ({"CPU": 1, "memory": 64 * GiB}, 0.0, "has 1 CPUs"),
    ({"CPU": 8, "memory": 1 * GiB}, 0.0, "GiB of memory"),
    ({"CPU": 8, "memory": 64 * GiB}, -1.0, "--gpus-per-worker -1"),
])
def test_resource_plan_refuses_a_cluster_that_cannot_run_the_job(cluster, gpus, message):
    with pytest.raises(ExtractionJobError, match=message):
        ray_engine.plan_resources(cluster, 2, gpus, None)


@pytest.fixture(scope="module")
def spec_json() -> str:
    fx = FeatureExtractor(["mobilenet"], {"mobilenet": None}, input_scale=0.25, batch_size=2)
    return json.dumps(fx.config().model_dump(), sort_keys=True)


def test_decode_stage_gives_each_branch_its_input_as_bytes_and_reports_bad_files(tmp_path, astronaut, spec_json):
    good = tmp_path / "a.jpg"
    cv2.imwrite(str(good), astronaut[:200, :300, ::-1])
    (tmp_path / "b.jpg").write_bytes(b"")
    out = ray_engine.decode_batch({"row": np.array([7, 8]), "path": np.array([str(good), str(tmp_path / "b.jpg")],
                                                                          dtype=object)}, spec_json)
    assert out["row"].tolist() == [7, 8] and out["ok"].tolist() == [True, False]
    assert out["error"][0] == "" and "empty" in out["error"][1]
    fx = FeatureExtractor(["mobilenet"], {"mobilenet": None}, input_scale=0.25)
    expected = fx.policies["mobilenet"].apply(read_image(good))  # resize(56x56) of the decoded photo
    got = np.frombuffer(out["in_mobilenet"][0], np.uint8).reshape(out["shape_mobilenet"][0])
    np.testing.assert_array_equal(got, expected)
    assert out["in_mobilenet"][1] == b"" and out["shape_mobilenet"][1].tolist() == [0, 0, 3]


def test_decode_stage_obeys_the_jobs_read_limits(tmp_path, astronaut, spec_json):
    """The byte limits of the job reach the Ray decode task: a file over --max-file-bytes is skipped there
    with the same reason the local engine gives, and the default limits let it through."""
    from aesthetic.imageio import ReadPolicy, default_read_policy

    photo = tmp_path / "a.jpg"
    cv2.imwrite(str(photo), astronaut[:, :, ::-1])
    batch = {"row": np.array([0]), "path": np.array([str(photo)], dtype=object)}
    size = photo.stat().st_size
    tight = ReadPolicy(max_file_bytes=size - 1).model_dump_json()
    refused = ray_engine.decode_batch(batch, spec_json, tight)
    assert refused["ok"].tolist() == [False] and str(size - 1) in refused["error"][0], refused["error"][0]
    assert ray_engine.decode_batch(batch, spec_json, None)["ok"].tolist() == [True]
    assert default_read_policy() == ReadPolicy()  # applied to that call only, never left behind in the worker


def test_model_worker_marks_a_bucket_the_network_rejects_as_failed_and_keeps_the_rest(spec_json):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (56, 56, 3), dtype=np.uint8) for _ in range(3)]
    rejected = rng.integers(0, 255, (56, 56, 4), dtype=np.uint8)  # 4 channels: the network refuses it
    inputs = images[:2] + [rejected] + images[2:] + [np.zeros((0, 0, 3), np.uint8)]
    batch = {"row": np.arange(5), "ok": np.array([True, True, True, True, False]),
             "error": np.array(["", "", "", "", "empty file"], dtype=object),
             "in_mobilenet": np.array([im.tobytes() for im in inputs], dtype=object),
             "shape_mobilenet": np.array([im.shape for im in inputs], dtype=np.int32)}
    out = ray_engine.BranchWorker(spec_json, "mobilenet")(batch)
    assert out["ok"].tolist() == [True, True, False, True, False]
    assert out["error"][2].startswith("mobilenet network failed") and out["error"][4] == "empty file"
    assert "in_mobilenet" not in out and out["f_mobilenet"].shape == (5, 5952)
    fx = FeatureExtractor(["mobilenet"], {"mobilenet": None}, input_scale=0.25)
    expected = fx.extract_arrays(images)["mobilenet"]
    np.testing.assert_allclose(out["f_mobilenet"][[0, 1, 3]], expected, rtol=1e-4, atol=1e-5)
    assert not out["f_mobilenet"][[2, 4]].any()


def test_a_run_of_other_settings_is_refused_before_ray_starts(tmp_path):
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.jpg"), np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "f.json").write_text(json.dumps({"format": "aesthetic-feature-shards", "shards": [],
                                                 "job": {"other": True}}))
    config = ExtractionConfig(branches=["mobilenet"], weights={"mobilenet": None})
    with pytest.raises(ExtractionJobError, match="--overwrite"):
        ray_engine.extract_ray(tmp_path / "imgs", tmp_path / "f.json", config)
    (tmp_path / "f.json").unlink()
    (tmp_path / "f.shards").mkdir()
    (tmp_path / "f.shards" / "job.json").write_text(json.dumps({"other": True}))
    with pytest.raises(ExtractionJobError, match="partial run that differs from this one"):
        ray_engine.extract_ray(tmp_path / "imgs", tmp_path / "f.json", config)


def test_default_imports_do_not_load_ray():
    code = ("import sys, aesthetic.cli, aesthetic.feature_extraction, aesthetic.genetic_selection, "
            "aesthetic.feature_extraction.ray_engine, aesthetic.genetic_selection.ray_fitness; "
            "print('ray' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_ray_fitness_cuts_the_population_into_the_local_evaluators_groups():
    from aesthetic.genetic_selection.fitness import ArraySource, FCFitness, FitnessFC
    from aesthetic.genetic_selection.ray_fitness import RayFitness, evaluate_group, ray_evaluator
    from aesthetic.genetic_selection.synthetic import planted_features
    from aesthetic.genetic_selection import SelectionError

    X, y, _ = planted_features(80, 20, 4, seed=1)
    train, val = ArraySource(X, np.arange(60), y[:60]), ArraySource(X, np.arange(60, 80), y[60:])
    fitness = FCFitness(train, val, FitnessFC(hidden=(4,), epochs=1, batch_size=32), seed=3, individuals_per_step=3)
    groups = RayFitness(fitness).groups(7, 5)
    assert [g.tolist() for g in groups] == [[0, 1, 2], [3, 4, 5], [6]]

    population = np.random.default_rng(0).permuted(np.tile(np.arange(20), (7, 1)), axis=1)[:, :5]
    whole = fitness(population, generation=2)
    fresh = FCFitness(train, val, fitness.spec, seed=3, individuals_per_step=3)
    # Each group scored on its own, last group first (as Ray actors may), gives the same scores exactly.
    scores = {i: evaluate_group(fresh, population[g], g, i, 2) for i, g in reversed(list(enumerate(groups)))}
    np.testing.assert_array_equal(np.concatenate([scores[i] for i in range(len(groups))]), whole)

    assert ray_evaluator(fitness, "local") is fitness
    assert isinstance(ray_evaluator(fitness, "ray"), RayFitness)
    with pytest.raises(SelectionError, match="engine must be local or ray"):
        ray_evaluator(fitness, "spark")
