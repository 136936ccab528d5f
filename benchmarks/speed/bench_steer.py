"""A speed suite to steer by: peaks, the bare forward pass and the full pipeline, in one run.

After one unrecorded warm-up round, every figure is measured ``--rounds`` times, *alternating* (round 1 of every
item, then round 2 of every item, ...), so a neighbour's load on a shared machine lands on all
items alike; rows give the median and the range. Items, per precision (fp32, bf16):

* peak matmul (``--matmul-n`` square ``tf.matmul``) and peak conv (3x3, 64 -> 64 channels on
  ``--conv-side`` square maps), GFLOP/s, each round the fastest of 5 calls: the compute ceilings;
* per branch, the *bare* forward pass: ``FeatureExtractor.extract_resized`` on inputs already
  decoded and resized (shape buckets, batching and the traced network; no file work);
* per branch, the *full pipeline*: ``extract()`` from the image files to an HDF5 store (decode,
  resize, network, store writing and merge), the product's path.

Ratios: pipeline / bare (1.0 = file work fully hidden behind the network), bare GFLOP/s / peak
matmul GFLOP/s of the same precision (how close the network runs to the machine's ceiling;
FLOPs per image counted by TensorFlow's profiler on the fp32 graph), and bf16 / fp32.

    python -m aesthetic.benchmarks.speed.bench_steer --input-scale 0.25 --images 8 --rounds 3

``--input-scale 1`` is the product's geometry (max side 996, letterbox 600). Rows follow the
speed-suite contract (benchmarks/speed/run_all.py).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from aesthetic.benchmarks.speed.common import extraction_parser, photos, print_rows

log = logging.getLogger(__name__)


def _best_of(call: Callable[[], object], repeats: int = 5) -> Callable[[], float]:
    """A timed run that is the fastest of ``repeats`` calls: a peak is what the machine *can* do."""
    def run() -> float:
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - t)
        return best

    return run


def matmul_item(n: int, precision: str) -> tuple[Callable[[], float], float]:
    """(one timed run -> seconds, FLOPs of one run) of an ``n x n`` matmul."""
    import tensorflow as tf

    dtype = tf.bfloat16 if precision == "bf16" else tf.float32
    a, b = tf.cast(tf.random.normal((n, n)), dtype), tf.cast(tf.random.normal((n, n)), dtype)
    fn = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    fn(a, b).numpy()

    return _best_of(lambda: fn(a, b).numpy()), 2.0 * n ** 3


def conv_item(side: int, precision: str, channels: int = 64) -> tuple[Callable[[], float], float]:
    """(one timed run -> seconds, FLOPs) of a 3x3 ``channels -> channels`` same-padded convolution."""
    import tensorflow as tf

    dtype = tf.bfloat16 if precision == "bf16" else tf.float32
    x = tf.cast(tf.random.normal((1, side, side, channels)), dtype)
    k = tf.cast(tf.random.normal((3, 3, channels, channels)), dtype)
    fn = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.nn.conv2d(a, b, 1, "SAME")[:, :1, :1], tf.float32)))
    fn(x, k).numpy()

    return _best_of(lambda: fn(x, k).numpy()), 2.0 * side * side * channels * channels * 9


def branch_items(branch: str, precision: str, paths: list[str], scale: float, batch: int,
                 work: Path) -> tuple[Callable[[], float], Callable[[], float], object]:
    """(bare run -> seconds, pipeline run -> seconds, extractor) for one branch at one precision."""
    from aesthetic.feature_extraction import ExtractionConfig, extract

    config = ExtractionConfig(branches=[branch], weights={branch: None}, input_scale=scale, batch_size=batch,
                              precision=precision, chunk_size=max(batch, len(paths) // 2), workers=2)
    fx = config.build_extractor()
    loaded = fx.load_many(paths)
    resized = [item for item, _ in loaded if item is not None]
    fx.extract_resized(resized)  # build and trace every shape bucket outside the timing
    out = work / f"{branch}_{precision}.h5"

    def bare() -> float:
        t = time.perf_counter()
        fx.extract_resized(resized)
        return time.perf_counter() - t

    def pipeline() -> float:
        t = time.perf_counter()
        extract(paths, out, config, overwrite=True, progress=False, extractor=fx)
        return time.perf_counter() - t

    pipeline()  # the store code's first run (imports, h5py) outside the timing
    return bare, pipeline, fx


def _median(values: list[float]) -> tuple[float, str]:
    return statistics.median(values), f"median of {len(values)}, range {min(values):.3g}-{max(values):.3g} s"


def _gflop_per_image(fx, branch: str, paths: list[str]) -> float:
    from aesthetic.benchmarks.speed.bench_extraction import model_gflops
    from aesthetic.imageio import read_image

    shape = fx.resize(read_image(paths[0]))[branch].shape[:2]
    return model_gflops(fx.model(branch), shape)


def parser():
    """This benchmark's options: the extraction benchmarks' shared ones and its branches, precisions and peaks."""
    ap = extraction_parser(__doc__, images=8, input_scale=0.25, batch_size=4, rounds=3,
                           quick="mobilenet only, 4 images, 2 rounds, small peaks")
    ap.add_argument("--branches", default="multigap,efficientnet,mobilenet")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--matmul-n", type=int, default=1024)
    ap.add_argument("--conv-side", type=int, default=112)
    return ap


def main(argv: list[str] | None = None) -> list[dict]:
    args = parser().parse_args(argv)
    if args.quick:
        args.branches, args.images, args.rounds, args.matmul_n, args.conv_side = "mobilenet", 4, 2, 512, 56
    branches = [b.strip() for b in args.branches.split(",") if b.strip()]
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    size = f"input scale {args.input_scale}, {args.images} photos, batch {args.batch_size}, random weights"

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = photos(args.images, work)
        items: dict[tuple, Callable[[], float]] = {}
        flops: dict[tuple, float] = {}
        extractors = {}
        for p in precisions:
            items[("matmul", p)], flops[("matmul", p)] = matmul_item(args.matmul_n, p)
            items[("conv", p)], flops[("conv", p)] = conv_item(args.conv_side, p)
            for b in branches:
                log.info("building %s in %s", b, p)
                items[("bare", b, p)], items[("pipeline", b, p)], extractors[(b, p)] = branch_items(
                    b, p, paths, args.input_scale, args.batch_size, work)
        times: dict[tuple, list[float]] = {k: [] for k in items}
        for run in items.values():  # one unrecorded warm-up round (allocators, caches, thread pools)
            run()
        for r in range(args.rounds):  # alternating: every item once per round
            log.info("round %d of %d", r + 1, args.rounds)
            for key, run in items.items():
                times[key].append(run())
        gflop = {b: _gflop_per_image(extractors[(b, precisions[0])], b, paths) for b in branches}
    return _rows(times, flops, gflop, branches, precisions, args, size, len(paths))


def _rows(times, flops, gflop, branches, precisions, args, size, n) -> list[dict]:
    rows: list[dict] = []
    peak = {}
    for kind, what in (("matmul", f"{args.matmul_n}^2 tf.matmul"),
                       ("conv", f"3x3 conv 64->64 on {args.conv_side}^2")):
        for p in precisions:
            med, spread = _median(times[(kind, p)])
            peak[(kind, p)] = flops[(kind, p)] / med / 1e9
            base = peak.get((kind, "fp32")) if p != "fp32" else None
            rows.append({"name": f"peak {kind} {p}", "figure": round(peak[(kind, p)], 1), "unit": "GFLOP/s",
                         "baseline": f"fp32: {base:.1f} GFLOP/s" if base else "",
                         "ratio": round(peak[(kind, p)] / base, 2) if base else None,
                         "notes": f"{what}; {spread}"})
    for b in branches:
        for p in precisions:
            bare, bare_spread = _median(times[("bare", b, p)])
            pipe, pipe_spread = _median(times[("pipeline", b, p)])
            bare_ips, pipe_ips = n / bare, n / pipe
            achieved = gflop[b] * bare_ips
            rows.append({"name": f"{b} {p} bare forward", "figure": round(bare_ips, 3), "unit": "images/s",
                         "baseline": f"peak matmul {p}: {peak[('matmul', p)]:.1f} GFLOP/s",
                         "ratio": round(achieved / peak[("matmul", p)], 3),
                         "notes": f"{size}; {gflop[b]:.2f} GFLOP/image -> {achieved:.1f} GFLOP/s; "
                                  f"ratio = bare / peak matmul; {bare_spread}"})
            rows.append({"name": f"{b} {p} pipeline files -> store", "figure": round(pipe_ips, 3),
                         "unit": "images/s", "baseline": f"bare forward: {bare_ips:.3g} images/s",
                         "ratio": round(pipe_ips / bare_ips, 3),
                         "notes": f"{size}; decode, resize, network, write, merge; ratio = pipeline / bare; "
                                  f"{pipe_spread}"})
        if "fp32" in precisions and "bf16" in precisions:
            f32 = statistics.median(times[("pipeline", b, "fp32")])
            b16 = statistics.median(times[("pipeline", b, "bf16")])
            rows.append({"name": f"{b} bf16 / fp32 pipeline speed", "figure": round(f32 / b16, 3), "unit": "x",
                         "baseline": f"fp32 pipeline: {n / f32:.3g} images/s", "ratio": round(f32 / b16, 3),
                         "notes": f"{size}; > 1 means bf16 is faster"})
    return rows


if __name__ == "__main__":
    print_rows(main)
