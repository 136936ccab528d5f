"""GPU speed of the product on a JAX or PyTorch machine: extraction branches at full size and GA fitness.

Meant for a GPU machine with PyTorch or JAX and no TensorFlow (run it through ``run.sh``, which
installs Keras and the project from wheels carried in the tree). For each backend and precision
(fp32, bf16) and each batch size of the sweep it times the branch networks at the product's
geometry (multigap: max side 996, a 4:3 photo is 996x747; efficientnet: letterbox 600x600) and
one GA fitness generation, and writes ``benchmarks/results/gpu_<backend>.json`` and ``.md``:
images/s, model GFLOP/s (the backend's own FLOP count of the compiled network) against the
card's measured bf16 and fp32 matmul rate in the same run, and peak device memory.

Random weights (speed does not depend on them; nothing is downloaded). Each figure is the median
of ``--rounds`` timed calls after two warm-up calls (compilation excluded and reported apart).
``--tiny`` shrinks everything (one tenth of the geometry, fp32, batch 2, a small GA) and drops the time
budget, so the script proves every part on a CPU (minutes: building the networks dominates).
Precision: fp32 is Keras' ``float32`` policy, bf16 ``mixed_bfloat16`` (bf16 compute, fp32
variables), set through the project's own setting (``FeatureExtractor(precision=)``,
``FitnessFC(precision=)``); every row records the compute dtype its layers really used.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

log = logging.getLogger("gpu_bench")
REPO = Path(__file__).resolve().parents[2]
# Batches largest first: the throughput figure comes first when the time budget runs short.
FULL = {"batches": [64, 32, 8, 1], "input_scale": 1.0, "matmul": 8192, "ga": (8000, 19488, 100, 5000, 1)}
TINY = {"batches": [2], "input_scale": 0.1, "matmul": 512, "ga": (200, 400, 8, 50, 1)}
TARGET_IMAGES_PER_S = 400.0


def compute_dtype(model) -> str:
    """The compute dtype of the model's first layer with a kernel: what its matmuls really run in."""
    for layer in model._flatten_layers(include_self=False):
        if getattr(layer, "kernel", None) is not None:
            return str(layer.compute_dtype)
    return str(model.compute_dtype)


def sync(backend: str) -> None:
    """Wait for queued device work (outputs are copied to numpy, which waits too; this is for memory)."""
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def reset_peak_memory(backend: str) -> None:
    """Free what the last point left behind and start a new peak (PyTorch keeps freed blocks cached,
    and an out-of-memory point leaves its tensors to the garbage collector)."""
    if backend == "torch":
        import gc

        import torch

        if torch.cuda.is_available():
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


def peak_memory_bytes(backend: str) -> int | None:
    """Peak device memory since the last reset (torch), or since start (JAX); None on CPU."""
    if backend == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None


def flops_of(backend: str, model, x: np.ndarray) -> float | None:
    """FLOPs of one inference call on ``x``, counted by the backend (XLA's cost analysis on JAX,
    ``torch.utils.flop_counter`` on PyTorch)."""
    try:
        if backend == "jax":
            import jax

            if jax.devices()[0].platform == "gpu":
                # XLA's cost analysis leaves out the convolutions it hands to cuDNN (custom calls): on an
                # H200 it gave 1.4 GFLOP for a 239 GFLOP MultiGAP pass. No count beats a wrong one.
                log.info("no FLOP count on a JAX GPU (XLA does not count cuDNN convolutions); "
                         "take GFLOP/image from the PyTorch run of the same geometry")
                return None

            def forward(trainable, frozen, inputs):
                return model.stateless_call(trainable, frozen, inputs, training=False)[0]

            args = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables], x)
            lowered = jax.jit(forward).lower(*args)
            try:  # the lowered module's estimate: no second compilation of a large network
                cost = lowered.cost_analysis()
            except Exception:
                cost = None
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            if not cost or "flops" not in cost:
                cost = lowered.compile().cost_analysis()
                cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            return float(cost["flops"])
        import keras
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(keras.ops.convert_to_tensor(x), training=False)
        return float(counter.get_total_flops())
    except Exception as exc:  # a count is a nicety: never lose the timings for it
        log.warning("could not count FLOPs: %s", exc)
        return None


def fp32_settings(backend: str) -> dict:
    """Whether "fp32" convolutions and matmuls may run as TF32 on the tensor cores (each framework's
    own default, left as found): the fp32 rows mean that, not IEEE fp32 throughout."""
    try:
        if backend == "torch":
            import torch

            return {"cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                    "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                    "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
        import jax

        return {"jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
                "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}
    except Exception as exc:  # a label only
        return {"unknown": str(exc)[:100]}


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """(seconds of the first two calls, compilation included; median seconds of ``rounds`` calls)."""
    t0 = time.perf_counter()
    fn()
    fn()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return warm, statistics.median(times)


def matmul_rate(backend: str, n: int, dtype: str, rounds: int = 5) -> float:
    """Measured FLOP/s of an ``n x n`` matmul in ``dtype`` on the backend's device."""
    import keras

    a = keras.ops.cast(keras.random.normal((n, n), seed=1), dtype)
    b = keras.ops.cast(keras.random.normal((n, n), seed=2), dtype)
    if backend == "jax":
        import jax

        mm = jax.jit(lambda x, y: x @ y)
        run = lambda: mm(a, b).block_until_ready()  # noqa: E731
    else:
        run = lambda: (keras.ops.matmul(a, b), sync(backend))  # noqa: E731
    _, seconds = timed(run, rounds)
    return 2.0 * n ** 3 / seconds


def branch_rows(backend: str, precision: str, settings: dict, rounds: int, deadline: float,
                slots_left: int) -> list[dict]:
    """Images/s of each branch over the batch sweep in one precision. Each branch of each precision
    (``slots_left`` of them still to come, this call's two included) gets an equal share of the
    time left, so a slow first branch cannot starve the others."""
    import keras

    from aesthetic.backend import inference_fn
    from aesthetic.feature_extraction.extractor import FeatureExtractor

    rows = []
    for branch in ("multigap", "efficientnet"):
        keras.backend.clear_session()
        share = (deadline - time.monotonic()) / max(slots_left, 1)
        slot_deadline = min(deadline, time.monotonic() + share)
        slots_left -= 1
        t = time.perf_counter()
        fx = FeatureExtractor([branch], weights=None, input_scale=settings["input_scale"], precision=precision)
        height, width = fx.data_configs[branch].policy.output_shape(1500, 2000)  # a 4:3 photo
        model = fx.model(branch)
        build_s = time.perf_counter() - t
        dtype = compute_dtype(model)
        fn = inference_fn(model)
        counted = False
        for batch in settings["batches"]:
            row = {"backend": backend, "precision": precision, "compute_dtype": dtype, "branch": branch,
                   "batch": batch, "input": f"{width}x{height}", "build_s": build_s}
            if time.monotonic() > slot_deadline:
                rows.append({**row, "skipped": "time budget spent"})
                continue
            x = np.random.default_rng(batch).uniform(-1, 1, (batch, height, width, 3)).astype(np.float32)
            reset_peak_memory(backend)
            try:
                warm, seconds = timed(lambda: fn(x), rounds)
            except Exception as exc:  # out of memory at a large batch: record it and go on
                rows.append({**row, "skipped": f"{type(exc).__name__}: {str(exc)[:200]}"})
                continue
            peak = _gib(peak_memory_bytes(backend))
            flops = None
            if not counted:  # FLOPs per image do not depend on the batch: count once, on one image
                flops = flops_of(backend, model, x[:1])
                counted = flops is not None
            rows.append({**row, "images_per_s": batch / seconds, "seconds_per_batch": seconds,
                         "warmup_s": warm, "gflop_per_image": flops / 1e9 if flops else None,
                         "peak_memory_gib": peak})
            log.info("%s %s (%s) %s batch %d: %.1f images/s", backend, precision, dtype, branch, batch,
                     batch / seconds)
        del fn, model, fx
        reset_peak_memory(backend)  # the next branch starts with the memory this one held
    return rows


def ga_flops(n_train: int, n_val: int, population: int, k: int, hidden: tuple[int, ...], epochs: int) -> float:
    """Matmul FLOPs of one GA generation: every individual's FC trained ``epochs`` times over the
    training rows (forward, and backward at twice the forward) and scored once on the validation rows."""
    widths = (k, *hidden, 1)
    per_row = sum(2 * a * b for a, b in zip(widths, widths[1:]))  # forward multiply-adds
    return population * (3 * per_row * n_train * epochs + per_row * n_val)


def ga_row(backend: str, settings: dict, precision: str) -> dict:
    """One GA fitness generation on synthetic fused features, the FC's matmuls in ``precision``."""
    import keras

    from aesthetic.genetic_selection.fitness import ArraySource, FCFitness, FitnessFC

    keras.backend.clear_session()
    n_rows, n_features, population, k, epochs = settings["ga"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    y = (X[:, :10].sum(axis=1) > 0).astype(np.float32)
    n_train = int(n_rows * 0.8)
    spec = FitnessFC(epochs=epochs, precision=precision)
    fitness = FCFitness(ArraySource(X, np.arange(n_train), y[:n_train]),
                        ArraySource(X, np.arange(n_train, n_rows), y[n_train:]), spec, seed=0)
    individuals = np.stack([rng.choice(n_features, k, replace=False) for _ in range(population)])
    reset_peak_memory(backend)
    t = time.perf_counter()
    fitness(individuals, 0)  # traces / compiles
    first = time.perf_counter() - t
    t = time.perf_counter()
    scores = fitness(individuals, 1)
    sync(backend)
    seconds = time.perf_counter() - t
    flops = ga_flops(n_train, n_rows - n_train, population, k, tuple(spec.hidden), epochs)
    return {"backend": backend, "precision": precision, "population": population, "k": k,
            "n_features": n_features, "train_rows": n_train, "epochs": epochs, "batch_size": spec.batch_size,
            "seconds_per_generation": seconds, "first_generation_s": first,
            "individuals_per_s": population / seconds, "gflop_per_generation": flops / 1e9,
            "gflop_per_s": flops / 1e9 / seconds, "mean_fitness": float(np.mean(scores)),
            "peak_memory_gib": _gib(peak_memory_bytes(backend))}


def _gib(n: int | None) -> float | None:
    return None if n is None else n / 1024**3


GA_RESERVE_S = 60.0  # of the budget, kept for the GA rows after the branch sweep


def run(backend: str, tiny: bool, rounds: int, budget_s: float, precisions: list[str],
        save: Callable[[dict], None] = lambda doc: None, batches: list[int] | None = None) -> dict:
    """Everything for one backend (this process's); returns the JSON document, and hands it to
    ``save`` after every step, so a run stopped by its time limit still leaves what it measured."""
    import keras

    from aesthetic.backend import describe, device_name

    settings = {**(TINY if tiny else FULL), **({"batches": batches} if batches else {})}
    # --tiny proves every part runs, so it has no budget; the full run skips what does not fit.
    deadline = float("inf") if tiny else time.monotonic() + budget_s
    doc = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "tiny": tiny,
           "device": device_name(), "host": platform.node(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           **describe(), "rounds": rounds, "fp32_settings": fp32_settings(backend),
           "matmul_tflops": {p: matmul_rate(backend, settings["matmul"], dt) / 1e12
                             for p, dt in (("bf16", "bfloat16"), ("fp32", "float32"))},
           "branches": [], "ga": [], "target": {}}
    log.info("matmul rate: %s TFLOP/s", doc["matmul_tflops"])
    save(doc)
    branch_deadline = deadline - (0 if tiny else GA_RESERVE_S)
    for i, precision in enumerate(precisions):
        slots_left = 2 * (len(precisions) - i)
        doc["branches"] += branch_rows(backend, precision, settings, rounds, branch_deadline, slots_left)
        _fill_rates(doc)
        doc["target"] = target_check(doc["branches"])
        save(doc)
    for precision in ("bf16", "fp32") if not tiny else precisions:
        if time.monotonic() >= deadline:
            doc["ga"].append({"precision": precision, "skipped": "time budget spent"})
            continue
        row = ga_row(backend, settings, precision)
        peak = doc["matmul_tflops"][precision] * 1e3
        row["fraction_of_matmul_rate"] = row["gflop_per_s"] / peak if peak else None
        doc["ga"].append(row)
        log.info("%s GA %s: %.2f s/generation", backend, precision, row["seconds_per_generation"])
        save(doc)
    keras.backend.clear_session()
    return doc


def _fill_rates(doc: dict) -> None:
    """GFLOP/s and fraction of the matmul rate of every measured row (FLOPs per image counted once
    per branch: they do not depend on the batch)."""
    for row in doc["branches"]:
        if row.get("gflop_per_image") is None:
            same = [r for r in doc["branches"] if r["branch"] == row["branch"] and r.get("gflop_per_image")]
            row["gflop_per_image"] = same[0]["gflop_per_image"] if same else None
        if row.get("gflop_per_image") and row.get("images_per_s"):
            row["gflop_per_s"] = row["gflop_per_image"] * row["images_per_s"]
            peak = doc["matmul_tflops"][row["precision"]] * 1e3
            row["fraction_of_matmul_rate"] = row["gflop_per_s"] / peak if peak else None


def target_check(rows: list[dict]) -> dict:
    """Both branches on every image: best images/s of each, combined as 1 / (1/a + 1/b)."""
    best = {}
    for branch in ("multigap", "efficientnet"):
        rates = [(r["images_per_s"], r["precision"], r["batch"]) for r in rows
                 if r["branch"] == branch and r.get("images_per_s")]
        best[branch] = max(rates) if rates else None
    if not all(best.values()):
        return {"both_branches_images_per_s": None, "target": TARGET_IMAGES_PER_S, "met": None}
    combined = 1.0 / sum(1.0 / best[b][0] for b in best)
    return {"both_branches_images_per_s": combined, "target": TARGET_IMAGES_PER_S,
            "met": combined >= TARGET_IMAGES_PER_S,
            "best": {b: {"images_per_s": v[0], "precision": v[1], "batch": v[2]} for b, v in best.items()}}


def markdown(doc: dict) -> str:
    """The results as a Markdown page (what benchmarks/results/ keeps beside the JSON)."""
    lines = [f"# GPU benchmark: {doc['backend']} on {doc['device']}", "",
             f"Command: `{doc['command']}`  ", f"Created {doc['created']} on {doc['host']}; "
             f"{doc['backend']} {doc['backend_version']}, Keras {doc['keras_version']}"
             + (" (--tiny: a CPU proof run, not the product's sizes)" if doc["tiny"] else ""), "",
             f"fp32 settings as found: {doc.get('fp32_settings')}", "",
             "Measured matmul rate: " + ", ".join(f"{p} {v:.1f} TFLOP/s" for p, v in doc["matmul_tflops"].items()), "",
             "| branch | input | precision (compute dtype) | batch | images/s | GFLOP/image | GFLOP/s | of matmul rate "
             "| peak GiB | warm-up s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for r in doc["branches"]:
        if "skipped" in r:
            lines.append(f"| {r['branch']} | {r['input']} | {r['precision']} | {r['batch']} | skipped: {r['skipped']} |||||")
            continue
        lines.append(f"| {r['branch']} | {r['input']} | {r['precision']} ({r.get('compute_dtype', '?')}) | "
                     f"{r['batch']} | {r['images_per_s']:.1f} | "
                     f"{fmt(r.get('gflop_per_image'), '.1f')} | {fmt(r.get('gflop_per_s'), '.1f')} | "
                     f"{fmt(r.get('fraction_of_matmul_rate'), '.0%')} | {fmt(r.get('peak_memory_gib'), '.2f')} | "
                     f"{r['warmup_s']:.1f} |")
    target = doc["target"]
    for ga in doc["ga"]:
        if "skipped" in ga:
            lines += ["", f"GA fitness {ga['precision']}: skipped ({ga['skipped']})."]
            continue
        lines += ["", f"GA fitness, {ga['precision']}: population {ga['population']} x k {ga['k']} of "
                      f"{ga['n_features']}, {ga['train_rows']} training rows, batch {ga['batch_size']}, "
                      f"{ga['epochs']} epoch(s): {ga['seconds_per_generation']:.2f} s per generation "
                      f"({ga['individuals_per_s']:.1f} individuals/s; first generation {ga['first_generation_s']:.1f} s "
                      f"with compilation); {ga['gflop_per_generation']:.0f} GFLOP of matmuls, "
                      f"{ga['gflop_per_s']:.0f} GFLOP/s = {ga['fraction_of_matmul_rate']:.1%} of the {ga['precision']} "
                      f"matmul rate."]
    lines += ["", f"Target (both branches >= {TARGET_IMAGES_PER_S:.0f} images/s): "
                  + ("not measured" if target.get("met") is None else
                     f"{target['both_branches_images_per_s']:.1f} images/s, {'met' if target['met'] else 'NOT met'}"), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes: prove the script on a CPU")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per point (median)")
    parser.add_argument("--budget-s", type=float, default=360, help="skip remaining sweep points after this")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated fp32,bf16 (default both; fp32 alone with --tiny: bf16 convolutions "
                             "on a CPU take minutes)")
    parser.add_argument("--batches", default=None, help="comma-separated batch sizes (default 64,32,8,1)")
    parser.add_argument("--tag", default="", help="suffix of the result files (gpu_<backend>_<tag>.json)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from aesthetic.backend import backend_name
    from aesthetic.fileio import atomic_write_text

    backend = backend_name()
    if backend not in ("jax", "torch"):
        parser.error(f"run with KERAS_BACKEND=jax or torch (this process runs on '{backend}')")
    precisions = (args.precisions or ("fp32" if args.tiny else "bf16,fp32")).split(",")
    stem = f"gpu_{backend}" + ("_tiny" if args.tiny else "") + (f"_{args.tag}" if args.tag else "")
    args.out.mkdir(parents=True, exist_ok=True)

    def save(doc: dict) -> None:
        atomic_write_text(args.out / f"{stem}.json", json.dumps(doc, indent=1) + "\n")
        atomic_write_text(args.out / f"{stem}.md", markdown(doc))

    batches = [int(b) for b in args.batches.split(",")] if args.batches else None
    doc = run(backend, args.tiny, args.rounds, args.budget_s, precisions, save, batches)
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
