"""Model bundles: what is in one, that its prediction is the chain of its parts, round trips, atomic writes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aesthetic.classifier.fc import FCConfig, apply_calibration, logit_model, predict_batched
from aesthetic.feature_store import FeatureStore
from aesthetic.bundles.model import (BundleError, PredictionResult, StudentModel, load_model, AestheticModel,
                             write_bundle)

@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_images, tiny_store):
    """A full bundle trained on tiny random-weight MobileNet features through a GA selection."""
    from aesthetic.genetic_selection.ga import GeneticSelector
    from aesthetic.bundles.build import train_from_store
    from aesthetic.classifier.sensitivity import SensitivityConfig

    root = tmp_path_factory.mktemp("bundle")
    paths, labels = tiny_images
    store_path = tiny_store
    with FeatureStore.open(store_path) as store:
        selector = GeneticSelector(k=48, population=6, elite=1, parents=4, generations=2, fitness="proxy",
                                   progress=False).fit_store(store)
    selector.save(root / "ga")
    model, result = train_from_store(store_path, root / "model", selection=root / "ga",
                                     fc_config=FCConfig(hidden=(16, 8, 4), epochs=4, patience=2,
                                                        validation_fraction=0.25, threshold_folds=3),
                                     sensitivity=SensitivityConfig(copies=2, synthetic_frames=4))  # small: the
    # bundle's record and calibration are what is tested here; tests/test_sensitivity.py tests the rows
    return {"root": root, "paths": paths, "labels": labels, "store": store_path, "model": model,
            "result": result, "bundle": root / "model"}


def test_bundle_holds_everything_to_go_from_image_to_probability(trained):
    bundle = trained["bundle"]
    assert (bundle / "model.keras").is_file() and (bundle / "selector" / "selector.h5").is_file()
    config = json.loads((bundle / "config.json").read_text())
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert config["format"] == "aesthetic-model" and config["kind"] == "full"
    assert config["threshold"] == pytest.approx(trained["result"].threshold)
    assert config["extractor"]["branches"] == ["mobilenet"] and config["extractor"]["input_scale"] == 0.25
    assert config["n_features_in"] == 5952 and config["n_features_selected"] == 48
    assert config["selector_kind"] == "ga"
    assert config["threshold_metric"] == "balanced_accuracy"
    assert "keras" in config["library_versions"] and config["label_rule"]
    assert config["training"]["rows_used"] == len(trained["paths"])
    # metrics are out-of-fold scores of the store's own photos (not the sensitivity copies)
    assert metrics["n"] == config["training"]["rows_used"] and metrics["threshold_from"].startswith("out-of-fold")
    assert config["sensitivity"]["status"] == "on" and config["calibration"]["method"] == "platt"
    assert not [p.name for p in bundle.parent.iterdir() if p.name.startswith(".model.")]  # no temp dirs left


def test_prediction_is_the_chain_of_the_parts(trained):
    """Extractor -> selector -> FC (times the quality head, the default two_heads design), each loaded
    on its own from the bundle's files, gives the same P."""
    import keras

    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.genetic_selection.io import load_selector

    bundle = trained["bundle"]
    config = json.loads((bundle / "config.json").read_text())
    extractor = FeatureExtractor.from_config(config["extractor"])
    selector = load_selector(bundle / "selector")
    fc = keras.saving.load_model(bundle / "model.keras")
    paths = trained["paths"][:6]
    x = selector.transform(extractor.extract_paths(paths).fused(["mobilenet"]))
    logits = predict_batched(logit_model(fc), x)
    by_hand = apply_calibration(logits, config["calibration"])  # Platt on the logit, as stored in config.json
    quality = keras.saving.load_model(bundle / config["quality_head"]["file"])
    by_hand = by_hand * predict_batched(quality, x)  # times P(clean)
    result = trained["model"].predict(paths, progress=False)
    np.testing.assert_allclose(result.p_aesthetic, by_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.labels, (by_hand >= config["threshold"]).astype(np.int8))


def test_save_load_round_trip_gives_identical_probabilities(trained):
    from aesthetic.imageio import read_image

    with FeatureStore.open(trained["store"]) as store:
        x = trained["model"].selector.transform_store(store)
        # the heads as trained, before saving: the FC with the calibration it was given, times P(clean)
        in_memory = apply_calibration(predict_batched(logit_model(trained["result"].model), x),
                                      trained["result"].calibration)
        in_memory = (in_memory.astype(np.float64) * predict_batched(trained["result"].quality_model, x)
                     ).astype(np.float32)
        loaded = load_model(trained["bundle"])
        np.testing.assert_array_equal(loaded.predict_store(store), in_memory)
    images = [read_image(p) for p in trained["paths"][:5]]
    again = load_model(trained["bundle"])
    np.testing.assert_array_equal(loaded.predict_images(images), again.predict_images(images))
    assert isinstance(again, AestheticModel) and again.kind == "full"
    assert again.threshold == loaded.threshold


def test_predict_images_matches_predict_paths(trained):
    from aesthetic.imageio import read_image

    paths = trained["paths"][:4]
    from_paths = trained["model"].predict(paths, progress=False).p_aesthetic
    from_arrays = trained["model"].predict_images([read_image(p) for p in paths])
    np.testing.assert_allclose(from_arrays, from_paths, rtol=1e-6)


def test_the_trained_model_separates_the_two_kinds_of_image(trained):
    # the aesthetic head: this toy set's aesthetic photos are smooth gradients, which is what a blurred
    # copy looks like, so the quality head (4 epochs) cannot tell them from degraded rows here; the
    # product's behaviour is measured on real photos by bench_sensitivity
    with FeatureStore.open(trained["store"]) as store:
        x = trained["model"].selector.transform_store(store)
    p = predict_batched(trained["result"].model, x)
    y = np.array(trained["labels"])
    assert p[y == 1].mean() > p[y == 0].mean()


def test_rewriting_a_bundle_replaces_it_and_a_failed_write_leaves_the_old_one(tmp_path, trained):
    target = tmp_path / "bundle"
    write_bundle(target, lambda d: ((d / "config.json").write_text(json.dumps(
        {"format": "aesthetic-model", "format_version": 1, "kind": "full"})), (d / "model.keras").write_text("v1")))
    assert (target / "model.keras").read_text() == "v1"

    def broken(d: Path) -> None:
        (d / "model.keras").write_text("half written")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_bundle(target, broken)
    assert (target / "model.keras").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # the temp dir is gone too


def test_writing_over_a_folder_that_is_not_a_bundle_is_refused(tmp_path):
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"...")
    with pytest.raises(BundleError, match="not a model bundle"):
        write_bundle(precious, lambda d: None)
    assert (precious / "holiday.jpg").exists()


@pytest.mark.parametrize("setup,message", [
    (lambda p: None, "not found"),
    (lambda p: p.mkdir(), "config.json missing"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text('{"format": "other"}')), "not an aesthetic model"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text('{"format": "aesthetic-model", "format_version": 1,'
                                                           ' "kind": "full"}')), "model.keras missing"),
])
def test_load_model_names_what_is_wrong(tmp_path, setup, message):
    path = tmp_path / "m"
    setup(path)
    with pytest.raises(BundleError, match=message):
        load_model(path)


def test_a_bundle_whose_features_came_from_another_branch_version_is_refused(tmp_path, trained):
    from aesthetic.feature_extraction import FeatureVersionError

    assert trained["model"].config["extractor"]["versions"] == {"mobilenet": 1}
    bundle = tmp_path / "old"
    shutil.copytree(trained["bundle"], bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["extractor"]["versions"] = {"mobilenet": 0}
    (bundle / "config.json").write_text(json.dumps(config))
    with pytest.raises(FeatureVersionError, match=rf"bundle {bundle}: branch 'mobilenet' .* version 0 .* extract"):
        load_model(bundle)
    config["branch_widths"] = {"mobilenet": 26}  # a changed branch often changed width too: the version is the news
    (bundle / "config.json").write_text(json.dumps(config))
    with pytest.raises(FeatureVersionError, match=r"version 0 of its definition"):
        load_model(bundle)
    config["extractor"]["versions"] = {"mobilenet": 1}
    (bundle / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="branch_widths gives 'mobilenet' width 26"):
        load_model(bundle)


def test_student_bundle_round_trip(tmp_path):
    from aesthetic.classifier.student import StudentConfig, build_student
    from aesthetic.bundles.build import save_student_bundle

    config = StudentConfig(image_size=32, head=(8,))
    model = build_student(32, None, head=(8,), seed=1)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40 + 7 * k, 50, 3)).astype(np.uint8) for k in range(4)]
    save_student_bundle(tmp_path / "student", model, 0.42, config, {"agreement": 1.0})
    student = load_model(tmp_path / "student")
    assert isinstance(student, StudentModel) and student.kind == "student"
    assert student.threshold == pytest.approx(0.42) and student.image_size == 32
    from aesthetic.imageio import Resize

    by_hand = predict_batched(model, np.stack([Resize(height=32, width=32).apply(im) for im in images])
                              .astype(np.float32))
    np.testing.assert_array_equal(student.predict_images(images), by_hand)


def test_a_bundle_with_quality_heads_says_why(trained, tmp_path):
    """p_content is the aesthetic head's P, p_clean the quality head's factor, their product P; the CSV
    carries both and each photo called not aesthetic gets the head that decided it."""
    model = trained["model"]
    paths = trained["paths"][:6]
    result = model.predict(paths, progress=False)
    assert result.has_heads and result.columns() == ["path", "p_aesthetic", "p_content", "p_clean", "label", "error"]
    fused = model.extractor.extract_paths(paths).fused(model.branches)
    from aesthetic.imageio import read_image

    np.testing.assert_allclose(model.image_features([read_image(p) for p in paths]), fused, rtol=1e-5, atol=1e-5)
    heads = model.head_outputs(fused)  # independent of the prediction loop: the features, head by head
    np.testing.assert_allclose(result.p_content, heads["aesthetic_head"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.p_clean, heads["clean_cnn"] ** model.quality_weights[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.p_aesthetic, result.p_content * result.p_clean, rtol=1e-5, atol=1e-6)
    expected = ["" if lab else ("content" if c < result.threshold else "quality")
                for lab, c in zip(result.labels, result.p_content)]
    assert result.reasons() == expected
    rows = list(csv.DictReader(result.to_csv(tmp_path / "p.csv").open()))
    assert [float(r["p_clean"]) for r in rows] == pytest.approx(result.p_clean, abs=1e-6)
    skipped = result.with_skipped([("gone.jpg", "no such file")])
    assert np.isnan(skipped.p_content[-1]) and np.isnan(skipped.p_clean[-1]) and skipped.reasons()[-1] == ""

    from typer.testing import CliRunner

    from aesthetic.cli import app

    out = CliRunner().invoke(app, ["predict", str(trained["bundle"]), *paths, "--out", str(tmp_path / "cli.csv")])
    assert out.exit_code == 0, out.output
    assert "p_content" in out.stdout and "p_clean" in out.stdout
    reasons = set(result.reasons()) - {""}
    assert reasons  # the noisy dark photos among the six are called not aesthetic
    for reason in reasons:
        assert f"not ({reason})" in out.stdout
    assert (tmp_path / "cli.csv").read_text().splitlines()[0] == "path,p_aesthetic,p_content,p_clean,label,error"


def test_the_reason_is_the_head_that_put_a_photo_under_the_threshold():
    result = PredictionResult(["a", "b", "c", "d"], np.array([0.9, 0.2, 0.05, np.nan], np.float32),
                              np.array([1, 0, 0, -1], np.int8), ["", "", "", "unreadable"], 0.5,
                              p_content=np.array([0.95, 0.2, 0.99, np.nan]),
                              p_clean=np.array([0.95, 1.0, 0.05, np.nan]))
    assert result.reasons() == ["", "content", "quality", ""]
    plain = PredictionResult(["a"], np.array([0.2], np.float32), np.array([0], np.int8), [""], 0.5)
    assert not plain.has_heads and plain.reasons() == [""] and "p_content" not in plain.columns()


def test_prediction_result_csv(tmp_path):
    result = PredictionResult(["a.jpg", "b.jpg"], np.array([0.75, np.nan], np.float32),
                              np.array([1, -1], np.int8), ["", "truncated JPEG"], 0.5)
    out = result.to_csv(tmp_path / "p.csv")
    assert out.read_text().splitlines() == ["path,p_aesthetic,label,error", "a.jpg,0.750000,1,",
                                            "b.jpg,,,truncated JPEG"]
    assert result.failures() == [("b.jpg", "truncated JPEG")]
