"""How far apart are the pHashes of different photos, and of one photo's burst-like copies?

The numbers behind the defaults of :class:`aesthetic.culling.config.GroupingConfig`: every pair of
different photos in a labelled set, and each photo against copies of itself panned (the camera
moved), cropped (zoomed) and re-exposed, all measured with :func:`aesthetic.phash.phash64`.

    python -m aesthetic.benchmarks.report.culling_thresholds [--labels ../shared/data/curated_vs_snapshot/labels.csv]
        [--out benchmarks/results/culling_thresholds.md]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from aesthetic.shared import CURATED_LABELS, shared_file

THRESHOLDS = (8, 10, 12, 14, 16, 18, 20, 22)


def pan(image: np.ndarray, fraction: float) -> np.ndarray:
    h, w = image.shape[:2]
    return image[int(h * fraction / 2):, int(w * fraction):]


def crop(image: np.ndarray, fraction: float) -> np.ndarray:
    h, w = image.shape[:2]
    dy, dx = int(h * fraction / 2), int(w * fraction / 2)
    return image[dy:h - dy, dx:w - dx]


def edits():
    from aesthetic.degradations import exposure

    return {"pan 3 %": lambda im: pan(im, 0.03), "pan 6 %": lambda im: pan(im, 0.06),
            "pan 10 %": lambda im: pan(im, 0.10), "crop 10 %": lambda im: crop(im, 0.10),
            "+0.7 EV": lambda im: exposure(im, 0.7), "-1 EV": lambda im: exposure(im, -1.0),
            "pan 5 % and +0.5 EV": lambda im: exposure(pan(im, 0.05), 0.5)}


def measure(labels: Path) -> str:
    from aesthetic.phash import hamming_matrix, phash64
    from aesthetic.imageio import read_image

    rows = list(csv.DictReader(open(labels, newline="", encoding="utf-8")))
    images = [read_image(labels.parent / r["path"]) for r in rows]
    hashes = np.array([phash64(im) for im in images], dtype=np.uint64)
    dist = hamming_matrix(hashes, hashes)[np.triu_indices(len(hashes), 1)].astype(int)
    lines = [f"# pHash distances for culling ({len(images)} photos of `{labels.parent.name}`)", "",
             "Made with `python -m aesthetic.benchmarks.report.culling_thresholds`.", "",
             f"Different photos ({len(dist)} pairs): min {dist.min()}, 1st percentile {np.percentile(dist, 1):.0f}, "
             f"median {np.median(dist):.0f} bits of 64.", "",
             "| threshold (bits) | " + " | ".join(str(t) for t in THRESHOLDS) + " |",
             "|---|" + "---|" * len(THRESHOLDS),
             "| pairs of different photos within it | "
             + " | ".join(str(int((dist <= t).sum())) for t in THRESHOLDS) + " |", "",
             "| copy of the same photo | median | 95th percentile | max | joined at 12 | joined at 18 |",
             "|---|---|---|---|---|---|"]
    for name, edit in edits().items():
        d = np.array([bin(int(h) ^ phash64(edit(im))).count("1") for h, im in zip(hashes, images)])
        lines.append(f"| {name} | {np.median(d):.0f} | {np.percentile(d, 95):.0f} | {d.max()} | "
                     f"{np.mean(d <= 12):.0%} | {np.mean(d <= 18):.0%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=shared_file(CURATED_LABELS))
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    text = measure(args.labels)
    print(text)
    if args.out is not None:
        from aesthetic.fileio import atomic_write_text

        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
