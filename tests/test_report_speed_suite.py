"""benchmarks/speed/run_all.py: runs every bench_* module, survives a failing one, names machine and device."""

import json

import pytest

from aesthetic.benchmarks.speed import run_all

GOOD = '''
def main(argv=None):
    quick = "--quick" in (argv or [])
    return [{"name": "thing per second", "figure": 10.0 if quick else 20.0, "unit": "items/s",
             "baseline": "naive: 5 items/s", "ratio": (10.0 if quick else 20.0) / 5, "notes": "argv=%s" % argv}]
'''
RAISES = '''
def main(argv=None):
    raise RuntimeError("no GPU here")
'''
BAD_ROWS = '''
def main(argv=None):
    return [{"name": "x", "figure": 1.0}]
'''
EXITS = '''
import argparse
def main(argv=None):
    argparse.ArgumentParser().parse_args(["--nonsense"])
'''


@pytest.fixture
def bench_package(tmp_path, monkeypatch):
    pkg = tmp_path / "fakebench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, body in {"bench_good": GOOD, "bench_raises": RAISES, "bench_bad_rows": BAD_ROWS,
                       "bench_exits": EXITS}.items():
        (pkg / f"{name}.py").write_text(body)
    (pkg / "helper.py").write_text("raise ImportError('not a benchmark, never imported')")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(run_all, "device", lambda: "CPU only")  # keep TensorFlow out of this test
    return "fakebench"


def test_runs_every_bench_and_records_failures(bench_package, tmp_path):
    out = tmp_path / "results"
    result = run_all.run_all(quick=True, out=out, package=bench_package)
    by_bench = {r["bench"]: r for r in result["rows"]}
    assert set(by_bench) == {"bench_good", "bench_raises", "bench_bad_rows", "bench_exits"}
    good = by_bench["bench_good"]
    assert good["figure"] == 10.0 and good["ratio"] == 2.0 and good["notes"] == "argv=['--quick']"
    assert by_bench["bench_raises"]["figure"] is None
    assert "RuntimeError: no GPU here" in by_bench["bench_raises"]["notes"]
    assert "without unit, baseline, ratio, notes" in by_bench["bench_bad_rows"]["notes"]
    assert by_bench["bench_exits"]["notes"].startswith("FAILED SystemExit")

    saved = json.loads((out / "speed.json").read_text())
    assert saved["device"] == "CPU only" and saved["machine"]["ram_gib"] > 0
    assert saved["machine"]["cpu"] and saved["machine"]["logical_cores"] >= 1
    md = (out / "speed.md").read_text()
    assert "device: **CPU only**" in md and saved["machine"]["cpu"] in md
    assert "| bench_good | thing per second | 10 | items/s | naive: 5 items/s | 2 |" in md
    assert "**Failed:** bench_bad_rows, bench_exits, bench_raises" in md


def test_only_filters_and_rejects_unknown_names(bench_package, tmp_path):
    result = run_all.run_all(only=["bench_good"], out=tmp_path, package=bench_package)
    assert [r["bench"] for r in result["rows"]] == ["bench_good"] and result["rows"][0]["figure"] == 20.0
    with pytest.raises(SystemExit, match="bench_nothing"):
        run_all.run_all(only=["bench_nothing"], out=tmp_path, package=bench_package)


@pytest.mark.parametrize("figure,code", [(None, 1), (3.0, 0)])
def test_main_exit_code_says_whether_a_bench_failed(tmp_path, monkeypatch, figure, code):
    def fake_run_all(quick, only, out, command, name="speed", extra=()):
        (out / "speed.md").write_text("table")
        return {"rows": [{"figure": figure, "notes": "FAILED x" if figure is None else ""}]}

    monkeypatch.setattr(run_all, "run_all", fake_run_all)
    assert run_all.main(["--out", str(tmp_path)]) == code


def test_name_and_extra_options_reach_the_files_and_every_benchmark(bench_package, tmp_path, monkeypatch):
    monkeypatch.setattr(run_all, "device", lambda: "CPU only")
    seen = []
    real = run_all.run_one
    monkeypatch.setattr(run_all, "run_one", lambda module, argv: (seen.append(list(argv)), real(module, argv))[1])
    run_all.run_all(only=["bench_good"], out=tmp_path, package=bench_package, name="store_open", extra=["--rows=5"])
    assert seen == [["--rows=5"]]
    assert (tmp_path / "store_open.md").exists() and (tmp_path / "store_open.json").exists()
    assert not (tmp_path / "speed.md").exists()
