"""The GPU benchmark's own arithmetic (its GPU run is a script on a lent machine, not a test):
the GA's matmul FLOP count against a count of the layers' products, the combined both-branch
rate, and a results page that survives skipped points."""

from __future__ import annotations

import math

import pytest

from aesthetic.benchmarks.gpu import gpu_bench


def test_ga_flops_counts_every_layer_product_of_training_and_scoring():
    # k 5 -> 3 -> 2 -> 1: forward multiply-adds per row 5*3 + 3*2 + 2*1 = 23, i.e. 46 FLOPs;
    # training is forward + backward (2x forward) = 138 per row per epoch, scoring 46 per row.
    flops = gpu_bench.ga_flops(n_train=10, n_val=4, population=7, k=5, hidden=(3, 2), epochs=2)
    assert flops == 7 * (138 * 10 * 2 + 46 * 4)


def test_target_combines_each_branchs_best_point_as_one_pipeline():
    rows = [{"branch": "multigap", "precision": "bf16", "batch": 64, "images_per_s": 600.0},
            {"branch": "multigap", "precision": "fp32", "batch": 64, "images_per_s": 300.0},
            {"branch": "efficientnet", "precision": "bf16", "batch": 32, "images_per_s": 1200.0},
            {"branch": "efficientnet", "precision": "bf16", "batch": 64, "skipped": "time budget spent"}]
    target = gpu_bench.target_check(rows)
    assert target["both_branches_images_per_s"] == pytest.approx(1 / (1 / 600 + 1 / 1200))  # 400
    assert target["met"] and target["best"]["efficientnet"] == {"images_per_s": 1200.0, "precision": "bf16",
                                                                 "batch": 32}
    assert gpu_bench.target_check(rows[:2])["met"] is None  # one branch unmeasured: no verdict


def test_results_page_lists_measured_and_skipped_points():
    doc = {"backend": "torch", "device": "NVIDIA H200", "command": "gpu_bench.py", "created": "now", "host": "h",
           "backend_version": "2", "keras_version": "3", "tiny": False, "fp32_settings": {"cudnn_allow_tf32": True},
           "matmul_tflops": {"bf16": 700.0, "fp32": 50.0},
           "branches": [{"branch": "multigap", "input": "996x747", "precision": "bf16", "compute_dtype": "bfloat16",
                         "batch": 64, "images_per_s": 500.0, "gflop_per_image": 100.0, "gflop_per_s": 50000.0,
                         "fraction_of_matmul_rate": 50000 / 700000, "peak_memory_gib": 10.0, "warmup_s": 3.0},
                        {"branch": "efficientnet", "input": "600x600", "precision": "bf16", "batch": 64,
                         "skipped": "time budget spent"}],
           "ga": [{"precision": "fp32", "skipped": "time budget spent"}], "target": {"met": None}}
    page = gpu_bench.markdown(doc)
    assert "| multigap | 996x747 | bf16 (bfloat16) | 64 | 500.0 | 100.0 | 50000.0 | 7% | 10.00 | 3.0 |" in page
    assert "skipped: time budget spent" in page and "GA fitness fp32: skipped" in page
    assert "not measured" in page and math.isclose(doc["matmul_tflops"]["bf16"], 700.0)
