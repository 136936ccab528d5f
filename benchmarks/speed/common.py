"""What the extraction speed benchmarks (:mod:`.bench_steer`, :mod:`.bench_precision`) share: the photos
they time, their common command-line options and how they run as a script."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable

import numpy as np

#: The options :func:`extraction_parser` adds, by destination name.
SHARED_OPTIONS = ("images", "input_scale", "batch_size", "rounds", "quick")


def photos(n: int, folder: Path) -> list[str]:
    """``n`` real photos from the shared set when it is there, else synthetic JPEGs written to ``folder``."""
    try:
        from aesthetic.benchmarks.speed.bench_extraction import real_photos

        paths = real_photos(n)
        if len(paths) == n and all(Path(p).exists() for p in paths):
            return paths
    except OSError:
        pass
    import cv2

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        h, w = (768, 1024) if i % 2 == 0 else (1024, 768)
        img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
        out.append(str(folder / f"synthetic_{i:03d}.jpg"))
        cv2.imwrite(out[-1], img)
    return out


def extraction_parser(doc: str, *, images: int, input_scale: float, batch_size: int, rounds: int,
                      quick: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first line with the options every extraction benchmark takes
    (:data:`SHARED_OPTIONS`) at the given defaults; ``quick`` says what ``--quick`` shrinks to. The
    caller adds its own options and applies its ``--quick`` sizes."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--images", type=int, default=images,
                    help="photos timed (real ones from the shared set when it is there, else synthetic)")
    ap.add_argument("--input-scale", type=float, default=input_scale,
                    help="1 = product geometry (max side 996, letterbox 600)")
    ap.add_argument("--batch-size", type=int, default=batch_size)
    ap.add_argument("--rounds", type=int, default=rounds, help="alternating timed rounds after one warm-up")
    ap.add_argument("--quick", action="store_true", help=quick)
    return ap


def print_rows(main: Callable[[], list[dict]]) -> None:
    """Run a benchmark's ``main`` as a script: progress logged, one row printed per line."""
    logging.basicConfig(level=logging.INFO)
    for row in main():
        print(row)
