"""Branch feature versions: every store, sensitivity cache, job part and bundle records which definition of
each branch computed its features, and features of another definition are refused with a sentence naming the
file, never scored or trained beside this package's."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from aesthetic.feature_extraction import (ExtractionConfig, ExtractionJobError, FeatureExtractor,
                                          FeatureVersionError, extract, get_branch)
from aesthetic.feature_extraction.branches.pixel_stats import FEATURE_NAMES, PixelStatsBranch


def test_the_extractor_records_each_branch_version_and_rebuilds_from_it():
    fx = FeatureExtractor(["mobilenet", "pixel_stats"], weights="none", input_scale=0.25)
    record = fx.config().model_dump()
    assert record["versions"] == {"mobilenet": 1, "pixel_stats": 2} == {
        b: get_branch(b).version for b in ("mobilenet", "pixel_stats")}
    assert get_branch("pixel_stats").width == len(FEATURE_NAMES) == 28  # version 2: 26 + two highlight statistics
    assert FeatureExtractor.from_config(record).config().versions == record["versions"]


def test_a_record_of_another_version_is_refused_naming_the_file_and_the_branch():
    fx = FeatureExtractor(["mobilenet", "pixel_stats"], weights="none", input_scale=0.25)
    old = {k: v for k, v in fx.config().model_dump().items() if k != "versions"}  # written before versions
    with pytest.raises(FeatureVersionError, match=r"runs/old\.h5: branch 'pixel_stats' features were computed by "
                                                  r"version 1 .* computes version 2; extract them again"):
        FeatureExtractor.from_config(old, where="runs/old.h5")
    only_cnn = {**old, "branches": ["mobilenet"], "weights": {"mobilenet": None}}
    assert FeatureExtractor.from_config(only_cnn).branch_names == ["mobilenet"]  # unchanged branches: version 1


def _rewrite_versions(path, versions: dict) -> None:
    with h5py.File(path, "r+") as f:
        metadata = json.loads(f.attrs["metadata"])
        metadata["extractor"]["versions"] = versions
        f.attrs["metadata"] = json.dumps(metadata)


def test_training_on_a_store_of_another_version_is_refused_before_any_work(tmp_path, tiny_store):
    from aesthetic.bundles.build import train_from_store

    store = tmp_path / "old.h5"
    shutil.copy(tiny_store, store)
    _rewrite_versions(store, {"mobilenet": 7})
    with pytest.raises(FeatureVersionError, match=rf"{store}: branch 'mobilenet' .* version 7 "):
        train_from_store(store, tmp_path / "model")
    assert not (tmp_path / "model").exists()

    from typer.testing import CliRunner

    from aesthetic.cli import app
    from aesthetic.cli_utils import EXIT_USAGE

    result = CliRunner().invoke(app, ["train", str(store), "--out", str(tmp_path / "cli_model")])
    assert result.exit_code == EXIT_USAGE and "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "old.h5: branch 'mobilenet'" in lines[0] and "extract them again" in lines[0]


def test_a_job_resumed_after_a_branch_changed_is_not_mixed_with_the_old_store(tmp_path, tiny_images, monkeypatch):
    paths, _ = tiny_images
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in paths[:4]:
        shutil.copy(p, folder)
    config = ExtractionConfig(branches=["pixel_stats"], weights={"pixel_stats": None}, chunk_size=2)
    first = extract(folder, tmp_path / "f.h5", config, progress=False)
    assert first.ok == 4
    monkeypatch.setattr(PixelStatsBranch, "version", 3)
    with pytest.raises(ExtractionJobError, match=r"made by another job \(.*versions\.pixel_stats"):
        extract(folder, tmp_path / "f.h5", config, progress=False)
    again = extract(folder, tmp_path / "f.h5", config, overwrite=True, progress=False)
    assert again.ok == 4
    from aesthetic.feature_store import FeatureStore
    with FeatureStore.open(tmp_path / "f.h5") as store:
        assert store.metadata["extractor"]["versions"] == {"pixel_stats": 3}
        assert np.isfinite(store.features(["pixel_stats"])).all()


def test_the_sensitivity_cache_of_another_version_is_not_reused():
    from aesthetic.classifier.sensitivity import SensitivityConfig, cache_key

    fx = FeatureExtractor(["mobilenet", "pixel_stats"], weights="none", input_scale=0.25).config().model_dump()
    sources = [("a", "/photos/a.jpg", 1.0)]
    older = {**fx, "versions": {**fx["versions"], "pixel_stats": 1}}
    assert cache_key(SensitivityConfig(), fx, sources) != cache_key(SensitivityConfig(), older, sources)
    assert cache_key(SensitivityConfig(), fx, sources) == cache_key(SensitivityConfig(), dict(fx), sources)
