"""Seconds per explanation through the end-to-end student and through the full two-branch model.

An explanation is ``--samples`` perturbed copies of one photo scored by the model (LIME: 1000 by
default; SHAP costs the same number of model calls), so its cost is almost all model time; this
benchmark measures both paths in the same run on the same photo and superpixels and prints the
ratio full / student.

    python -m aesthetic.benchmarks.bench_explain                      # 1000 samples, stand-in models
    python -m aesthetic.benchmarks.bench_explain --samples 100        # quick check
    python -m aesthetic.benchmarks.bench_explain --model BUNDLE       # real bundles (full + BUNDLE/student)

Without ``--model`` the two paths are stand-ins with the real architectures and random weights
(costs do not depend on the weights): *full* = the multigap (InceptionResNetV2, 43 pooled mixed
layers) and efficientnet (EfficientNetB7) branches at ``--input-scale`` of their product input
size, a random feature selection and a random dense head; *student* = MobileNet (alpha 1.0) at
224 x 224 with a dense head. At ``--input-scale 1`` the full path is the product's geometry
(max side 996 and letterbox 600); the default 0.25 keeps a CPU run within minutes and
understates the full model's real cost.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Mapping

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


# --------------------------------------------------------------------------- stand-in models

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fallback_full(input_scale: float = 0.25, batch_size: int = 32, seed: int = 0,
                  keep_fraction: float = 0.25) -> ScoreFn:
    """Both real branches (weights None) at ``input_scale`` -> random column selection -> random dense head."""
    from aesthetic.feature_extraction import FeatureExtractor

    extractor = FeatureExtractor(branches=["multigap", "efficientnet"], weights=None, input_scale=input_scale,
                                 batch_size=batch_size, seed=seed)
    rng = np.random.default_rng(seed)
    width = sum(extractor.widths.values())
    selected = np.sort(rng.choice(width, size=int(width * keep_fraction), replace=False))
    hidden = rng.normal(size=(len(selected), 64)) / np.sqrt(len(selected))
    out = rng.normal(size=64) / 8.0

    def score(images: np.ndarray) -> np.ndarray:
        features = extractor.extract_arrays(list(images))
        fused = np.concatenate([features[name] for name in extractor.branch_names], axis=1)[:, selected]
        fused = fused / (np.linalg.norm(fused, axis=1, keepdims=True) + 1e-9) * np.sqrt(len(selected))
        return _sigmoid(np.maximum(fused @ hidden, 0) @ out)

    score.describe = (f"multigap+efficientnet (weights None) at input_scale {input_scale} "  # type: ignore[attr-defined]
                      f"({extractor.policies['multigap'].describe()}, {extractor.policies['efficientnet'].describe()}) "
                      f"-> {len(selected)} selected columns -> dense 64 -> 1")
    return score


def fallback_student(size: int = 224, seed: int = 0) -> ScoreFn:
    """MobileNet (alpha 1.0, weights None) at ``size x size`` -> dense sigmoid: the end-to-end student's cost."""
    import keras
    import tensorflow as tf

    from aesthetic.imageio import Resize

    keras.utils.set_random_seed(seed)
    base = keras.applications.MobileNet(input_shape=(size, size, 3), alpha=1.0, include_top=False, pooling="avg",
                                        weights=None)
    model = keras.Sequential([base, keras.layers.Dense(1, activation="sigmoid")])
    forward = tf.function(lambda x: model(x, training=False),  # one trace for every batch size
                          input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    policy = Resize(height=size, width=size)

    def score(images: np.ndarray) -> np.ndarray:
        batch = np.stack([policy.apply(im) for im in images]).astype(np.float32) / 127.5 - 1.0
        return forward(tf.constant(batch)).numpy().reshape(-1).astype(np.float64)

    score.describe = f"MobileNet alpha 1.0 (weights None) at {size}x{size} -> dense 1"  # type: ignore[attr-defined]
    return score


def real_models(bundle: Path) -> dict[str, ScoreFn]:
    """The full bundle and its student (``BUNDLE/student``) through ``aesthetic.model.load_model``."""
    from aesthetic.explain.cli import _load_model, resolve_model, score_function

    fns = {}
    for through in ("student", "full"):
        model, where = resolve_model(bundle, through, _load_model)
        fns[through] = score_function(model)
        fns[through].describe = f"{through} bundle {where}"  # type: ignore[attr-defined]
    return fns


def _test_photo(size: int) -> np.ndarray:
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m aesthetic.benchmarks.bench_explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000, help="perturbed samples per explanation")
    parser.add_argument("--method", choices=("lime", "shap"), default="lime")
    parser.add_argument("--image-size", type=int, default=256, help="the explained photo is SIZE x SIZE")
    parser.add_argument("--n-segments", type=int, default=50, help="SLIC target superpixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the paths this many times; report medians")
    parser.add_argument("--input-scale", type=float, default=0.25,
                        help="stand-in full model: fraction of the branches' product input size")
    parser.add_argument("--model", type=Path, help="real full bundle (with MODEL/student) instead of stand-ins")
    parser.add_argument("--json", type=Path, help="also write the results here (atomically)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    image = _test_photo(args.image_size)
    load_before = os.getloadavg()
    start = time.perf_counter()
    if args.model:
        fns = real_models(args.model)
    else:
        fns = {"student": fallback_student(), "full": fallback_full(args.input_scale, args.batch_size)}
    build_s = time.perf_counter() - start
    results = time_explanations(fns, image, num_samples=args.samples, method=args.method,
                                batch_size=args.batch_size, segmentation=SegmentationConfig(n_segments=args.n_segments),
                                rounds=args.rounds)
    ratio = results["full"]["seconds_per_explanation"] / results["student"]["seconds_per_explanation"]
    report = {
        "benchmark": "seconds per explanation, full vs student",
        "command": "python -m aesthetic.benchmarks.bench_explain " + " ".join(sys.argv[1:] if argv is None else argv),
        "method": args.method, "samples": args.samples, "image_size_wh": [args.image_size, args.image_size],
        "batch_size": args.batch_size, "paths": {name: getattr(fn, "describe", name) for name, fn in fns.items()},
        "results": results, "ratio_full_over_student": round(ratio, 2), "build_s": round(build_s, 1),
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
    }
    print(f"{args.method.upper()} explanation of a {args.image_size}x{args.image_size} photo, {args.samples} samples, "
          f"{results['student']['superpixels']} superpixels, batch {args.batch_size}")
    for name in ("student", "full"):
        r = results[name]
        print(f"  {name:8s} {r['seconds_per_explanation']:9.2f} s/explanation  {r['samples_per_second']:8.1f} samples/s"
              f"  ({100 * r['model_share']:.0f}% in the model; warm-up {r['warmup_s']:.1f} s)  [{report['paths'][name]}]")
    print(f"  ratio full / student: {ratio:.1f}x   (1-min load average {report['machine']['load_average_1m_before_after']}"
          f" before/after on {os.cpu_count()} CPUs: other work on the machine slows both paths)")
    if args.json:
        from aesthetic.feature_store import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
