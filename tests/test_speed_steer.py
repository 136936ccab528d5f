"""bench_steer's figures: medians of alternating rounds turned into GFLOP/s and the ratios it reports."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aesthetic.benchmarks.speed.bench_steer import _rows


def test_ratios_are_pipeline_over_bare_and_bare_over_the_peak_of_its_precision():
    times = {("matmul", "fp32"): [2.0, 1.0, 9.0], ("matmul", "bf16"): [0.5, 0.5, 0.6],
             ("conv", "fp32"): [1.0, 1.0, 1.0], ("conv", "bf16"): [2.0, 2.0, 2.0],
             ("bare", "m", "fp32"): [4.0, 4.0, 5.0], ("pipeline", "m", "fp32"): [5.0, 8.0, 8.0],
             ("bare", "m", "bf16"): [2.0, 2.0, 2.0], ("pipeline", "m", "bf16"): [4.0, 4.0, 4.0]}
    flops = {("matmul", "fp32"): 2e9, ("matmul", "bf16"): 2e9, ("conv", "fp32"): 1e9, ("conv", "bf16"): 1e9}
    args = SimpleNamespace(matmul_n=1000, conv_side=100)
    rows = {r["name"]: r for r in _rows(times, flops, {"m": 1.0}, ["m"], ["fp32", "bf16"], args, "size", 8)}
    assert rows["peak matmul fp32"]["figure"] == 1.0  # 2 GFLOP in the median 2.0 s
    assert rows["peak matmul bf16"]["figure"] == 4.0 and rows["peak matmul bf16"]["ratio"] == 4.0
    assert rows["peak conv bf16"]["ratio"] == 0.5
    assert rows["m fp32 bare forward"]["figure"] == 2.0  # 8 images in the median 4 s
    assert rows["m fp32 bare forward"]["ratio"] == pytest.approx(2.0)  # 2 GFLOP/s over a 1 GFLOP/s peak
    assert rows["m bf16 bare forward"]["ratio"] == pytest.approx(1.0)  # 4 GFLOP/s over the bf16 peak, 4
    assert rows["m fp32 pipeline files -> store"]["ratio"] == pytest.approx(0.5)  # 1 image/s over 2
    assert rows["m bf16 / fp32 pipeline speed"]["figure"] == 2.0
    assert "median of 3, range 4-5 s" in rows["m fp32 bare forward"]["notes"]


@pytest.mark.slow
def test_bench_precision_quick_reports_speed_and_cosine():
    from aesthetic.benchmarks.speed.bench_precision import main

    rows = {r["name"]: r for r in main(["--quick"])}
    speed, cosine = rows["mobilenet bare forward bf16"], rows["mobilenet bf16 features, cosine to fp32 (min)"]
    assert speed["unit"] == "s/image" and speed["figure"] > 0 and speed["ratio"] > 0
    assert 0.999 <= cosine["figure"] < 1.0  # close, and not identical: bf16 really ran


def test_the_extraction_benchmarks_share_one_set_of_options():
    """bench_steer and bench_precision take --images, --input-scale, --batch-size, --rounds and --quick
    from one helper (same meaning and help), each at its own defaults, plus options of their own."""
    from aesthetic.benchmarks.speed import bench_precision, bench_steer
    from aesthetic.benchmarks.speed.common import SHARED_OPTIONS

    given = ["--images", "3", "--input-scale", "0.5", "--batch-size", "1", "--rounds", "2", "--quick"]
    helps = []
    for module in (bench_steer, bench_precision):
        ap = module.parser()
        args = ap.parse_args(given)
        assert (args.images, args.input_scale, args.batch_size, args.rounds, args.quick) == (3, 0.5, 1, 2, True)
        helps.append({a.dest: a.help for a in ap._actions if a.dest in SHARED_OPTIONS[:-1]})
    assert helps[0] == helps[1] and len(helps[0]) == len(SHARED_OPTIONS) - 1  # --quick's help is each one's own
    assert bench_steer.parser().parse_args([]).branches == "multigap,efficientnet,mobilenet"
    assert bench_precision.parser().parse_args([]).input_scale == 1.0  # defaults stay each benchmark's
