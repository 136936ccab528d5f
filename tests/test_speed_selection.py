"""bench_selection's arithmetic: the GA generation projected from measured sizes to the original's data."""

import pytest

from aesthetic.benchmarks.speed.bench_selection import ga_projection_row, project_linear


def test_the_projection_is_the_least_squares_line_through_the_measured_sizes():
    assert project_linear([512, 4096], [2.0, 9.0], 80000) == pytest.approx(
        (2.0 + 7.0 / 3584 * (80000 - 512), 2.0 - 7.0 / 3584 * 512, 7.0 / 3584))
    projected, fixed, per_image = project_linear([100, 200, 300], [1.0, 2.2, 2.9], 1000)
    assert per_image == pytest.approx(0.0095) and fixed == pytest.approx(6.1 / 3 - 1.9) and projected == pytest.approx(
        fixed + 1000 * per_image)


def test_the_projection_row_projects_steady_state_generations_and_the_loop_alike():
    rows = [{"figure": 5.0, "steady_seconds": 2.0, "loop_seconds": 20.0, "sizes": "population 20"},
            {"figure": 12.0, "steady_seconds": 9.0, "loop_seconds": 90.0, "sizes": "population 20"}]
    row = ga_projection_row(rows, [512, 4096], 80000)
    assert row["figure"] == pytest.approx(project_linear([512, 4096], [2.0, 9.0], 80000)[0])
    assert row["ratio"] == pytest.approx(10.0) and row["unit"] == "s/generation"
    assert "512: 2.00s, 4096: 9.00s" in row["notes"] and "80000 images" in row["name"]
    shrinking = ga_projection_row([dict(rows[0], steady_seconds=9.0), dict(rows[1], steady_seconds=2.0)],
                                  [512, 4096], 80000)
    assert "NOT growing with the data" in shrinking["notes"]
    noisy_loop = ga_projection_row([dict(rows[0], loop_seconds=70.0), dict(rows[1], loop_seconds=50.0)],
                                   [512, 4096], 80000)
    assert noisy_loop["ratio"] is None and "not projected" in noisy_loop["baseline"]


def test_the_ga_compute_row_is_the_generation_matmul_flops_over_the_steady_generation_against_the_peak():
    from aesthetic.benchmarks.gpu.gpu_bench import ga_flops
    from aesthetic.benchmarks.speed.bench_selection import ga_compute_row

    # 98 evaluated individuals, 409 training / 103 validation rows, FC 5000 -> 64 -> 32 -> 1, 10 epochs
    per_row = 2 * (5000 * 64 + 64 * 32 + 32 * 1)
    flops = 98 * (3 * per_row * 409 * 10 + per_row * 103)
    assert ga_flops(409, 103, 98, 5000, (64, 32), 10) == flops
    row = ga_compute_row(flops, 35.0, [60.0, 100.0, 80.0], "fp32", "population 100")
    assert row["unit"] == "GFLOP/s" and row["figure"] == pytest.approx(flops / 35.0 / 1e9)
    assert row["ratio"] == pytest.approx(flops / 35.0 / 1e9 / 80.0)  # against the median peak
    assert row["baseline"] == "peak matmul fp32: 80.0 GFLOP/s" and row["notes"].startswith("population 100; ")
