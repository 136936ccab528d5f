"""The README's main command: the demo pipeline runs offline and leaves every artifact it promises.

With ../shared/data beside the checkout it runs on the shared photo sets; without it (a fresh
clone, ``AESTHETIC_SHARED=/nonexistent``) on the embedded demo set. The same tests check both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aesthetic.shared import demo_set_dir, shared_set

pytestmark = pytest.mark.e2e  # minutes: CI runs it as a step of its own (scripts/test.sh -m e2e)

REPO = Path(__file__).resolve().parents[1]
#: What the demo trains on and benchmarks: (training photos, PCA components, held-out set name).
EXPECTED = ((80, 64, "Curated_vs_Snapshot") if shared_set("curated_vs_snapshot") and shared_set("snapshots")
            else (18, 18, "Demo_set"))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "aesthetic", "demo", "--quick", "--two-branch", "off",
                             "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result.stdout


def test_demo_prints_each_command_and_where_the_results_are(demo_run):
    out, stdout = demo_run
    for command in ("aesthetic splits", "aesthetic extract", "aesthetic select pca", "aesthetic select ga",
                    "aesthetic train", "aesthetic distill", "aesthetic benchmark", "aesthetic explain",
                    "aesthetic cull"):
        assert f"$ {command}" in stdout, command
    assert "demo complete" in stdout
    if EXPECTED[2] == "Demo_set":
        assert f"using the embedded demo set {demo_set_dir()}" in stdout
    assert f"report:       {out / 'report' / 'report.md'}" in stdout
    assert f"report page:  {out / 'report' / 'report.html'}" in stdout
    assert f"best frames:  {out / 'picks.html'}" in stdout


def test_demo_features_are_real_mobilenet_features(demo_run):
    from aesthetic.feature_store import FeatureStore

    out, _ = demo_run
    with FeatureStore.open(out / "features.h5") as store:
        assert store.branches == ["mobilenet"] and len(store) == EXPECTED[0] and store.ok.all()
        assert store.branch_attrs("mobilenet")["weights"].endswith("nima_mobilenet_aesthetic.hdf5")
        assert store.metadata["extractor"]["weights"] == {"mobilenet": "nima"}  # the name, portable
        assert set(np.unique(store.labels)) == {0.0, 1.0}


def test_demo_selection_model_and_students_load_and_agree(demo_run, real_photos):
    from aesthetic.classifier.distillation import agreement
    from aesthetic.genetic_selection import load_selector
    from aesthetic.imageio import read_image
    from aesthetic.bundles.model import load_model

    out, _ = demo_run
    pca = load_selector(out / "selection_pca.h5")
    assert pca.transform(np.zeros((2, 5952), np.float32)).shape == (2, EXPECTED[1])
    ga = load_selector(out / "selection_ga")
    assert ga.get_support(indices=True).size == 300
    history = json.loads((out / "selection_ga" / "history.json").read_text())
    assert len(history["generations"]) >= 2
    model = load_model(out / "model")
    student = load_model(out / "model" / "student")
    fc_student = load_model(out / "student_fc")
    images = [read_image(p) for p in real_photos]
    p_teacher = model.predict_images(images)
    assert p_teacher.shape == (len(images),) and np.all((p_teacher >= 0) & (p_teacher <= 1))
    for m in (student, fc_student):
        p = m.predict_images(images)
        assert p.shape == (len(images),) and np.all((p >= 0) & (p <= 1))
        # a distilled student calls most photos the way its teacher does (3 of each class here)
        assert agreement(p, m.threshold, p_teacher, model.threshold) >= 0.5, (m.path, p, p_teacher)


def test_demo_report_and_explanations_exist_and_parse(demo_run):
    out, _ = demo_run
    report = json.loads((out / "report" / "report.json").read_text())
    assert report and EXPECTED[2] in json.dumps(report)
    text = (out / "report" / "report.md").read_text()
    assert "| model |" in text and "NIMA" in text and "aspect ratio" in text
    pngs = list((out / "report").rglob("*.png"))
    assert len(pngs) >= 8
    assert (out / "selection_ga" / "fitness.png").stat().st_size > 0
    explained = sorted(p.name for p in (out / "explanations").iterdir())
    stem = explained[0].split(".")[0]
    for suffix in ("lime.png", "lime.json", "shap.png", "shap.json", "shap_bars.png"):
        assert f"{stem}.{suffix}" in explained
    shap = json.loads((out / "explanations" / f"{stem}.shap.json").read_text())
    assert list(Image.open(out / "explanations" / f"{stem}.shap.png").size) == shap["photo_size_wh"]
    weights = [sp["weight"] for sp in shap["superpixels"]]
    assert abs(shap["base_value"] + sum(weights) - shap["prediction"]) < 1e-3


def test_demo_culls_its_bursts_to_one_pick_each(demo_run):
    import csv

    out, _ = demo_run
    rows = list(csv.DictReader(open(out / "picks.csv")))
    assert len(rows) == 16 and not any(r["error"] for r in rows)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    assert len(groups) == 4  # four frames of each of four photos, and nothing else, grouped together
    for members in groups.values():
        assert len(members) == 4 and len({Path(r["path"]).name.split("_")[0] for r in members}) == 1
    for members in groups.values():
        top = max(members, key=lambda r: float(r["p_aesthetic"]))
        assert [r["path"] for r in members if r["best"] == "1"] == [top["path"]]
    page = (out / "picks.html").read_text()
    assert page.count('<section class="group"') == 4 and page.count('class="frame pick"') == 4
    assert (out / "report" / "report.html").stat().st_size > 0
