"""images/s of `predict` (files in, P(aesthetic) out): the full two-branch model vs the end-to-end student.

Full = ``AestheticModel.predict``: decode, InceptionResNetV2 multi-GAP (max side 996 x
``input_scale``) + EfficientNetB7 (letterbox 600 x ``input_scale``), fused 19488 features
-> FC. Student = ``StudentModel.predict``: decode, squash to 224x224, MobileNet v1 + head.
Both are real bundles loaded with ``load_model`` and run in the same process on the same
real photos; the weights do not change the speed, so the full model uses random weights
(``weights=None``, nothing to download) and an untrained FC, and the student starts from the
NIMA file when present. Each model is warmed up on the photos once (tracing every input
shape), then timed in alternating rounds; the best round counts.

    python -m aesthetic.benchmarks.speed.bench_predict [--images 8] [--input-scale 1.0] [--quick]

Rows follow the speed-suite contract (see benchmarks/speed/run_all.py).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from aesthetic.benchmarks.speed.bench_extraction import real_photos

log = logging.getLogger("aesthetic.benchmarks.speed.bench_predict")


def full_bundle(out: Path, input_scale: float, seed: int = 0) -> Path:
    """A full multigap + efficientnet bundle with random backbone weights and an untrained FC."""
    from aesthetic.classifier.fc import build_fc
    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.genetic_selection.base import AllFeatures
    from aesthetic.bundles.model import save_full_bundle

    extractor = FeatureExtractor(["multigap", "efficientnet"], weights=None, input_scale=input_scale, seed=seed)
    widths = extractor.widths
    selector = AllFeatures().fit(np.zeros((1, sum(widths.values())), np.float32), branches=widths)
    fc = build_fc(selector.n_features_out_, seed=seed)
    return save_full_bundle(out, fc_model=fc, selector=selector, extractor_config=extractor.config().model_dump(),
                            threshold=0.5, metrics={}, extra_config={"note": "speed benchmark: untrained"})


def student_bundle(out: Path, nima_file: Path | None) -> Path:
    from aesthetic.classifier.student import StudentConfig, build_student
    from aesthetic.bundles.build import save_student_bundle

    return save_student_bundle(out, build_student(224, nima_file), 0.5, StudentConfig(), {},
                               {"note": "speed benchmark: untrained head"})


def images_per_second(model, paths: list[str]) -> float:
    t = time.perf_counter()
    result = model.predict(paths, progress=False)
    elapsed = time.perf_counter() - t
    if not result.ok.all():
        raise RuntimeError(f"predict failed on: {result.failures()[:3]}")
    return len(paths) / elapsed


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description="predict images/s: full two-branch model vs end-to-end student")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--input-scale", type=float, default=1.0,
                        help="Full model's input policies x this (1.0 = max side 996 / letterbox 600).")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--student", type=Path, default=None, help="A trained student bundle (default: build one).")
    parser.add_argument("--quick", action="store_true", help="4 images, input scale 0.25, 1 round.")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.images, args.input_scale, args.rounds = 4, 0.25, 1

    from aesthetic.bundles.model import load_model
    from aesthetic.feature_extraction.nima import default_weights_path

    paths = real_photos(args.images)
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        full = load_model(full_bundle(Path(tmp) / "full", args.input_scale))
        student = load_model(args.student or student_bundle(Path(tmp) / "student", default_weights_path()))
        for model in (full, student):  # warm-up: build, trace every input shape
            model.predict(paths, progress=False)
        best = {"full": 0.0, "student": 0.0}
        for _ in range(args.rounds):
            for name, model in (("full", full), ("student", student)):
                best[name] = max(best[name], images_per_second(model, paths))
    side = int(round(996 * args.input_scale))
    box = int(round(600 * args.input_scale))
    full_name = f"predict full two-branch model (multigap max side {side} + efficientnet {box}x{box})"
    notes = (f"{len(paths)} real photos (curated_vs_snapshot, max side 500), files in -> P out, best of "
             f"{args.rounds} round(s) after a warm-up; random backbone weights (speed is weight-independent)")
    rows = [
        {"name": full_name, "figure": best["full"], "unit": "images/s", "baseline": "", "ratio": None,
         "notes": notes},
        {"name": "predict end-to-end student (MobileNet v1 224x224)", "figure": best["student"], "unit": "images/s",
         "baseline": f"full two-branch model: {best['full']:.2f} images/s", "ratio": best["student"] / best["full"],
         "notes": notes + "; ratio = student / full"},
    ]
    for row in rows:
        print(f"{row['name']}: {row['figure']:.2f} {row['unit']}"
              + (f"  (x{row['ratio']:.1f} vs {row['baseline']})" if row["ratio"] else ""))
    return rows


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    main()
