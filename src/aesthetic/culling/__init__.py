"""Culling: of a folder of near-identical frames, which one to keep.

- :mod:`.grouping`: pHash distance plus EXIF capture time -> groups (bursts and near duplicates).
- :mod:`.picks`: score every photo with a model bundle, mark the best of each group, write picks.csv.
- :mod:`.html`: picks.html, the same result as a page of thumbnails.
- :mod:`.cli`: ``aesthetic cull``.

Names are imported lazily so ``aesthetic --help`` does not pay for OpenCV and imagehash.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GroupingConfig": "config", "scan_photos": "grouping", "group_scans": "grouping",
    "CulledPhoto": "picks", "CullResult": "picks", "choose_best": "picks", "cull": "picks",
    "explain_picks": "picks", "write_picks_html": "html",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aesthetic.culling' has no attribute {name!r}")
    return getattr(importlib.import_module(f"aesthetic.culling.{_EXPORTS[name]}"), name)
