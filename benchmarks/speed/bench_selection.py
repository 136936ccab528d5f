"""Feature selection speed and memory: GA seconds per generation (batched FC fitness vs one Keras model
per individual), its projection to larger data, and the peak memory of out-of-core PCA and of the
GA's chunked store reads at two dataset sizes.

    python -m aesthetic.benchmarks.speed.bench_selection                 # population 100, k 5000, 19488 features, 512 images
    python -m aesthetic.benchmarks.speed.bench_selection --quick         # small sizes, well under a minute of compute
    python -m aesthetic.benchmarks.speed.bench_selection --images 2048 --epochs 10 --baseline-individuals 20

GA: synthetic features (``--features`` columns, ``--images`` rows, 10 planted informative
columns), the FC fitness at its defaults unless overridden (hidden 64/32, batch 64,
``--epochs``). The batched figure is one GA generation: the operators on a random generation
0 and the evaluation of its 98 new or mutated individuals (the 2 elites keep their fitness),
one-time graph tracing included. The one-at-a-time loop (``keras.Sequential`` + ``fit`` per
individual, as the original did), after one untimed individual, is timed on
``--baseline-individuals`` individuals and extrapolated to the same 98 evaluations; the printed
output says so.

With several ``--images`` sizes the GA generation is timed at each, and a least-squares line
``seconds = fixed + per_image * images`` through the steady-state generations (the median of 3
later ones, their graphs already traced) projects it to ``--project-images`` (80000, the original system's data).

    python -m aesthetic.benchmarks.speed.bench_selection --skip-pca --images 512 4096 --population 20 --k 2000 --epochs 1

GA memory (``--ga-memory-rows N1 N2``): ``GeneticSelector.fit_store`` (population 6, k 16, FC
hidden 8, 1 epoch, generation 0 only) on ``--ga-memory-width`` (2048) wide float16 stores of N1 and N2 images, each in a
fresh subprocess, with the features streamed from the store in row chunks (``memory_budget_mb``
0.01) and, as the baseline that grows with the data, read into RAM; peak numpy/Python
allocations (tracemalloc) and peak RSS.

PCA: ``BranchPCA.fit_store`` of an efficientnet-shaped branch (``--pca-width`` 2560 ->
``--pca-components`` 1280) from float16 stores of ``--pca-rows`` (3000 and 12000) images,
each in a fresh subprocess that reports its peak RSS and the peak of numpy allocations
(tracemalloc); scikit-learn's in-memory ``PCA`` on the same data is the baseline whose
memory grows with the image count. Both counts exceed the width, so both fits take the
covariance path (with fewer images than columns BranchPCA keeps the rows instead, which is
below the same bound).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Sequence

import numpy as np

from aesthetic.backend import onednn_enabled, prefer_onednn, requested_backend
from aesthetic.benchmarks.gpu.gpu_bench import ga_flops
from aesthetic.precision import resolve_precision

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger(__name__)


# -- GA ------------------------------------------------------------------------------------
def ga_rows(images: int, features: int, population: int, k: int, epochs: int, baseline_individuals: int,
            seed: int = 0, name_suffix: str = "", steady_rounds: int = 3) -> list[dict]:
    """One GA generation batched vs the one-model loop at ``images`` images; besides the speed-suite
    keys the row carries ``loop_seconds``, ``steady_seconds`` (the median of ``steady_rounds`` later
    generations, graphs already traced) and ``sizes`` for :func:`ga_projection_row` (dropped after)."""
    from aesthetic.genetic_selection import GeneticSelector
    from aesthetic.genetic_selection.fitness import ArraySource, FCFitness, one_at_a_time_fitness
    from aesthetic.genetic_selection.ga import stratified_split
    from aesthetic.genetic_selection.operators import init_population, next_generation
    from aesthetic.genetic_selection.synthetic import planted_features

    X, y, _ = planted_features(images, features, 10, shift=0.5, seed=seed)
    ga = GeneticSelector(k=k, population=population, parents=population // 2, seed=seed, epochs=epochs)
    spec = ga._spec()
    train, val = stratified_split(y, ga.validation_fraction, seed)
    rng = np.random.default_rng(seed)
    # Generation 0 is one more evaluation of a whole population; give it random scores and time the
    # first real generation: operators + evaluating the non-elite, graph tracing included (once a run).
    population_0 = init_population(population, features, k, rng)
    fitness = FCFitness(ArraySource(X, train, y[train]), ArraySource(X, val, y[val]), spec, seed)
    started = time.perf_counter()
    new, elite_rows = next_generation(population_0, rng.random(population), n_features=features, elite=ga.elite,
                                      parents=ga.parents, window=ga.window, keep_fraction=ga.keep_fraction, rng=rng)
    scores = fitness(new[len(elite_rows):], generation=1)
    batched = time.perf_counter() - started
    evaluated = len(scores)
    print(f"GA batched: one generation {batched:.1f}s for {evaluated} evaluations (operators and one-time "
          f"graph tracing included; best {scores.max():.3f}, mean {scores.mean():.3f})", flush=True)
    # Later generations reuse the traced graphs (same group sizes): the steady-state cost a long run pays.
    steady_times, peaks, current = [], [], new
    peak_run, peak_flops = _peak_matmul(spec.precision)
    for generation in range(2, 2 + steady_rounds):
        peaks.append(peak_flops / peak_run() / 1e9)  # the ceiling, measured between the generations
        started = time.perf_counter()
        current, _ = next_generation(current, rng.random(population), n_features=features, elite=ga.elite,
                                     parents=ga.parents, window=ga.window, keep_fraction=ga.keep_fraction, rng=rng)
        fitness(current[len(elite_rows):], generation=generation)
        steady_times.append(time.perf_counter() - started)
    steady = float(np.median(steady_times))
    print(f"GA batched: later generations (graphs already traced) median {steady:.2f}s of "
          f"{[round(t, 2) for t in steady_times]}", flush=True)

    individuals = new[len(elite_rows):][:baseline_individuals]
    # one untimed model first: the first Keras fit of a process pays start-up costs no later one does
    one_at_a_time_fitness(individuals[:1], X[train], y[train], X[val], y[val], spec, seed)
    started = time.perf_counter()
    one_at_a_time_fitness(individuals, X[train], y[train], X[val], y[val], spec, seed)
    per_model = (time.perf_counter() - started) / len(individuals)
    loop = per_model * evaluated
    extrapolated = len(individuals) < evaluated
    print(f"GA one model at a time: {per_model:.2f}s per individual over {len(individuals)} individuals"
          + (f", EXTRAPOLATED to {evaluated} evaluations: {loop:.1f}s per generation" if extrapolated
             else f": {loop:.1f}s per generation"), flush=True)
    shape = (f"population {population}, k {k} of {features} features, FC hidden {'/'.join(map(str, spec.hidden))}, "
             f"{spec.epochs} epochs, batch {spec.batch_size}")
    sizes = _with_kernels(f"{shape}, {images} synthetic images ({len(train)} train / {len(val)} validation)")
    flops = ga_flops(len(train), len(val), evaluated, k, tuple(spec.hidden), spec.epochs)
    compute = ga_compute_row(flops, steady, peaks, resolve_precision(spec.precision), sizes, name_suffix)
    print(f"GA batched: {flops / 1e9:.1f} GFLOP of matmuls per generation, {compute['figure']:.1f} GFLOP/s; "
          f"{compute['baseline']}", flush=True)
    return [
        {"name": f"GA generation, batched population FC fitness{name_suffix}", "figure": batched, "unit": "s/generation",
         "loop_seconds": loop, "steady_seconds": steady, "sizes": shape,
         "baseline": f"one Keras model per individual: {loop:.1f} s/generation"
                     + (f" (timed on {len(individuals)}, extrapolated to {evaluated})" if extrapolated else ""),
         "ratio": loop / batched,
         "notes": sizes + f"; {evaluated} evaluations per generation; ratio = loop / batched; later generations "
                          f"(graphs traced): median {steady:.2f}s of {len(steady_times)}, x{loop / steady:.1f} the "
                          f"loop's speed"},
        compute,
    ]


def ga_compute_row(flops: float, steady: float, peaks: Sequence[float], precision: str, sizes: str,
                   name_suffix: str = "") -> dict:
    """The GA generation's achieved matmul rate (``flops`` in ``steady`` seconds) against the median of
    the matmul ``peaks`` (GFLOP/s, ``precision``) measured in the same run."""
    peak = float(np.median(peaks))
    achieved = flops / steady / 1e9
    return {"name": f"GA generation achieved compute{name_suffix}", "figure": achieved, "unit": "GFLOP/s",
            "baseline": f"peak matmul {precision}: {peak:.1f} GFLOP/s", "ratio": achieved / peak,
            "notes": f"{sizes}; {flops / 1e9:.1f} GFLOP of matmuls per generation (gpu_bench.ga_flops: forward, "
                     f"backward at twice the forward, validation scoring; gathers, operators and Python not "
                     f"counted) over the steady-state generation ({steady:.2f}s); peak: {PEAK_MATMUL_N}^2 matmul, "
                     f"fastest of 5 calls, measured before each steady generation, median {peak:.1f} of "
                     f"{[round(p, 1) for p in peaks]} GFLOP/s; ratio = fraction of the peak (#17's target: 0.6)"}


def _with_kernels(sizes: str) -> str:
    """``sizes`` plus which CPU kernels TensorFlow ran (the fitness and its peak ran on the same)."""
    if requested_backend() != "tensorflow":
        return sizes
    state = {True: "on", False: "off", None: "unknown"}[onednn_enabled()]
    return f"{sizes}; TensorFlow oneDNN CPU kernels {state}"


#: Side of the square matmul whose rate is the GA's ceiling.
PEAK_MATMUL_N = 1024


def _peak_matmul(precision: str):
    """(one timed run -> seconds, its FLOPs) of the matmul peak in the precision the fitness runs."""
    from aesthetic.benchmarks.speed.bench_steer import matmul_item

    return matmul_item(PEAK_MATMUL_N, resolve_precision(precision))


def project_linear(images: Sequence[int], seconds: Sequence[float], target: int) -> tuple[float, float, float]:
    """``(projected seconds at target, fixed seconds, seconds per image)`` of the least-squares line
    through ``(images, seconds)``: a GA generation's cost is a fixed part plus one proportional to
    the rows each individual trains and is scored on."""
    per_image, fixed = np.polyfit(np.asarray(images, float), np.asarray(seconds, float), 1)
    return float(fixed + per_image * target), float(fixed), float(per_image)


def ga_projection_row(rows: Sequence[dict], images: Sequence[int], target: int) -> dict:
    """One row projecting the GA generation (batched, and the one-model loop) from the measured sizes to
    ``target``. The batched side uses each size's steady-state generation (graphs already traced): the
    first generation of a process also pays one-time start-up costs that do not scale with the data."""
    batched = [r["steady_seconds"] for r in rows]
    loops = [r["loop_seconds"] for r in rows]
    projected, fixed, per_image = project_linear(images, batched, target)
    loop_projected, _, loop_per_image = project_linear(images, loops, target)
    measured = ", ".join(f"{n}: {t:.2f}s" for n, t in zip(images, batched))
    loop_ok = loop_per_image > 0 and projected > 0
    return {"name": f"GA generation projected to {target} images, batched population FC fitness",
            "figure": projected, "unit": "s/generation",
            "baseline": (f"one Keras model per individual, projected the same way: {loop_projected:.0f} s/generation"
                         if loop_ok else "one Keras model per individual: not projected (its measured times do "
                                         f"not grow with the data: {', '.join(f'{t:.1f}s' for t in loops)})"),
            "ratio": loop_projected / projected if loop_ok else None,
            "notes": f"{rows[0]['sizes']}; least-squares line through the steady-state generations at the measured "
                     f"sizes ({measured}): {fixed:.2f}s fixed (operators, per-generation overhead) + "
                     f"{1000 * per_image:.3f} ms per image"
                     + ("" if per_image > 0 else " (NOT growing with the data at these sizes: no projection to trust)")
                     + "; ratio = projected loop / projected batched"}


def ga_precision_rows(images: int, features: int, population: int, k: int, epochs: int, rounds: int,
                      seed: int = 0) -> list[dict]:
    """Seconds per GA generation of the batched FC fitness in fp32 and in bf16, alternating rounds after
    one untimed warm-up generation each (graph tracing), medians with their range."""
    import statistics

    from aesthetic.genetic_selection.fitness import ArraySource, FCFitness, fitness_fc
    from aesthetic.genetic_selection.ga import stratified_split
    from aesthetic.genetic_selection.operators import init_population
    from aesthetic.genetic_selection.synthetic import planted_features
    from aesthetic.precision import bf16_is_native

    X, y, _ = planted_features(images, features, 10, shift=0.5, seed=seed)
    train, val = stratified_split(y, 0.2, seed)
    rng = np.random.default_rng(seed)
    evaluators = {p: FCFitness(ArraySource(X, train, y[train]), ArraySource(X, val, y[val]),
                               fitness_fc(epochs=epochs, precision=p), seed) for p in ("fp32", "bf16")}
    times: dict[str, list[float]] = {p: [] for p in evaluators}
    best: dict[str, list[float]] = {p: [] for p in evaluators}
    for r in range(rounds + 1):
        pop = init_population(population, features, k, rng)  # both precisions score the same individuals
        for p, evaluate in evaluators.items():
            started = time.perf_counter()
            scores = evaluate(pop, generation=r)
            if r:  # round 0 traces the graphs
                times[p].append(time.perf_counter() - started)
                best[p].append(float(scores.max()))
    med = {p: statistics.median(t) for p, t in times.items()}
    sizes = (f"population {population}, k {k} of {features} features, {images} synthetic images, {epochs} epochs; "
             f"bf16 native here: {bf16_is_native()}")
    spread = {p: f"median of {len(t)}, range {min(t):.3g}-{max(t):.3g} s" for p, t in times.items()}
    return [{"name": "GA generation, batched fitness, bf16", "figure": med["bf16"], "unit": "s/generation",
             "baseline": f"fp32: {med['fp32']:.3g} s/generation", "ratio": med["fp32"] / med["bf16"],
             "notes": f"{sizes}; ratio = fp32 / bf16 time (> 1: bf16 faster); bf16 {spread['bf16']}, "
                      f"fp32 {spread['fp32']}; best fitness per round fp32 {best['fp32']}, bf16 {best['bf16']}"}]


# -- PCA -------------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (VmHWM). Not ``ru_maxrss``: on Linux that keeps
    the parent's size at fork, so a child of a big process would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pca_child(store: Path, method: str, components: int, batch_size: int) -> dict:
    """Fit one PCA in this (fresh) process; report its peaks. Run by :func:`measure_pca` as a subprocess."""
    from aesthetic.feature_store import FeatureStore
    from aesthetic.genetic_selection import BranchPCA

    with FeatureStore.open(store) as s:
        rss_before = peak_rss_mb()
        tracemalloc.start()
        started = time.perf_counter()
        if method == "branchpca":
            BranchPCA(n_components=components, batch_size=batch_size).fit_store(s)
        else:
            from sklearn.decomposition import PCA

            PCA(n_components=components, random_state=0).fit(s.features())
        seconds = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"seconds": seconds, "traced_mb": traced / 2**20,
            "rss_mb": peak_rss_mb(), "rss_before_mb": rss_before}


def measure_pca(store: Path, method: str, components: int, batch_size: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "aesthetic.benchmarks.speed.bench_selection", "--pca-child", str(store),
                          "--pca-method", method, "--pca-components", str(components),
                          "--pca-batch-size", str(batch_size)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"PCA child ({method}, {store.name}) failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ga_memory_child(store: Path, budget_mb: float) -> dict:
    """Run ``GeneticSelector.fit_store`` (tiny population, generation 0) in this fresh process; report its peaks."""
    import tensorflow  # noqa: F401 -- imported before tracing starts: its import is not the GA's memory

    from aesthetic.feature_store import FeatureStore
    from aesthetic.genetic_selection import GeneticSelector

    with FeatureStore.open(store) as s:
        rss_before = peak_rss_mb()
        tracemalloc.start()
        started = time.perf_counter()
        ga = GeneticSelector(k=16, population=6, parents=3, elite=1, window=3, generations=0, epochs=1, hidden=(8,),
                             memory_budget_mb=budget_mb, progress=False).fit_store(s)
        seconds = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"seconds": seconds, "traced_mb": traced / 2**20, "rss_mb": peak_rss_mb(), "rss_before_mb": rss_before,
            "best": ga.best_fitness_}


def ga_memory_rows(rows: Sequence[int], width: int = 2048) -> list[dict]:
    from aesthetic.genetic_selection.ga import STREAM_CHUNK_ROWS
    from aesthetic.genetic_selection.synthetic import planted_features, write_synthetic_store

    results: dict[tuple[str, int], dict] = {}
    modes = {"streamed": 0.01, "in RAM": 1e6}
    with tempfile.TemporaryDirectory(prefix="bench_selection_ga_") as tmp:
        for n in rows:
            path = Path(tmp) / f"ga_{n}.h5"
            X, y, _ = planted_features(n, width, 16, shift=0.5, seed=0)
            write_synthetic_store(path, X, labels=y, branches={"efficientnet": width}, dtype="float16")
            del X
            for mode, budget in modes.items():
                out = subprocess.run([sys.executable, "-m", "aesthetic.benchmarks.speed.bench_selection",
                                      "--ga-memory-child", str(path), "--ga-memory-budget", str(budget)],
                                     capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    raise RuntimeError(f"GA memory child ({mode}, {n}) failed: {out.stderr[-2000:]}")
                results[(mode, n)] = r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"GA fit_store {mode:8s} {n:6d} rows x {width}: {r['seconds']:.1f}s, peak numpy/Python "
                      f"{r['traced_mb']:.1f} MB, peak RSS {r['rss_mb']:.0f} MB", flush=True)
    small, large = min(rows), max(rows)
    notes = (f"{width}-wide float16 store, population 6, k 16, FC hidden 8, 1 epoch, generation 0; peak of "
             f"numpy and Python allocations (tracemalloc) in a fresh process; the store read {STREAM_CHUNK_ROWS} "
             f"rows at a time (streamed: every epoch; in RAM: once, into one array)")
    out_rows = []
    for mode in modes:
        a, b = results[(mode, small)], results[(mode, large)]
        out_rows.append({"name": f"GA fit_store peak memory, features {mode}, {large} images", "figure": b["traced_mb"],
                         "unit": "MB", "baseline": f"same at {small} images: {a['traced_mb']:.1f} MB",
                         "ratio": b["traced_mb"] / a["traced_mb"],
                         "notes": notes + f"; ratio = {large} / {small} images (1.0 = does not grow); peak RSS "
                                          f"{a['rss_mb']:.0f} -> {b['rss_mb']:.0f} MB; {a['seconds']:.1f}s -> "
                                          f"{b['seconds']:.1f}s"})
    return out_rows


def pca_rows(rows: Sequence[int], width: int, components: int, batch_size: int) -> list[dict]:
    from aesthetic.genetic_selection.synthetic import write_synthetic_store

    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench_selection_") as tmp:
        rng = np.random.default_rng(0)
        mixing = rng.standard_normal((64, width)).astype(np.float32)
        for n in rows:
            path = Path(tmp) / f"pca_{n}.h5"
            X = np.empty((n, width), np.float32)
            for lo in range(0, n, 1024):  # low-rank structure plus noise, like pooled CNN features
                m = min(1024, n - lo)
                X[lo:lo + m] = rng.standard_normal((m, 64)).astype(np.float32) @ mixing \
                    + 0.5 * rng.standard_normal((m, width)).astype(np.float32)
            write_synthetic_store(path, X, branches={"efficientnet": width}, dtype="float16")
            del X
            for method in ("branchpca", "sklearn"):
                results[(method, n)] = r = measure_pca(path, method, components, batch_size)
                print(f"PCA {method:9s} {n:6d} rows x {width}: {r['seconds']:.1f}s, peak numpy "
                      f"{r['traced_mb']:.0f} MB, peak RSS {r['rss_mb']:.0f} MB "
                      f"(after imports and store open {r['rss_before_mb']:.0f} MB)", flush=True)
    small, large = min(rows), max(rows)
    ours = (results[("branchpca", small)], results[("branchpca", large)])
    theirs = (results[("sklearn", small)], results[("sklearn", large)])
    notes = (f"{width}-wide float16 store (efficientnet-shaped) -> {components} components, "
             f"batch {batch_size} rows; peak of numpy allocations (tracemalloc) in a fresh process")
    return [
        {"name": f"BranchPCA.fit_store peak memory, {large} images", "figure": ours[1]["traced_mb"], "unit": "MB",
         "baseline": f"same at {small} images: {ours[0]['traced_mb']:.0f} MB",
         "ratio": ours[1]["traced_mb"] / ours[0]["traced_mb"],
         "notes": notes + f"; ratio = {large} / {small} images (1.0 = does not grow); peak RSS "
                          f"{ours[0]['rss_mb']:.0f} -> {ours[1]['rss_mb']:.0f} MB; "
                          f"{ours[0]['seconds']:.1f}s -> {ours[1]['seconds']:.1f}s"},
        {"name": f"sklearn PCA in memory peak memory, {large} images", "figure": theirs[1]["traced_mb"], "unit": "MB",
         "baseline": f"same at {small} images: {theirs[0]['traced_mb']:.0f} MB",
         "ratio": theirs[1]["traced_mb"] / theirs[0]["traced_mb"],
         "notes": notes + f"; the baseline that grows with the data; BranchPCA at {large} images: "
                          f"{ours[1]['traced_mb']:.0f} MB ({theirs[1]['traced_mb'] / ours[1]['traced_mb']:.1f}x less); "
                          f"{theirs[0]['seconds']:.1f}s -> {theirs[1]['seconds']:.1f}s"},
    ]


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description="GA s/generation (batched vs one model at a time), PCA peak memory")
    parser.add_argument("--images", type=int, nargs="+", default=[512],
                        help="Synthetic images for the GA fitness; two or more sizes add a projection.")
    parser.add_argument("--project-images", type=int, default=80000,
                        help="Images the GA generation is projected to when --images gives several sizes.")
    parser.add_argument("--ga-memory-rows", type=int, nargs=2, default=None,
                        help="Also measure GA fit_store's peak memory at these two image counts (streamed vs in RAM).")
    parser.add_argument("--features", type=int, default=19488, help="Fused width (multigap + efficientnet).")
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=10, help="FC epochs per evaluation (the GA default).")
    parser.add_argument("--baseline-individuals", type=int, default=10,
                        help="Individuals the one-at-a-time loop is timed on (extrapolated to a generation).")
    parser.add_argument("--pca-rows", type=int, nargs=2, default=[3000, 12000],
                        help="Two image counts, both above --pca-width so both take the covariance path.")
    parser.add_argument("--pca-width", type=int, default=2560)
    parser.add_argument("--pca-components", type=int, default=1280)
    parser.add_argument("--pca-batch-size", type=int, default=1024)
    parser.add_argument("--skip-ga", action="store_true")
    parser.add_argument("--skip-pca", action="store_true")
    parser.add_argument("--precision-rounds", type=int, default=0,
                        help="also time GA generations in fp32 vs bf16 fitness, alternating, this many rounds")
    parser.add_argument("--quick", action="store_true",
                        help="256 images, population 20, k 1000, 2 epochs, 3 baseline individuals, "
                             "PCA 600/2400 x 512 in batches of 250.")
    parser.add_argument("--pca-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pca-method", default="branchpca", help=argparse.SUPPRESS)
    parser.add_argument("--ga-memory-width", type=int, default=2048, help="Store width for --ga-memory-rows.")
    parser.add_argument("--ga-memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ga-memory-budget", type=float, default=0.01, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    prefer_onednn()  # the CPU kernels `aesthetic select ga` runs with, before TensorFlow starts
    if args.pca_child:
        print(json.dumps(pca_child(args.pca_child, args.pca_method, args.pca_components, args.pca_batch_size)))
        return []
    if args.ga_memory_child:
        print(json.dumps(ga_memory_child(args.ga_memory_child, args.ga_memory_budget)))
        return []
    if args.quick:
        args.images, args.population, args.k, args.epochs, args.baseline_individuals = [256], 20, 1000, 2, 3
        args.pca_rows, args.pca_width, args.pca_components, args.pca_batch_size = [600, 2400], 512, 256, 250
    rows = []
    if not args.skip_ga:
        sizes = sorted(set(args.images))
        measured = [ga_rows(n, args.features, args.population, args.k, args.epochs, args.baseline_individuals,
                            name_suffix=f", {n} images" if len(sizes) > 1 else "") for n in sizes]
        ga = [generation for generation, _ in measured]
        if len(sizes) > 1:
            ga.append(ga_projection_row(ga, sizes, args.project_images))
        rows += [{key: value for key, value in row.items() if key not in ("loop_seconds", "sizes")} for row in ga]
        rows += [compute for _, compute in measured]
    if args.ga_memory_rows:
        rows += ga_memory_rows(sorted(args.ga_memory_rows), args.ga_memory_width)
    if args.precision_rounds:
        rows += ga_precision_rows(args.images[0], args.features, args.population, args.k, args.epochs,
                                  args.precision_rounds)
    if not args.skip_pca:
        rows += pca_rows(sorted(args.pca_rows), args.pca_width, args.pca_components, args.pca_batch_size)
    print()
    for row in rows:
        print(f"{row['name']}: {row['figure']:.2f} {row['unit']}  (ratio {row['ratio']:.2f} vs {row['baseline']})")
        print(f"    {row['notes']}")
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
