"""The wheel carries the built-in weights and the demo set: build it, install it in a fresh virtualenv,
and from an unrelated folder list the branches and score one photo with a bundle trained on the
built-in weights, with no ../shared to fall back on.

The fresh venv has no pip packages of its own: a ``.pth`` file points it at this environment's
site-packages for the dependencies (TensorFlow & co.; nothing is downloaded), while the package itself
comes only from the wheel (this checkout's editable install is not active there: its finder is
registered by a ``.pth`` in the old site-packages, which a path line does not process).
"""

from __future__ import annotations

import csv
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from aesthetic.feature_extraction.branches.mobilenet import NIMA_WEIGHTS
from aesthetic.feature_extraction.weights import sha256_of

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]
WEIGHTS_IN_WHEEL = "aesthetic/data/weights/" + NIMA_WEIGHTS.filename


def run(args, cwd, env, timeout=600):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, venv bin folder, env without ../shared) with the freshly built wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "AESTHETIC_SHARED": "/nonexistent", "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "250"}
    # The venv's own setuptools (pinned in requirements.txt) builds it: no backend download, works offline.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", root / "dist", REPO],
        root, env)
    wheel = next((root / "dist").glob("aesthetic_fusion-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert WEIGHTS_IN_WHEEL in names and "aesthetic/data/demo_set/suite.toml" in names
        assert zf.getinfo(WEIGHTS_IN_WHEEL).file_size == NIMA_WEIGHTS.size

    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], root, env)
    python = venv / "bin" / "python"
    new_site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env).strip())
    deps = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    (new_site / "project_dependencies.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel], root, env)
    return python, venv / "bin", env, new_site


def test_installed_wheel_holds_the_known_weights_file(installed):
    python, _, env, new_site = installed
    where = run([python, "-c", "import aesthetic, aesthetic.shared as s; print(aesthetic.__file__); "
                 "print(s.nima_weights_path()); print(s.checkout_root())"], "/", env).split()
    assert Path(where[0]).is_relative_to(new_site)  # the wheel's copy, not this checkout
    assert Path(where[1]) == new_site / WEIGHTS_IN_WHEEL and where[2] == "None"
    assert sha256_of(Path(where[1])) == NIMA_WEIGHTS.sha256


def test_branches_and_one_image_predict_from_another_folder(installed, tmp_path):
    python, bin_dir, env, new_site = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    aesthetic = bin_dir / "aesthetic"
    listing = run([aesthetic, "branches"], elsewhere, env)
    assert "mobilenet" in listing and f"built-in weights mobilenet=nima: {new_site / WEIGHTS_IN_WHEEL}" in listing

    # A tiny bundle on the embedded photos (4 per class, 3 epochs), built with the wheel's own CLI.
    demo = new_site / "aesthetic" / "data" / "demo_set"
    rows = list(csv.DictReader(open(demo / "train.csv")))
    chosen = [r for r in rows if r["label"] == "1"][:4] + [r for r in rows if r["label"] == "0"][:4]
    with open(elsewhere / "few.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows([str(demo / r["path"]), r["label"]] for r in chosen)
    log = run([aesthetic, "extract", "few.csv", "--out", "f.h5", "--branches", "mobilenet",
               "--weights", "mobilenet=nima", "--no-progress"], elsewhere, env)
    assert str(new_site / WEIGHTS_IN_WHEEL) in log  # resolved inside the installed wheel
    run([aesthetic, "train", "f.h5", "--out", "model", "--epochs", "3", "--no-sensitivity"], elsewhere, env)

    photo = demo / "images" / "skimage_coffee.jpg"
    run([aesthetic, "predict", "model", photo, "--out", "scores.csv"], elsewhere, env)
    scores = list(csv.DictReader(open(elsewhere / "scores.csv")))
    assert len(scores) == 1 and Path(scores[0]["path"]).name == photo.name and not scores[0]["error"]
    assert 0.0 <= float(scores[0]["p_aesthetic"]) <= 1.0 and scores[0]["label"] in ("0", "1")
