"""The notebooks run top to bottom on a fresh kernel and show what they claim.

Each notebook is executed with nbclient in a kernel started from *this* interpreter
(``sys.executable -m ipykernel_launcher``), not from whatever "python3" kernelspec the machine
has, with ``notebooks/`` as its working directory. Any cell error fails the test. The last cell
of every notebook prints one JSON line of figures and asserts on them itself; the tests parse
that line and check it again, together with the plots the notebook must show.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # minutes: CI runs it as a step of its own (scripts/test.sh -m e2e)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT_S = 600


def kernel_manager(folder: Path):
    """A KernelManager whose kernel is ``sys.executable`` (the venv's python), via a private kernelspec."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = folder / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "aesthetic tests", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def run_notebook(name: str, tmp_path: Path, monkeypatch):
    """Execute ``notebooks/<name>`` (cwd notebooks/, artifacts under tmp_path); return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("AESTHETIC_NOTEBOOK_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, km=kernel_manager(tmp_path), timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return nb


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def result_line(nb) -> dict:
    """The JSON line the last code cell prints."""
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    lines = [line for line in stream_text(last).splitlines() if line.startswith("{")]
    assert lines, f"the last cell printed no JSON result line: {stream_text(last)!r}"
    return json.loads(lines[-1])


def work_folder_of(tmp_path: Path, name: str) -> Path:
    """The one folder a notebook run made under AESTHETIC_NOTEBOOK_WORK (``<name>-XXXX``)."""
    folders = list((tmp_path / "work").glob(f"{name}-*"))
    assert len(folders) == 1, folders
    return folders[0]


def png_outputs(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_committed_notebooks_carry_no_outputs():
    import nbformat

    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["01_walkthrough.ipynb", "02_genetic_selection.ipynb", "03_explanations.ipynb"]
    for name in names:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name}: clear outputs before committing"
        assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2, f"{name}: a story needs prose"


def test_kernel_runs_this_interpreter(tmp_path):
    """The kernel the notebooks run in is the test's own python (the .venv), not a system one."""
    km = kernel_manager(tmp_path)
    km.start_kernel()
    try:
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        client.execute("import sys; print(sys.executable)")
        printed = ""
        while True:
            msg = client.get_iopub_msg(timeout=60)
            if msg["msg_type"] == "stream":
                printed += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle" and printed:
                break
        client.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    assert Path(printed.strip()).resolve() == Path(sys.executable).resolve()


def test_find_shared_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("AESTHETIC_SHARED", raising=False)
    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    from shared_data import find_shared

    with pytest.raises(FileNotFoundError, match="AESTHETIC_SHARED") as info:
        find_shared(tmp_path / "a" / "notebooks")
    assert str(tmp_path / "shared" / "data" / "curated_vs_snapshot" / "labels.csv") in str(info.value)
    if (REPO.parent / "shared" / "data" / "curated_vs_snapshot" / "labels.csv").is_file():
        assert find_shared(NOTEBOOKS).resolve() == (REPO.parent / "shared").resolve()  # shared/ may be a link


def test_walkthrough(tmp_path, monkeypatch, shared_data, nima_file):
    nb = run_notebook("01_walkthrough.ipynb", tmp_path, monkeypatch)
    result = result_line(nb)
    assert (result["train_photos"], result["heldout_photos"]) == (60, 40)
    # balanced held-out set: chance is 0.5 for accuracy and AUC
    assert result["heldout_accuracy"] > 0.6 and result["heldout_auc"] > 0.6
    assert 0.0 <= result["nima_auc"] <= 1.0 and 0.0 <= result["aspect_ratio_auc"] <= 1.0
    assert result["nima_head_max_error"] < 0.05
    assert png_outputs(nb) >= 3  # the photos, the PCA scatter, the scored held-out photos
    assert (work_folder_of(tmp_path, "walkthrough") / "model" / "model.keras").is_file()


def test_genetic_selection(tmp_path, monkeypatch, shared_data, nima_file):
    nb = run_notebook("02_genetic_selection.ipynb", tmp_path, monkeypatch)
    result = result_line(nb)
    best = result["best_fitness_by_generation"]
    assert result["generations"] == len(best) - 1 == 25
    assert all(b >= a for a, b in zip(best, best[1:]))  # elitism
    assert best[-1] == result["best_fitness"] and 0.5 < result["best_fitness"] <= 1.0
    assert sum(result["best_individual_per_block"]) == result["k"] == 64
    assert len(result["best_individual_per_block"]) == 13  # MobileNet's 13 pooled blocks
    assert result["resumed_history_kept"]
    # balanced 96-photo test half: the GA's subset must beat chance on photos it never saw
    assert result["ga_heldout_accuracy"] > 0.6 and result["ga_heldout_auc"] > 0.6
    assert png_outputs(nb) >= 2  # the fitness plot and the per-block bar chart
    run = work_folder_of(tmp_path, "genetic_selection") / "ga"
    history = json.loads((run / "history.json").read_text())
    assert [round(g["best"], 4) for g in history["generations"]] == best
    assert (run / "fitness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explanations(tmp_path, monkeypatch, shared_data, nima_file):
    nb = run_notebook("03_explanations.ipynb", tmp_path, monkeypatch)
    result = result_line(nb)
    assert result["photos_explained"] == 3 and result["samples_per_method"] == 150
    assert result["shap_additivity_max_error"] < 1e-3
    assert result["shap_base_max_error"] < 1e-3 and result["prediction_max_error"] < 1e-3
    assert all(-1.0 <= rho <= 1.0 for rho in result["lime_shap_spearman"].values())
    assert result["heldout_accuracy"] > 0.6
    assert png_outputs(nb) >= 2  # the superpixels and the LIME/SHAP overlays


def test_each_run_gets_a_fresh_work_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AESTHETIC_NOTEBOOK_WORK", str(tmp_path / "work"))
    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    from shared_data import work_folder

    first, second = work_folder("walkthrough"), work_folder("walkthrough")
    assert first != second and first.parent == second.parent == tmp_path / "work"
    assert first.is_dir() and not any(first.iterdir())
