"""`aesthetic explain` end to end with a stand-in model loader (the real bundles are tested by their owner)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from aesthetic.explain import cli as explain_cli
from aesthetic.bundles.scoring import ModelChoiceError, resolve_model


class BrightCornerModel:
    """Stand-in for aesthetic.bundles.model's loaded model: P(aesthetic) from the top-left quarter's brightness."""

    def __init__(self, kind: str):
        self.kind = kind
        self.calls = 0

    def predict_images(self, images: list[np.ndarray]) -> np.ndarray:
        assert isinstance(images, list) and all(im.dtype == np.uint8 and im.ndim == 3 for im in images)
        self.calls += 1
        corner = [im[: im.shape[0] // 2, : im.shape[1] // 2].mean() / 255 for im in images]
        return 1 / (1 + np.exp(-8 * (np.array(corner) - 0.5)))


def make_bundle(root: Path, kind: str, with_student: bool = False) -> Path:
    root.mkdir(parents=True)
    (root / "kind.txt").write_text(kind)
    if with_student:
        make_bundle(root / "student", "student")
    return root


def fake_loader(path: Path) -> BrightCornerModel:
    kind_file = Path(path) / "kind.txt"
    if not kind_file.is_file():
        raise ValueError(f"{path}: not a bundle")
    return BrightCornerModel(kind_file.read_text())


@pytest.fixture()
def app(monkeypatch) -> typer.Typer:
    monkeypatch.setattr(explain_cli, "_load_model", fake_loader)
    application = typer.Typer()
    explain_cli.register(application)

    @application.command("noop")  # a second command keeps typer from folding `explain` into the root
    def _noop() -> None:
        pass

    return application


@pytest.fixture()
def photos(tmp_path, astronaut) -> list[Path]:
    """Two photo files: a 160x120 crop and a 96x96 copy of the astronaut, one of them bright top-left."""
    folder = tmp_path / "photos"
    folder.mkdir()
    wide = cv2.resize(astronaut, (160, 120), interpolation=cv2.INTER_AREA)
    square = cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA)
    square[:48, :48] = 240
    paths = [folder / "wide.png", folder / "square.jpg"]
    cv2.imwrite(str(paths[0]), wide[..., ::-1])
    cv2.imwrite(str(paths[1]), square[..., ::-1])
    return paths


def run(app, *args: str):
    return CliRunner().invoke(app, ["explain", *map(str, args)])


def test_writes_one_png_per_photo_and_method_and_weights_json(app, photos, tmp_path):
    bundle = make_bundle(tmp_path / "full", "full")
    out = tmp_path / "out"
    result = run(app, bundle, *photos, "--out", out, "--method", "both", "--samples", "60",
                 "--n-segments", "12", "--max-side", "64", "--no-progress")
    assert result.exit_code == 0, result.output
    for photo in photos:
        original = cv2.imread(str(photo))
        for method in ("lime", "shap"):
            drawn = cv2.imread(str(out / f"{photo.stem}.{method}.png"))
            assert drawn.shape == original.shape  # drawn on the photo, though explained at max side 64
            saved = json.loads((out / f"{photo.stem}.{method}.json").read_text())
            assert saved["through"] == "full" and saved["image"] == str(photo)
            assert saved["photo_size_wh"] == [original.shape[1], original.shape[0]]
            assert max(saved["explained_size_wh"]) == 64
            weights = [entry["weight"] for entry in saved["superpixels"]]
            assert len(weights) == saved["n_superpixels"] >= 2
            if method == "shap":
                assert saved["base_value"] + sum(weights) == pytest.approx(saved["prediction"], abs=1e-6)
        assert cv2.imread(str(out / f"{photo.stem}.shap_bars.png")) is not None
    assert "samples/s" in result.output and "2 photo(s) explained" in result.output
    square = json.loads((out / "square.lime.json").read_text())
    assert square["label"] == "aesthetic"  # bright top-left: the stand-in model says yes


def test_student_path_uses_the_student_inside_a_full_bundle(app, photos, tmp_path):
    bundle = make_bundle(tmp_path / "full", "full", with_student=True)
    out = tmp_path / "out"
    result = run(app, bundle, photos[1], "--out", out, "--method", "lime", "--through", "student",
                 "--samples", "30", "--max-side", "48", "--no-progress")
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "square.lime.json").read_text())
    assert saved["through"] == "student" and saved["model"] == str(bundle / "student")
    assert not (out / "square.shap.png").exists()


def test_student_path_without_a_student_fails_clearly(app, photos, tmp_path):
    bundle = make_bundle(tmp_path / "full", "full")
    result = run(app, bundle, photos[0], "--out", tmp_path / "out", "--through", "student")
    assert result.exit_code == 2
    assert "no distilled student" in result.output and "Traceback" not in result.output


def test_unreadable_photo_is_skipped_and_reported(app, photos, tmp_path):
    broken = photos[0].parent / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    bundle = make_bundle(tmp_path / "full", "full")
    out = tmp_path / "out"
    result = run(app, bundle, broken, photos[1], "--out", out, "--method", "shap", "--samples", "30",
                 "--max-side", "48", "--no-progress")
    assert result.exit_code == 1
    assert "broken.jpg" in result.output and "1 photo(s) could not be explained" in result.output
    assert (out / "square.shap.png").exists() and not (out / "broken.shap.png").exists()


def test_photo_too_small_to_segment_is_skipped_not_a_traceback(app, photos, tmp_path):
    dot = photos[0].parent / "dot.png"
    cv2.imwrite(str(dot), np.full((1, 1, 3), 128, np.uint8))
    bundle = make_bundle(tmp_path / "full", "full")
    result = run(app, bundle, dot, photos[1], "--out", tmp_path / "out", "--method", "lime", "--samples", "20",
                 "--max-side", "48", "--no-progress")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "dot.png" in result.output and "too small to segment" in result.output
    assert (tmp_path / "out" / "square.lime.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--method", "gradcam"], "--method gradcam"),
    (["--baseline", "noise"], "baseline must be one of"),
    (["--segmentation", "watershed"], "method"),
])
def test_bad_options_fail_with_one_clear_line(app, photos, tmp_path, args, message):
    bundle = make_bundle(tmp_path / "full", "full")
    result = run(app, bundle, photos[0], "--out", tmp_path / "out", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_resolve_model_kinds(tmp_path):
    full = make_bundle(tmp_path / "full", "full")
    student = make_bundle(tmp_path / "student_only", "student")
    model, where = resolve_model(full, "full", fake_loader)
    assert model.kind == "full" and where == full
    model, where = resolve_model(student, "student", fake_loader)
    assert model.kind == "student" and where == student
    with pytest.raises(ModelChoiceError, match="--through full needs the full"):
        resolve_model(student, "full", fake_loader)
    with pytest.raises(ModelChoiceError, match="not a model bundle folder"):
        resolve_model(tmp_path / "missing", "full", fake_loader)


def test_same_stem_photos_do_not_overwrite_each_other():
    from aesthetic.explain.pipeline import output_stems

    assert output_stems([Path("a/x.jpg"), Path("b/x.png"), Path("y.jpg"), Path("c/x.jpg")]) == ["x", "x_2", "y",
                                                                                                  "x_3"]


# --------------------------------------------------------------------------- real bundles (aesthetic.bundles.model)

@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory, tiny_store) -> Path:
    """A tiny full bundle (random-weight MobileNet branch at 56 px -> FC) with a tiny student inside."""
    from aesthetic.classifier.fc import FCConfig
    from aesthetic.classifier.student import StudentConfig, build_student
    from aesthetic.bundles.build import save_student_bundle, train_from_store

    root = tmp_path_factory.mktemp("explain_bundle") / "model"
    # two fold members (the fewest for out-of-fold scores; the default is five): a real ensemble bundle
    train_from_store(tiny_store, root, fc_config=FCConfig(hidden=(16, 8, 4), epochs=2, patience=1, threshold_folds=2,
                                                          validation_fraction=0.25), sensitivity=None)
    save_student_bundle(root / "student", build_student(32, None, head=(8,), seed=1), 0.5,
                        StudentConfig(image_size=32, head=(8,)), {})
    return root


@pytest.mark.parametrize("through", ["full", "student"])
def test_explains_through_a_real_bundle(through, real_bundle, photos, tmp_path):
    from aesthetic.explain.pipeline import working_copy
    from aesthetic.imageio import read_image
    from aesthetic.bundles.model import load_model

    application = typer.Typer()
    explain_cli.register(application)  # the real loader this time
    application.command("noop")(lambda: None)
    out = tmp_path / "out"
    result = CliRunner().invoke(application, ["explain", str(real_bundle), str(photos[0]), "--out", str(out),
                                              "--through", through, "--method", "shap", "--samples", "40",
                                              "--n-segments", "10", "--max-side", "64", "--no-progress"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "wide.shap.json").read_text())
    model = load_model(real_bundle / "student" if through == "student" else real_bundle)
    assert model.kind == through
    expected = float(model.predict_images([working_copy(read_image(photos[0]), 64)])[0])
    assert saved["prediction"] == pytest.approx(expected, abs=1e-5)
    assert saved["threshold"] == pytest.approx(model.threshold)
    assert saved["label"] == ("aesthetic" if expected >= model.threshold else "not aesthetic")
    assert saved["base_value"] + sum(e["weight"] for e in saved["superpixels"]) == pytest.approx(expected, abs=1e-5)
    assert cv2.imread(str(out / "wide.shap.png")).shape == cv2.imread(str(photos[0])).shape


def test_config_file_sets_explain_config_and_options_override_it(app, photos, tmp_path):
    """`--config` takes ExplainConfig's keys (segmentation as a table); an option given beats the file;
    what ran is what the JSON records. An unknown key is refused naming the file and the key."""
    bundle = make_bundle(tmp_path / "full", "full")
    config = tmp_path / "explain.toml"
    config.write_text('methods = ["lime"]\nnum_samples = 40\nmax_side = 48\nseed = 3\n'
                      '[segmentation]\nmethod = "grid"\ngrid_rows = 2\ngrid_cols = 3\n')
    out = tmp_path / "out"
    result = run(app, bundle, photos[1], "--out", out, "--config", config, "--samples", "24", "--no-progress")
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "square.lime.json").read_text())
    assert not (out / "square.shap.json").exists()  # methods from the file
    assert saved["config"]["num_samples"] == 24 and saved["n_samples"] == 24  # the option wins
    assert saved["config"]["max_side"] == 48 and saved["config"]["seed"] == 3
    assert saved["config"]["segmentation"]["method"] == "grid" and saved["n_superpixels"] == 6
    assert saved["config"]["segmentation"]["seed"] == 3  # one seed for sampling and superpixels

    config.write_text("samples = 10\n")
    result = run(app, bundle, photos[1], "--out", out, "--config", config)
    assert result.exit_code == 2 and "unknown key 'samples'" in result.output and str(config) in result.output
