"""The Python code in the docs runs: every ```python block of docs/python_api.md, in order, as one session.

The session's working directory holds what the page assumes: ``photos/labels.csv`` listing a few
real photos of each class (symlinks into ../shared/data/curated_vs_snapshot when present, else into
the embedded demo set; nothing copied), and the NIMA weights (../shared's or the built-in copy).
After the last block the files the page says it writes must exist.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from aesthetic.shared import demo_set_dir, shared_set

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "python_api.md"
PER_CLASS = 6


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def photos_folder(root: Path) -> Path:
    """``root/photos``: PER_CLASS photos of each class (symlinks) and labels.csv."""
    source = shared_set("curated_vs_snapshot") or demo_set_dir()
    rows = list(csv.DictReader(open(source / "labels.csv")))
    chosen = [r for r in rows if r["label"] == "1"][:PER_CLASS] + [r for r in rows if r["label"] == "0"][:PER_CLASS]
    folder = root / "photos"
    folder.mkdir()
    with open(folder / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        for row in chosen:
            name = Path(row["path"]).name
            (folder / name).symlink_to(source / row["path"])
            writer.writerow([name, row["label"]])
    return folder


def test_page_has_runnable_blocks():
    blocks = python_blocks(PAGE.read_text())
    assert len(blocks) >= 10
    for k, block in enumerate(blocks, 1):
        compile(block, f"{PAGE.name} block {k}", "exec")  # a syntax error fails here, with its block number


@pytest.mark.e2e  # the whole pipeline through the Python API: minutes; CI runs it in its e2e step
def test_python_api_page_runs(tmp_path, monkeypatch, nima_file):
    photos_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "python_api_md"}
    for k, block in enumerate(python_blocks(PAGE.read_text()), 1):
        try:
            exec(compile(block, f"{PAGE.name} block {k}", "exec"), namespace)
        except Exception as exc:  # name the block, not just the line inside it
            pytest.fail(f"{PAGE.name} block {k} raised {type(exc).__name__}: {exc}\n---\n{block}")

    for written in ("features.h5", "ga_run/selector.h5", "ga_run/fitness.png", "model/model.keras",
                    "model/student/model.keras", "student_fc/model.keras", "predictions.csv",
                    "explained.png", "explained.json", "report/report.md"):
        assert (tmp_path / written).is_file(), f"the page says it writes {written}"
    # what the page prints as facts holds for these photos
    assert namespace["summary"].ok == 2 * PER_CLASS
    assert abs(namespace["shap_values"].base_value + namespace["shap_values"].weights.sum()
               - namespace["shap_values"].prediction) < 1e-6
    prediction = namespace["prediction"]
    assert prediction.ok.tolist() == [True, True, True, False] and prediction.labels[-1] == -1
