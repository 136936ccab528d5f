"""Sensitivity training: copies are labelled and grouped right, frames are deterministic, the cache is
reused, and `train` uses it by default (and says so)."""

import json

import numpy as np
import pytest

from aesthetic import degradations as D
from aesthetic.classifier.fc import source_ids
from aesthetic.classifier.sensitivity import (SYNTHETIC_PREFIX, SensitivityConfig, build_sensitivity_store, degrade,
                                              head_targets, plan_copies, portrait_crop, row_kinds)
from conftest import TINY_EXTRACTOR

SMALL = SensitivityConfig(copies=3, copies_not=2, synthetic_frames=4)
VIEWS = ("square", "portrait", "hflip")


def test_degraded_copies_are_not_aesthetic_and_grouped_with_their_source():
    specs = plan_copies(["a.jpg", "b.jpg"], SMALL, labels=[1, 0])
    degraded = [s for s in specs if s.kind not in VIEWS + ("synthetic",)]
    # two_heads: copies of photos of both classes (3 per aesthetic photo, 2 per other), all labelled 0
    assert [s.source for s in degraded] == ["a.jpg"] * 3 + ["b.jpg"] * 2 and all(s.label == 0.0 for s in degraded)
    assert [source_ids([s.id])[0] for s in degraded] == [s.source for s in degraded]
    views = [s for s in specs if s.kind in VIEWS]
    # crops and mirrors keep their source's label
    assert [(s.source, s.kind, s.label) for s in views] == [("a.jpg", v, 1.0) for v in VIEWS] + \
        [("b.jpg", v, 0.0) for v in VIEWS]
    assert all(source_ids([s.id])[0] == s.source for s in views)
    frames = [s for s in specs if s.kind == "synthetic"]
    assert len(frames) == 4 and all(s.label == 0.0 and s.source is None for s in frames)
    assert len(set(source_ids([s.id for s in frames]))) == 4  # each frame its own group
    assert list(row_kinds([s.id for s in specs])) == [s.kind for s in specs]
    for s in degraded:  # strengths inside the configured range
        low, high = SMALL.strength_range(s.kind)
        assert low <= s.strength <= high


def test_the_one_head_design_copies_only_the_aesthetic_photos():
    one = SMALL.model_copy(update={"design": "one_head"})
    specs = plan_copies(["a.jpg", "b.jpg"], one, labels=[1, 0])
    assert {s.source for s in specs} == {"a.jpg", None}
    assert sum(s.kind not in VIEWS + ("synthetic",) for s in specs) == 3


def test_head_targets_send_clean_rows_to_the_aesthetic_head_and_all_rows_to_the_quality_head():
    specs = plan_copies(["a.jpg", "b.jpg"], SMALL, labels=[1, 0])
    ids = ["a.jpg", "b.jpg"] + [s.id for s in specs]
    clean = head_targets(ids)  # one mask: the aesthetic head's rows and the quality head's target 1
    expected = [True, True] + [s.kind in VIEWS for s in specs]
    assert isinstance(clean, np.ndarray) and clean.dtype == bool and clean.shape == (len(ids),)
    np.testing.assert_array_equal(clean, expected)
    # the quality head's degraded rows come from photos of both classes, plus the frames
    assert {s.source for s, c in zip(specs, clean[2:]) if not c} == {"a.jpg", "b.jpg", None}


def test_a_sources_copies_do_not_depend_on_the_other_sources():
    alone = [s for s in plan_copies(["b.jpg"], SMALL) if s.source == "b.jpg"]
    among = [s for s in plan_copies(["a.jpg", "b.jpg", "c.jpg"], SMALL) if s.source == "b.jpg"]
    assert alone == among
    other_seed = [s for s in plan_copies(["b.jpg"], SMALL.model_copy(update={"seed": 1})) if s.source == "b.jpg"]
    assert other_seed != alone


def test_synthetic_frames_are_deterministic_from_the_seed_and_near_empty():
    a, b = D.synthetic_frames(6, seed=3, size=(120, 160)), D.synthetic_frames(6, seed=3, size=(120, 160))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = D.synthetic_frames(6, seed=4, size=(120, 160))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    flat = a[0]
    assert (flat == flat[0, 0]).all()  # frame 0 is one flat colour
    for frame in a:  # no edges: neighbouring pixels differ by a few grey levels at most
        step = np.abs(np.diff(frame.astype(int), axis=1)).max()
        assert step <= 8, step


def test_degradations_and_geometry_do_what_they_say():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    assert degrade(image, "blur", 3.0).std() < image.std() / 2
    assert degrade(image, "down_up", 8.0).shape == image.shape
    np.testing.assert_array_equal(degrade(image, "underexpose", 2.0), D.exposure(image, -2.0))
    np.testing.assert_array_equal(degrade(image, "overexpose", 2.0), D.exposure(image, 2.0))
    assert degrade(image, "underexpose", 2.0).mean() < 0.6 * image.mean()
    assert degrade(image, "tilt", 15.0, seed=1).shape == image.shape
    assert degrade(image, "bad_crop", 0.4, seed=3).shape == image.shape
    h, w = portrait_crop(image).shape[:2]
    assert (h, w) == (60, 45)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(image, "sepia", 1.0)


def test_the_sensitivity_store_is_labelled_and_reused(tmp_path, tiny_images):
    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.feature_store import FeatureStore

    paths, labels = tiny_images
    ids = [p.split("/")[-1] for p, y in zip(paths, labels) if y == 1][:2]
    srcs = [p for p, y in zip(paths, labels) if y == 1][:2]
    extractor = FeatureExtractor(**TINY_EXTRACTOR)
    out = build_sensitivity_store(tmp_path / "s.h5", ids, srcs, extractor, SMALL, progress=False)
    with FeatureStore.open(out) as store:
        assert len(store) == 2 * (3 + 3) + 4
        kinds = row_kinds(store.ids)
        np.testing.assert_array_equal(store.labels, [1.0 if k in VIEWS else 0.0 for k in kinds])
        assert set(source_ids(store.ids)) == set(ids) | {f"{SYNTHETIC_PREFIX}{k:04d}" for k in range(4)}
        first = store.read("mobilenet")
        # a row equals the features of the copy rendered again by hand
        spec = plan_copies(ids, SMALL)[0]
        from aesthetic.imageio import read_image
        again = extractor.extract_arrays([spec.render(read_image(srcs[0], extractor.max_pixels))])["mobilenet"][0]
        np.testing.assert_allclose(first[list(store.ids).index(spec.id)], again, rtol=1e-4, atol=1e-5)
    mtime = out.stat().st_mtime_ns

    class NoExtraction:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            if name == "extract_arrays":
                raise AssertionError("the cache should have been reused")
            return getattr(self.inner, name)

    build_sensitivity_store(tmp_path / "s.h5", ids, srcs, NoExtraction(extractor), SMALL, progress=False)
    assert out.stat().st_mtime_ns == mtime
    # a different config is a different key: rebuilt
    build_sensitivity_store(tmp_path / "s.h5", ids, srcs, extractor, SMALL.model_copy(update={"copies": 1}),
                            progress=False)
    with FeatureStore.open(out) as store:
        assert len(store) == 2 * (1 + 3) + 4


def test_train_uses_sensitivity_by_default_and_says_when_it_cannot(tmp_path, tiny_store):
    from typer.testing import CliRunner

    from aesthetic.cli import app

    runner = CliRunner()
    common = ["--hidden", "8", "--epochs", "3", "--patience", "2", "--threshold-folds", "2",
              "--sensitivity-copies", "2", "--synthetic-frames", "3"]
    res = runner.invoke(app, ["train", str(tiny_store), "--out", str(tmp_path / "m"), *common])
    assert res.exit_code == 0, res.output
    assert "sensitivity training on" in res.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    rec = config["sensitivity"]
    assert rec["status"] == "on" and rec["rows"]["synthetic"] == 3 and rec["rows"]["square"] == rec["readable"]
    assert rec["design"] == "two_heads" and rec["rows"]["hflip"] == rec["readable"] == 16
    assert config["quality_head"]["file"] == "quality.keras" and (tmp_path / "m" / "quality.keras").is_file()
    assert config["calibration"]["method"] == "platt" and config["calibration"]["slope"] > 0
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["threshold_from"].startswith("out-of-fold") and "ece_calibrated" in metrics
    assert metrics["n"] == 16  # threshold and metrics on the store's own photos, not the copies

    res = runner.invoke(app, ["train", str(tiny_store), "--out", str(tmp_path / "off"), *common,
                              "--no-sensitivity"])
    assert res.exit_code == 0 and "sensitivity training off" in res.output

    from aesthetic.feature_store import BranchData, FeatureStore, write_store

    with FeatureStore.open(tiny_store) as store:  # the same rows, but their photos are gone
        moved = write_store(tmp_path / "moved.h5", ids=list(store.ids),
                            paths=[str(tmp_path / "gone" / f"{k}.jpg") for k in range(len(store))],
                            labels=store.labels, status=store.status, errors=list(store.errors),
                            branches={b: BranchData(store.read(b), store.branch_attrs(b)) for b in store.branches},
                            metadata=dict(store.metadata))
    res = runner.invoke(app, ["train", str(moved), "--out", str(tmp_path / "m_gone"), *common])
    assert res.exit_code == 0, res.output
    assert "not readable" in res.output
