"""Seconds per explanation through the end-to-end student and through the full two-branch model.

An explanation is ``--samples`` perturbed copies of one photo scored by the model (LIME: 1000 by
default; SHAP costs the same number of model calls), so its cost is almost all model time. This
benchmark explains the same photo with the same superpixels and samples through both paths in
the same run and prints the ratio full / student.

    python -m aesthetic.benchmarks.speed.bench_explain                      # 1000 samples, built bundles
    python -m aesthetic.benchmarks.speed.bench_explain --quick              # 30 samples
    python -m aesthetic.benchmarks.speed.bench_explain --model BUNDLE       # a trained bundle + BUNDLE/student

Without ``--model`` both paths are real bundles built for speed and loaded with ``load_model``
(the weights do not change the cost): *full* = multigap (InceptionResNetV2, 43 pooled mixed
layers) + efficientnet (EfficientNetB7) at ``--input-scale`` of their product input size ->
FC; *student* = MobileNet v1 end to end at 224 x 224. At ``--input-scale 1`` the full path has
the product's geometry (max side 996, letterbox 600); the default 0.25 keeps a CPU run within
minutes and so understates the full model's real cost (and the ratio).

Rows follow the speed-suite contract (see benchmarks/speed/run_all.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aesthetic.explain.perturb import ScoreFn  # noqa: E402
from aesthetic.explain.superpixels import SegmentationConfig, segment  # noqa: E402

log = logging.getLogger(__name__)


def time_explanations(score_fns: Mapping[str, ScoreFn], image: np.ndarray, *, num_samples: int = 1000,
                      method: str = "lime", batch_size: int = 32, segmentation: SegmentationConfig | None = None,
                      seed: int = 0, rounds: int = 1) -> dict[str, dict]:
    """Seconds per explanation of ``image`` through each score function, same superpixels and samples.

    Each function is first warmed up on one batch of ``batch_size`` images (graph tracing and
    buffer allocation happen once per process, not per explanation); that time is reported
    separately as ``warmup_s``. With ``rounds > 1`` the paths take turns (a, b, a, b, ...) and the
    median is reported, so a burst of load from other processes hits both paths alike.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    from aesthetic.explain.lime_explainer import explain_lime
    from aesthetic.explain.shap_explainer import explain_shap

    explain = {"lime": explain_lime, "shap": explain_shap}[method]
    segmentation = segmentation or SegmentationConfig()
    segments = segment(image, segmentation)
    warmups = {}
    for name, score_fn in score_fns.items():
        start = time.perf_counter()
        score_fn(np.repeat(image[None], batch_size, axis=0))
        warmups[name] = time.perf_counter() - start
    runs: dict[str, list] = {name: [] for name in score_fns}
    for _ in range(rounds):
        for name, score_fn in score_fns.items():
            explanation = explain(image, score_fn, segments, num_samples=num_samples, batch_size=batch_size,
                                  seed=seed, segmentation=segmentation.describe(), progress=sys.stderr.isatty())
            runs[name].append(explanation)
            log.info("%s: %.2f s per explanation (%d samples)", name, explanation.seconds, num_samples)
    results = {}
    for name, explanations in runs.items():
        seconds = [e.seconds for e in explanations]
        middle = explanations[int(np.argsort(seconds)[len(seconds) // 2])]
        results[name] = {
            "seconds_per_explanation": round(middle.seconds, 3),
            "seconds_all_rounds": [round(s, 3) for s in seconds],
            "samples": middle.n_samples, "images_scored": middle.n_evaluations,
            "samples_per_second": round(middle.samples_per_second, 2),
            "model_share": round(middle.model_seconds / middle.seconds, 4),
            "warmup_s": round(warmups[name], 3), "superpixels": middle.n_superpixels,
            "prediction": round(middle.prediction, 6),
        }
    return results


# --------------------------------------------------------------------------- the two paths

def built_bundles(folder: Path, input_scale: float) -> dict[str, ScoreFn]:
    """Real bundles built for speed (as bench_predict builds them) through ``load_model``.

    full: multigap + efficientnet at ``input_scale`` of their product input size, random backbone
    weights, all features -> untrained FC. student: MobileNet v1 224x224 end to end (NIMA
    backbone when the file is there). The weights do not change the cost.
    """
    from aesthetic.benchmarks.speed.bench_predict import full_bundle, student_bundle
    from aesthetic.bundles.scoring import score_function
    from aesthetic.bundles.model import load_model
    from aesthetic.feature_extraction.nima import default_weights_path

    full = load_model(full_bundle(folder / "full", input_scale))
    student = load_model(student_bundle(folder / "student", default_weights_path()))
    side, box = (int(round(n * input_scale)) for n in (996, 600))
    fns = {"student": score_function(student), "full": score_function(full)}
    fns["student"].describe = "end-to-end student bundle: MobileNet v1 at 224x224"  # type: ignore[attr-defined]
    fns["full"].describe = (f"full bundle: multigap max side {side} + efficientnet {box}x{box} "  # type: ignore[attr-defined]
                            f"-> {sum(full.extractor.widths.values())} features -> FC (random weights)")
    return fns


def user_bundles(bundle: Path) -> dict[str, ScoreFn]:
    """A trained full bundle and its student (``BUNDLE/student``), as ``aesthetic explain`` loads them."""
    from aesthetic.bundles.model import load_model
    from aesthetic.bundles.scoring import resolve_model, score_function

    fns = {}
    for through in ("student", "full"):
        model, where = resolve_model(bundle, through, load_model)
        fns[through] = score_function(model)
        fns[through].describe = f"{through} bundle {where}"  # type: ignore[attr-defined]
    return fns


def benchmark_photo(max_side: int) -> tuple[np.ndarray, str]:
    """A real photo (first of shared/data/curated_vs_snapshot), else skimage's astronaut; at most ``max_side``."""
    from aesthetic.explain.pipeline import working_copy
    from aesthetic.imageio import read_image

    try:
        from aesthetic.benchmarks.speed.bench_extraction import real_photos

        path = real_photos(1)[0]
        image, name = read_image(path), Path(path).name
    except (OSError, ValueError, IndexError):
        from skimage import data

        image, name = data.astronaut(), "skimage astronaut"
    return working_copy(image, max_side), name


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m aesthetic.benchmarks.speed.bench_explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000, help="perturbed samples per explanation")
    parser.add_argument("--method", choices=("lime", "shap"), default="lime")
    parser.add_argument("--image-size", type=int, default=500, help="longer side of the explained photo (pixels)")
    parser.add_argument("--n-segments", type=int, default=50, help="SLIC target superpixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the paths this many times; report medians")
    parser.add_argument("--input-scale", type=float, default=0.25,
                        help="built full bundle: fraction of the branches' product input size (1 = 996 / 600)")
    parser.add_argument("--model", type=Path, help="a trained full bundle (with MODEL/student) instead of built ones")
    parser.add_argument("--json", type=Path, help="also write the full report here (atomically)")
    parser.add_argument("--quick", action="store_true", help="30 samples: seconds, not minutes")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples = 30

    image, photo = benchmark_photo(args.image_size)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_explain_") as tmp:
        start = time.perf_counter()
        fns = user_bundles(args.model) if args.model else built_bundles(Path(tmp), args.input_scale)
        build_s = time.perf_counter() - start
        results = time_explanations(fns, image, num_samples=args.samples, method=args.method,
                                    batch_size=args.batch_size, rounds=args.rounds,
                                    segmentation=SegmentationConfig(n_segments=args.n_segments))
    load_after = os.getloadavg()
    student, full = results["student"], results["full"]
    ratio = full["seconds_per_explanation"] / student["seconds_per_explanation"]
    size = f"{image.shape[1]}x{image.shape[0]}"
    notes = (f"{args.method.upper()}, {args.samples} samples, {photo} at {size}, {student['superpixels']} SLIC "
             f"superpixels, batch {args.batch_size}, median of {args.rounds} round(s) after a warm-up batch; "
             f"1-min load average {load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} CPUs")
    rows = [
        {"name": f"explain ({args.method}, {args.samples} samples, {size}) through {fns['full'].describe}",
         "figure": full["seconds_per_explanation"], "unit": "s/explanation", "baseline": "", "ratio": None,
         "notes": notes},
        {"name": f"explain ({args.method}, {args.samples} samples, {size}) through {fns['student'].describe}",
         "figure": student["seconds_per_explanation"], "unit": "s/explanation",
         "baseline": f"full model: {full['seconds_per_explanation']:.1f} s/explanation", "ratio": ratio,
         "notes": notes + "; ratio = full / student (> 1: the student explains faster)"},
    ]
    print(f"{args.method.upper()} explanation of {photo} at {size}, {args.samples} samples, "
          f"{student['superpixels']} superpixels, batch {args.batch_size}")
    for name in ("student", "full"):
        r = results[name]
        print(f"  {name:8s} {r['seconds_per_explanation']:9.2f} s/explanation  {r['samples_per_second']:8.1f} samples/s"
              f"  ({100 * r['model_share']:.0f}% in the model; warm-up {r['warmup_s']:.1f} s)  [{fns[name].describe}]")
    print(f"  ratio full / student: {ratio:.1f}x   (1-min load average {load_before[0]:.1f} -> {load_after[0]:.1f} "
          f"on {os.cpu_count()} CPUs: other work on the machine slows both paths)")
    if args.json:
        from aesthetic.fileio import atomic_write_text

        report = {"command": "python -m aesthetic.benchmarks.speed.bench_explain " + " ".join(
                      sys.argv[1:] if argv is None else argv),
                  "rows": rows, "results": results, "build_s": round(build_s, 1), "image": photo,
                  "image_size_wh": [image.shape[1], image.shape[0]],
                  "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                              "python": platform.python_version()}}
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return rows


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
