"""Extraction speed per branch on real photos: the project's pipeline vs the naive loop.

Naive = what the original system did: read one image, resize it, ``model.predict`` on a
batch of one. Pipeline = ``FeatureExtractor.extract_paths``: threaded decode, shape
buckets, one traced function. Both run in the same process on the same photos, so the
ratio is meaningful whatever the machine. Also reports the achieved GFLOP/s (the
backbone's FLOPs per image, counted by TensorFlow's profiler, times images/s) against
this machine's peak float32 matmul GFLOP/s measured in the same run.

    python -m aesthetic.benchmarks.speed.bench_extraction --images 16 --input-scale 0.25

Rows follow the speed-suite contract (see benchmarks/speed/run_all.py).
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path

from aesthetic.shared import shared_data_dir

log = logging.getLogger(__name__)
DEFAULT_DATA = shared_data_dir()


def real_photos(n: int, data: Path = DEFAULT_DATA) -> list[str]:
    rows = list(csv.DictReader(open(data / "curated_vs_snapshot" / "labels.csv")))
    return [str(data / "curated_vs_snapshot" / r["path"]) for r in rows[:n]]


def peak_matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 matmul throughput this process gets (the roofline's compute ceiling)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def model_gflops(model, shape: tuple[int, int]) -> float:
    """Forward-pass GFLOPs of a Keras model for one ``(h, w, 3)`` input (multiply-add = 2 FLOPs)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.profiler.model_analyzer import profile
    from tensorflow.python.profiler.option_builder import ProfileOptionBuilder

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((1, shape[0], shape[1], 3), tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    opts = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return profile(frozen.graph, options=opts).total_float_ops / 1e9


def naive_loop(fx, branch: str, paths: list[str]) -> float:
    """Seconds for one read + resize + ``model.predict`` per image, as the original did."""
    from aesthetic.imageio import read_image

    br = fx.branches[fx.branch_names.index(branch)]
    model = fx.model(branch)
    start = time.perf_counter()
    for p in paths:
        x = fx.data_configs[branch].prepare(read_image(p))
        model.predict(br.preprocess(x[None]), verbose=0)
    return time.perf_counter() - start


def bench_branch(branch: str, paths: list[str], input_scale: float, batch_size: int, weights) -> list[dict]:
    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.imageio import read_image

    fx = FeatureExtractor([branch], weights={branch: weights}, input_scale=input_scale, batch_size=batch_size)
    fx.extract_paths(paths[:2])  # build and trace once, outside the timing
    naive_loop(fx, branch, paths[:1])
    t_naive = naive_loop(fx, branch, paths)
    start = time.perf_counter()
    result = fx.extract_paths(paths)
    t_pipe = time.perf_counter() - start
    assert result.ok.all(), "benchmark photos must all decode"
    shape = fx.resize(read_image(paths[0]))[branch].shape[:2]
    gflop = model_gflops(fx.model(branch), shape)
    ips_naive, ips_pipe = len(paths) / t_naive, len(paths) / t_pipe
    size = fx.policies[branch].describe()
    return [
        {"name": f"extract {branch} naive predict loop", "figure": ips_naive, "unit": "images/s",
         "baseline": None, "ratio": None,
         "notes": f"{len(paths)} photos, {size}, batch 1 (predict re-traces for each new image shape)"},
        {"name": f"extract {branch} pipeline", "figure": ips_pipe, "unit": "images/s",
         "baseline": ips_naive, "ratio": ips_pipe / ips_naive,
         "notes": f"{len(paths)} photos, {size}, batch {batch_size}, threaded decode, shape buckets"},
        {"name": f"extract {branch} achieved compute", "figure": gflop * ips_pipe, "unit": "GFLOP/s",
         "baseline": None, "ratio": None, "notes": f"{gflop:.2f} GFLOP/image at {shape[0]}x{shape[1]}"},
    ]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branches", default="multigap,efficientnet,mobilenet")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--input-scale", type=float, default=0.25,
                        help="1.0 = product geometry (max side 996, letterbox 600); smaller is faster")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="4 photos at scale 0.15")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.input_scale = 4, 0.15
    paths = real_photos(args.images)
    from aesthetic.feature_extraction.nima import default_weights_path

    rows: list[dict] = []
    for branch in [b.strip() for b in args.branches.split(",") if b.strip()]:
        weights = str(default_weights_path()) if branch == "mobilenet" and default_weights_path() else None
        scale = 1.0 if branch == "mobilenet" else args.input_scale  # mobilenet is cheap at its real 224
        rows += bench_branch(branch, paths, scale, args.batch_size, weights)
    peak = peak_matmul_gflops()
    rows.append({"name": "peak float32 matmul (this machine)", "figure": peak, "unit": "GFLOP/s",
                 "baseline": None, "ratio": None, "notes": "2048x2048 tf.matmul, best of 5"})
    for r in rows:
        if r["unit"] == "GFLOP/s" and r["name"].startswith("extract"):
            r["baseline"], r["ratio"] = peak, r["figure"] / peak
            r["notes"] += "; ratio = fraction of peak matmul"
    return rows


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        ratio = f"  x{r['ratio']:.2f}" if r.get("ratio") is not None else ""
        print(f"{r['name']:<45} {r['figure']:>10.2f} {r['unit']:<9}{ratio}   {r['notes']}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    print_rows(main())
