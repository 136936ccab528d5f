"""bf16 against fp32 for one branch: seconds per image of the bare forward pass and the features' cosine.

Builds the branch twice (``--precisions`` fp32 and bf16, same seed, so the same random or given
weights), resizes ``--images`` photos once, runs one untimed warm-up pass per precision (tracing),
then ``--rounds`` alternating timed passes; reports the median seconds per image, bf16/fp32 speed,
and the per-image cosine of bf16 features to fp32 ones (min and mean).

    python -m aesthetic.benchmarks.speed.bench_precision --branch multigap --input-scale 1 --images 2

Rows follow the speed-suite contract (benchmarks/speed/run_all.py).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from aesthetic.benchmarks.speed.common import extraction_parser, photos, print_rows

log = logging.getLogger(__name__)


def parser():
    """This benchmark's options: the extraction benchmarks' shared ones and the branch."""
    ap = extraction_parser(__doc__, images=2, input_scale=1.0, batch_size=2, rounds=1,
                           quick="mobilenet at scale 0.25, 2 images")
    ap.add_argument("--branch", default="multigap")
    return ap


def main(argv: list[str] | None = None) -> list[dict]:
    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.precision import bf16_is_native

    args = parser().parse_args(argv)
    if args.quick:
        args.branch, args.input_scale = "mobilenet", 0.25
    with tempfile.TemporaryDirectory() as tmp:
        paths = photos(args.images, Path(tmp))
        fx = {p: FeatureExtractor([args.branch], None, input_scale=args.input_scale, batch_size=args.batch_size,
                                  precision=p) for p in ("fp32", "bf16")}
        resized = [item for item, _ in fx["fp32"].load_many(paths) if item is not None]
    feats, times = {}, {p: [] for p in fx}
    for p, extractor in fx.items():
        log.info("building and tracing %s in %s", args.branch, p)
        feats[p] = extractor.extract_resized(resized)[args.branch]
    for _ in range(args.rounds):
        for p, extractor in fx.items():
            t = time.perf_counter()
            extractor.extract_resized(resized)
            times[p].append((time.perf_counter() - t) / len(resized))
    a, b = feats["fp32"], feats["bf16"]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    med = {p: statistics.median(t) for p, t in times.items()}
    shape = resized[0][args.branch].shape
    size = (f"{len(resized)} photos, input {shape[0]}x{shape[1]} (scale {args.input_scale}), batch "
            f"{args.batch_size}, random weights; bf16 native here: {bf16_is_native()}")
    return [
        {"name": f"{args.branch} bare forward bf16", "figure": round(med["bf16"], 3), "unit": "s/image",
         "baseline": f"fp32: {med['fp32']:.3g} s/image", "ratio": round(med["fp32"] / med["bf16"], 3),
         "notes": f"{size}; ratio = fp32 / bf16 time (> 1: bf16 faster); {args.rounds} alternating round(s) "
                  f"after a warm-up; fp32 {[round(t, 3) for t in times['fp32']]}, bf16 "
                  f"{[round(t, 3) for t in times['bf16']]} s/image"},
        {"name": f"{args.branch} bf16 features, cosine to fp32 (min)", "figure": round(float(cos.min()), 6),
         "unit": "cosine", "baseline": "", "ratio": None,
         "notes": f"{size}; mean {float(cos.mean()):.6f} over {len(cos)} images"},
    ]


if __name__ == "__main__":
    print_rows(main)
