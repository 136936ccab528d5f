"""`aesthetic train / distill / predict / augment-features` and the one-call Python API, end to end on tiny data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aesthetic.cli import app
from aesthetic.bundles.model import load_model

runner = CliRunner()




def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_store) -> Path:
    out = tmp_path_factory.mktemp("cli") / "model"
    result = invoke("train", tiny_store, "--out", out, "--hidden", "16,8,4", "--epochs", "4", "--patience", "2",
                    "--validation-fraction", "0.25", "--no-sensitivity", "--threshold-folds", "0")
    assert result.exit_code == 0, result.output
    assert "wrote model bundle" in result.output and "balanced_accuracy" in result.output
    return out


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, tiny_images) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    good_jpeg = Path(next(p for p in tiny_images[0] if p.endswith(".jpg"))).read_bytes()
    files = {"truncated": folder / "cut.jpg", "text": folder / "notes.jpg", "empty": folder / "empty.png",
             "missing": folder / "nowhere.jpg"}
    files["truncated"].write_bytes(good_jpeg[: len(good_jpeg) // 2])
    files["text"].write_text("this is not an image")
    files["empty"].write_bytes(b"")
    return files


def test_train_writes_a_bundle_with_all_features_by_default(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    assert config["selector_kind"] == "all" and config["n_features_selected"] == 5952
    assert config["fc"]["hidden"] == [16, 8, 4]


def test_predict_reports_and_skips_corrupt_inputs(model_dir, tiny_images, bad_files, tmp_path):
    good = tiny_images[0][:3]
    out = tmp_path / "predictions.csv"
    result = invoke("predict", model_dir, *good, *[str(p) for p in bad_files.values()], "--out", out)
    assert result.exit_code == 0, result.output
    assert "scored 3 of 7 images" in result.output and "4 image(s) skipped" in result.output
    rows = list(csv.DictReader(open(out)))
    assert [r["path"] for r in rows] == good + [str(p) for p in bad_files.values()]
    for row in rows[:3]:
        assert 0.0 <= float(row["p_aesthetic"]) <= 1.0 and row["label"] in ("0", "1") and row["error"] == ""
    reasons = {Path(r["path"]).name: r["error"] for r in rows[3:]}
    assert "truncated" in reasons["cut.jpg"]
    assert "not a supported image" in reasons["notes.jpg"]
    assert "empty" in reasons["empty.png"]
    assert "not found" in reasons["nowhere.jpg"]
    assert all(r["p_aesthetic"] == "" and r["label"] == "" for r in rows[3:])
    # the scores of good images do not depend on the bad ones beside them
    api = load_model(model_dir).predict(good, progress=False)
    np.testing.assert_allclose([float(r["p_aesthetic"]) for r in rows[:3]], api.p_aesthetic, atol=1e-6)


def test_predict_prints_a_path_holding_rich_markup_literally(model_dir, tiny_images, tmp_path):
    odd = tmp_path / "a[" / "b]photo.jpg"  # the path contains "[/b]", which rich would read as a closing tag
    odd.parent.mkdir()
    odd.write_bytes(Path(next(p for p in tiny_images[0] if p.endswith(".jpg"))).read_bytes())
    result = invoke("predict", model_dir, odd, tmp_path / "c[/i]missing.jpg")
    assert result.exit_code == 0, result.output
    assert "scored 1 of 2 images" in result.stdout
    assert "b]photo.jpg" in result.stdout and "c[/i]missing.jpg" in result.stderr  # the skipped one, on stderr


def test_predict_labels_follow_the_stored_threshold(model_dir, tiny_images):
    model = load_model(model_dir)
    result = model.predict(tiny_images[0], progress=False)
    np.testing.assert_array_equal(result.labels, (result.p_aesthetic >= model.threshold).astype(np.int8))


def test_predict_with_only_bad_inputs_exits_non_zero_but_lists_them(model_dir, bad_files):
    result = invoke("predict", model_dir, bad_files["text"])
    assert result.exit_code == 1
    assert "scored 0 of 1" in result.output and "notes.jpg" in result.output


def test_predict_takes_a_folder(model_dir, tiny_images):
    folder = Path(tiny_images[0][0]).parent
    result = invoke("predict", model_dir, folder)
    assert result.exit_code == 0, result.output
    assert f"scored {len(tiny_images[0])} of {len(tiny_images[0])} images" in result.output


def test_predict_bad_model_is_one_clear_error(tmp_path, tiny_images):
    result = invoke("predict", tmp_path / "no_model", tiny_images[0][0])
    assert result.exit_code == 2
    assert "error:" in result.output and "not found" in result.output
    assert "Traceback" not in result.output


def test_predict_student_flag_without_a_student_says_how_to_make_one(model_dir, tiny_images):
    result = invoke("predict", model_dir, tiny_images[0][0], "--student")
    assert result.exit_code == 2 and "distill" in result.output


def test_train_rejects_bad_hidden_widths(tiny_store, tmp_path):
    result = invoke("train", tiny_store, "--out", tmp_path / "m", "--hidden", "16,x")
    assert result.exit_code != 0 and "--hidden" in result.output


def test_distill_fc_student_via_cli(model_dir, tmp_path, tiny_images):
    out = tmp_path / "student_fc"
    result = invoke("distill", model_dir, "--out", out, "--hidden", "8,4,2", "--epochs", "4")
    assert result.exit_code == 0, result.output
    student = load_model(out)
    assert student.kind == "full"
    config = json.loads((out / "config.json").read_text())
    assert config["fc"]["hidden"] == [8, 4, 2] and config["distillation"]["temperature"] == 4.0
    assert config["distilled_from"] == [str(model_dir.resolve())]
    p = student.predict(tiny_images[0][:2], progress=False).p_aesthetic
    assert np.all((p >= 0) & (p <= 1))


def test_augment_features_adds_linked_rows(tiny_store, tmp_path):
    from aesthetic.classifier.fc import source_ids
    from aesthetic.feature_store import FeatureStore

    out = tmp_path / "augmented.h5"
    result = invoke("augment-features", tiny_store, "--out", out, "--copies", "2")
    assert result.exit_code == 0, result.output
    with FeatureStore.open(tiny_store) as base, FeatureStore.open(out) as aug:
        n = len(base)
        assert len(aug) == 3 * n
        assert list(aug.ids[:n]) == list(base.ids)
        assert list(aug.ids[n:n + 2]) == [f"{base.ids[0]}#aug1", f"{base.ids[0]}#aug2"]
        np.testing.assert_array_equal(aug.read("mobilenet", slice(0, n)), base.read("mobilenet"))
        np.testing.assert_array_equal(aug.labels[n:], np.repeat(base.labels, 2))
        assert list(source_ids(aug.ids[n:])) == list(np.repeat(base.ids, 2))
        # an augmented copy is a different picture: its features differ from its source's
        assert not np.allclose(aug.read("mobilenet", [n]), base.read("mobilenet", [0]))
        assert aug.metadata["augment"]["copies"] == 2


def test_train_with_a_label_file_records_the_rule(tiny_store, tmp_path):
    from aesthetic.feature_store import FeatureStore

    with FeatureStore.open(tiny_store) as store:
        ids, labels = list(store.ids), store.labels
    scores = tmp_path / "scores.csv"
    # bright images score 6.5, dark 3.5, and two ambiguous 5.2s the margin drops
    lines = ["path,mean_score"] + [f"{i},{6.5 if y == 1 else 3.5}" for i, y in zip(ids[2:], labels[2:])]
    lines += [f"{ids[0]},5.2", f"{ids[1]},5.2"]
    scores.write_text("\n".join(lines) + "\n")
    out = tmp_path / "model"
    result = invoke("train", tiny_store, "--out", out, "--labels", scores, "--label-source", "mean",
                    "--margin", "0.5", "--hidden", "8,4,2", "--epochs", "2", "--validation-fraction", "0.25",
                    "--no-sensitivity", "--threshold-folds", "0")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["label_rule"]["source"] == "mean" and config["label_rule"]["margin"] == 0.5
    assert config["training"]["rows_used"] == len(ids) - 2


def test_end_to_end_distill_puts_the_student_in_the_bundle_and_predict_uses_it(model_dir, tiny_images, tmp_path):
    import shutil

    model_dir = Path(shutil.copytree(model_dir, tmp_path / "model"))  # the shared bundle stays student-free
    result = invoke("distill", model_dir, "--end-to-end", "--image-size", "32", "--epochs", "1", "--hidden", "8",
                    "--backbone-weights", "none")
    assert result.exit_code == 0, result.output
    student = load_model(model_dir / "student")
    assert student.kind == "student" and student.image_size == 32
    config = json.loads((model_dir / "student" / "config.json").read_text())
    assert config["teacher"] == str(model_dir.resolve()) and config["student"]["head"] == [8]
    assert load_model(model_dir).student().path == model_dir / "student"
    out = invoke("predict", model_dir, *tiny_images[0][:3], "--student")
    assert out.exit_code == 0, out.output
    assert "student model" in out.output and "scored 3 of 3" in out.output


def test_predict_precision_reaches_the_extractor_and_bf16_scores_stay_close(model_dir, tiny_images, tmp_path):
    from aesthetic.precision import resolve_precision

    assert load_model(model_dir).extractor.precision == resolve_precision("auto")  # as tiny_store recorded it
    recorded = load_model(model_dir, precision="fp32")
    bf16 = load_model(model_dir, precision="bf16")
    assert bf16.extractor.model("mobilenet").dtype_policy.name == "mixed_bfloat16"
    p32 = recorded.predict(tiny_images[0][:6], progress=False).p_aesthetic
    p16 = bf16.predict(tiny_images[0][:6], progress=False).p_aesthetic
    assert not np.array_equal(p32, p16) and np.abs(p32 - p16).max() < 0.02
    result = invoke("predict", model_dir, tiny_images[0][0], "--precision", "bf16", "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    bad = invoke("predict", model_dir, tiny_images[0][0], "--precision", "fp16")
    assert bad.exit_code == 2 and "--precision fp16: expected fp32, bf16 or auto" in bad.output
