"""Extraction images/s: the local job vs the Ray engine, same photos, same settings, same run.

Both write a feature store for the first ``--images`` real photos of ../shared/data
(curated_vs_snapshot, max side 500 JPEGs): the local job (`extract`, threaded decode) to one
HDF5 file, the Ray engine (`extract_ray`: Ray Data decode tasks + one actor pool per branch)
to shards + a manifest. Figures are end to end (model build and, for Ray, actor start-up
included; starting the Ray cluster itself and one untimed warm-up run of each engine are not,
so neither pays for first imports). Each engine
also runs on the first ``--small`` photos; (extra images) / (extra seconds) between the two
runs is the marginal rate, with fixed start-up cancelled, which is what a long run converges to.

Default branch: mobilenet at 224 x 224 with the real NIMA weights (../shared/weights), else
weights None. With a GPU that TensorFlow sees, the Ray actors take one GPU each
(``--gpus-per-worker``) and the device is named in the notes.

    python -m aesthetic.benchmarks.speed.bench_ray                    # 32 and 191 photos, local Ray on all CPUs
    python -m aesthetic.benchmarks.speed.bench_ray --quick            # 32 photos
    python -m aesthetic.benchmarks.speed.bench_ray --address auto     # a running cluster (paths must be shared)

Rows follow the speed-suite contract (see benchmarks/speed/run_all.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

from aesthetic.raycluster import init_ray
from aesthetic.shared import NIMA_WEIGHTS_FILE, shared_file

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger(__name__)
#: Photos of the untimed first run of each engine (library imports, first worker processes).
WARMUP = 4
NIMA = shared_file(NIMA_WEIGHTS_FILE)


def decode_rate(paths: list[str], branches: tuple[str, ...] = ("multigap", "efficientnet")) -> float:
    """images/s of decode + resize to every branch's product input, serially in this process (one core):
    what one Ray decode task sustains, so (GPU images/s) / this = decode cores each GPU needs."""
    from aesthetic.feature_extraction import FeatureExtractor

    fx = FeatureExtractor(list(branches), None)  # no network is built: only the input policies are used
    fx.load(paths[0])
    start = time.perf_counter()
    for p in paths:
        fx.load(p)
    return len(paths) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m aesthetic.benchmarks.speed.bench_ray", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=191, help="first N photos of curated_vs_snapshot")
    parser.add_argument("--branches", default="mobilenet", help="comma-separated branches")
    parser.add_argument("--input-scale", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--chunk-size", type=int, default=16, help="images per shard / part")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start one here)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray started here")
    parser.add_argument("--gpus-per-worker", type=float, default=None,
                        help="GPUs per model actor (default: 1 when TensorFlow sees a GPU, else 0)")
    parser.add_argument("--small", type=int, default=32,
                        help="also time a run of this many photos: the difference gives the marginal rate")
    parser.add_argument("--quick", action="store_true", help="32 photos, no marginal row")
    args = parser.parse_args(argv)
    if args.quick:
        args.images = 32

    import ray

    from aesthetic.benchmarks.speed.bench_extraction import real_photos
    from aesthetic.benchmarks.speed.run_all import device
    from aesthetic.feature_extraction import ExtractionConfig, extract
    from aesthetic.feature_extraction.ray_engine import extract_ray

    branches = [b.strip() for b in args.branches.split(",") if b.strip()]
    weights = {b: (str(NIMA) if b == "mobilenet" and NIMA is not None else None) for b in branches}
    config = ExtractionConfig(branches=branches, weights=weights, input_scale=args.input_scale,
                              batch_size=args.batch_size, chunk_size=args.chunk_size, dtype="float32")
    paths = real_photos(args.images)
    dev = device()
    gpus = args.gpus_per_worker if args.gpus_per_worker is not None else (1.0 if "CPU only" not in dev else 0.0)
    device_note = f"device: {dev}" + ("" if "CPU only" not in dev else " (no GPU lent to this session)")

    sizes = sorted({min(args.small, len(paths)), len(paths)})
    seconds: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as tmp:
        tmp = Path(tmp)
        extract(paths[:WARMUP], tmp / "warmup.h5", config, progress=False)  # imports, first graph: not timed
        for n in sizes:
            start = time.perf_counter()
            local = extract(paths[:n], tmp / f"local{n}.h5", config, progress=False)
            seconds["local", n] = time.perf_counter() - start

        start = time.perf_counter()
        if args.address:
            init_ray(args.address, logging_level=logging.WARNING)
        else:
            init_ray("local", num_cpus=args.num_cpus or os.cpu_count(), logging_level=logging.WARNING)
        init_s = time.perf_counter() - start
        try:
            cpus, cluster_gpus = ray.cluster_resources().get("CPU", 0), ray.cluster_resources().get("GPU", 0)
            extract_ray(paths[:WARMUP], tmp / "warmup.json", config, gpus_per_worker=gpus, progress=False)
            for n in sizes:
                start = time.perf_counter()
                remote = extract_ray(paths[:n], tmp / f"ray{n}.json", config, gpus_per_worker=gpus, progress=False)
                seconds["ray", n] = time.perf_counter() - start
        finally:
            ray.shutdown()

    if (local.ok, local.failed) != (remote.ok, remote.failed):
        raise RuntimeError(f"local ({local.ok} ok) and Ray ({remote.ok} ok) extracted different images")
    n = len(paths)
    rate = {e: n / seconds[e, n] for e in ("local", "ray")}
    weight_names = ", ".join(f"{b}: {Path(w).name if w else 'weights None'}" for b, w in weights.items())
    what = (f"{'+'.join(branches)} ({weight_names}), input scale {args.input_scale}, batch {args.batch_size}, "
            f"{n} real photos (max side 500)")
    where = (f"{device_note}; Ray: {cpus:g} CPUs, {cluster_gpus:g} GPUs, {gpus:g} GPU per actor, cluster start "
             f"{init_s:.1f} s not counted; 1-min load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rows = [
        {"name": f"extract, local job: {what}", "figure": rate["local"], "unit": "images/s", "baseline": "",
         "ratio": None, "notes": f"end to end incl. model build; {device_note}"},
        {"name": f"extract, Ray engine: {what}", "figure": rate["ray"], "unit": "images/s",
         "baseline": f"local job: {rate['local']:.2f} images/s", "ratio": rate["ray"] / rate["local"],
         "notes": f"end to end incl. actor start-up and model build; {where}"},
    ]
    extra = {e: seconds[e, n] - seconds[e, sizes[0]] for e in ("local", "ray")}
    if len(sizes) == 2 and min(extra.values()) <= 0:
        log.warning("marginal rate not reported: a larger run was not slower (%s); the machine is too noisy", extra)
    elif len(sizes) == 2:
        small = sizes[0]
        marginal = {e: (n - small) / extra[e] for e in ("local", "ray")}
        startup = {e: seconds[e, small] - small / marginal[e] for e in ("local", "ray")}
        rows.append({
            "name": f"extract, Ray engine, marginal ({small} -> {n} images): {what}", "figure": marginal["ray"],
            "unit": "images/s", "baseline": f"local job, marginal: {marginal['local']:.2f} images/s",
            "ratio": marginal["ray"] / marginal["local"],
            "notes": (f"(extra images) / (extra seconds) between runs of {small} and {n} images, so fixed start-up "
                      f"cancels (start-up ~{startup['ray']:.0f} s Ray, ~{startup['local']:.0f} s local); {where}")})
    decode = decode_rate(paths[:min(n, 64)])
    rows.append({"name": "decode + resize to multigap (max side 996) + efficientnet (letterbox 600), one core",
                 "figure": decode, "unit": "images/s", "baseline": "", "ratio": None,
                 "notes": (f"{min(n, 64)} real JPEGs of max side 500; the CPU work per image a Ray decode task "
                           f"does; 1-min load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")})
    return rows


if __name__ == "__main__":  # pragma: no cover
    from aesthetic.benchmarks.speed.bench_extraction import print_rows

    logging.basicConfig(level=logging.WARNING)
    print_rows(main())
