"""Which photos are frames of one scene: perceptual-hash distance, loosened inside a burst.

Two photos are joined when

* their 64-bit pHash (:func:`aesthetic.phash.phash64`) differ in at most ``max_distance`` bits, or
* both carry an EXIF capture time, the times are at most ``burst_window_s`` apart, and the
  hashes differ in at most ``burst_max_distance`` bits (a burst: the camera moved a little
  between frames, which moves the hash more than a re-exposure does).

Groups are the connected components of those pairs (the closure a union-find would build), so
A~B and B~C put A, B and C together. A photo joined to nothing is a group of its own; a photo
that cannot be read is always alone.

The defaults were measured on the 191 real photos of ``../shared/data/curated_vs_snapshot``
(18 145 pairs of different photos) and panned, cropped and re-exposed copies of each
(imagehash 4.3.2; ``python -m aesthetic.benchmarks.report.culling_thresholds``, results in
``benchmarks/results/culling_thresholds.md``):

=====================  ==========================================================
different photos       min 14 bits, 1st percentile 22, median 32;
                       pairs <= 12 bits: 0, <= 18 bits: 23 (0.13 %)
pan 3 % / pan 6 %      joined at 12 bits: 100 % / 87 %; at 18 bits: 100 % / 99 %
crop 10 %              joined at 12 bits: 81 %; at 18 bits: 98 %
+0.7 EV / -1 EV        max 12 / 2 bits: always joined
=====================  ==========================================================

So 12 bits joins light edits with no false join among those pairs, and 18 bits (which joins
nearly every 6 % pan) is only trusted when the capture times say the frames are seconds apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from dataclasses import dataclass
from functools import partial
from typing import Optional, Sequence

import numpy as np

from aesthetic.phash import hamming_matrix, phash64
from aesthetic.culling.config import GroupingConfig
from aesthetic.htmlpage import THUMBNAIL_SIDE, thumbnail_jpeg
from aesthetic.imageio import decode_batches, read_one
from aesthetic.progress import Progress

log = logging.getLogger(__name__)

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _DATETIME = 0x9003, 0x9004, 0x0132
_SUBSEC_ORIGINAL, _SUBSEC_DIGITIZED, _SUBSEC = 0x9291, 0x9292, 0x9290
_ROWS_PER_BLOCK = 2048  # hash comparisons per block: a (2048, n) uint8 matrix at a time


@dataclass
class PhotoScan:
    """What grouping and the page need from one file; ``error`` is '' when it was read."""

    path: str
    phash: Optional[int] = None
    taken: Optional[float] = None      # EXIF capture time, seconds (only differences matter)
    size_wh: Optional[tuple[int, int]] = None
    thumbnail: Optional[bytes] = None  # JPEG, longer side <= THUMBNAIL_SIDE
    sha256: str = ""
    error: str = ""


def _exif_time(value: object, subsec: object) -> Optional[float]:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.strptime(value.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    seconds = when.replace(tzinfo=dt.timezone.utc).timestamp()  # the camera's clock; only gaps matter
    digits = str(subsec).strip().rstrip("\x00") if subsec is not None else ""
    if digits.isdigit():
        seconds += float(f"0.{digits}")
    return seconds


def capture_time(data: bytes) -> Optional[float]:
    """EXIF capture time of encoded image bytes in seconds, or None when the file has none.

    DateTimeOriginal (with SubSecTimeOriginal) is the moment the shutter fired; DateTimeDigitized
    and then IFD0's DateTime (last modification by the camera or an editor) are the fall-backs.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # no EXIF, or a broken block: the photo is still usable, just untimed
        return None
    for tag, subsec_tag, source in ((_DATETIME_ORIGINAL, _SUBSEC_ORIGINAL, sub),
                                    (_DATETIME_DIGITIZED, _SUBSEC_DIGITIZED, sub),
                                    (_DATETIME, _SUBSEC, exif)):
        seconds = _exif_time(source.get(tag), sub.get(subsec_tag))
        if seconds is not None:
            return seconds
    return None


def _scan(image: np.ndarray | None, data: bytes, thumbnail_side: int) -> PhotoScan:
    if image is None:  # read but not decoded: the hash still finds an exact copy
        return PhotoScan(path="", sha256=hashlib.sha256(data).hexdigest())
    return PhotoScan(path="", phash=phash64(image), taken=capture_time(data),
                     size_wh=(int(image.shape[1]), int(image.shape[0])), sha256=hashlib.sha256(data).hexdigest(),
                     thumbnail=thumbnail_jpeg(image, thumbnail_side) if thumbnail_side > 0 else None)


def scan_photo(path: str, thumbnail_side: int = THUMBNAIL_SIDE) -> PhotoScan:
    """Read one file: pHash, capture time, size and a thumbnail; never raises for a bad file."""
    return scan_photos([path], workers=1, progress=False, thumbnail_side=thumbnail_side)[0]


def scan_photos(paths: Sequence[str], workers: int = 4, progress: bool = True,
                thumbnail_side: int = THUMBNAIL_SIDE) -> list[PhotoScan]:
    """:func:`scan_photo` for every path, in order, through the one decode loop of ``aesthetic.imageio``."""
    paths = [str(p) for p in paths]
    load = partial(read_one, prepare=partial(_scan, thumbnail_side=thumbnail_side), with_bytes=True)
    scans: list[PhotoScan] = []
    with Progress(len(paths), "hashing", "images", enabled=progress) as bar:
        for rows, loaded in decode_batches(paths, 32, load, workers):
            for row, (scan, reason) in zip(rows, loaded):
                scan = scan or PhotoScan(path="")
                scan.path, scan.error = paths[row], reason
                scans.append(scan)
            bar.update(len(rows))
    return scans


def near_pairs(hashes: Sequence[Optional[int]], times: Sequence[Optional[float]],
               config: GroupingConfig) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, joined by the rule in the module docstring."""
    idx = np.array([i for i, h in enumerate(hashes) if h is not None], dtype=np.int64)
    if len(idx) < 2:
        return []
    codes = np.array([hashes[i] for i in idx], dtype=np.uint64)
    stamps = np.array([np.nan if times[i] is None else float(times[i]) for i in idx], dtype=np.float64)
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(idx), _ROWS_PER_BLOCK):
        rows = slice(start, min(start + _ROWS_PER_BLOCK, len(idx)))
        dist = hamming_matrix(codes[rows], codes).astype(np.int16)
        joined = dist <= config.max_distance
        if config.burst_window_s > 0 and config.burst_max_distance > config.max_distance:
            with np.errstate(invalid="ignore"):
                close_in_time = np.abs(stamps[rows, None] - stamps[None, :]) <= config.burst_window_s
            joined |= close_in_time & (dist <= config.burst_max_distance)
        a, b = np.nonzero(joined)
        a += start
        keep = a < b
        pairs += [(int(idx[i]), int(idx[j])) for i, j in zip(a[keep], b[keep])]
    return pairs


def group_labels(n: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """``(n,) int64`` group number per photo, 1-based, numbered in order of each group's first photo."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, np.int64)
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    first_seen: dict[int, int] = {}
    for c in component.tolist():
        first_seen.setdefault(c, len(first_seen) + 1)
    return np.array([first_seen[c] for c in component.tolist()], dtype=np.int64)


def group_scans(scans: Sequence[PhotoScan], config: GroupingConfig) -> np.ndarray:
    """Group numbers (see :func:`group_labels`) of scanned photos."""
    pairs = near_pairs([s.phash for s in scans], [s.taken for s in scans], config)
    return group_labels(len(scans), pairs)
