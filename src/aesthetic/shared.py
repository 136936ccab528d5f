"""Where the optional ``shared`` folder and the package's own data files are: the one locator.

Two sources of real photos and weights, in order of preference:

1. ``shared/`` -- the folder named by the environment variable ``AESTHETIC_SHARED``, or else
   the folder called ``shared`` beside a source checkout (``<checkout>/../shared``). It holds the
   large photo sets (``data/``) and weights (``weights/``) of a development machine or CI. Nothing
   else is searched: no walking up parent folders, so a clone in a temporary folder never picks up
   some unrelated ``shared/`` higher up the tree. ``AESTHETIC_SHARED`` set to a missing folder
   means "no shared folder" (tests use it to simulate a fresh machine).
2. The package's embedded data (``aesthetic/data/``, shipped in the wheel): the NIMA weights
   (Apache-2.0) and a small demo photo set (CC0 / public domain). See the README in each folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

#: Environment variable naming the shared folder (overrides the folder beside the checkout).
ENV_VAR = "AESTHETIC_SHARED"
#: The package's own data files (weights, demo set); present in a checkout and in the wheel.
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
NIMA_FILENAME = "nima_mobilenet_aesthetic.hdf5"


def checkout_root() -> Optional[Path]:
    """The source checkout this package runs from (an editable install), or None for a wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "aesthetic").is_dir() else None


def shared_dir() -> Optional[Path]:
    """``$AESTHETIC_SHARED`` if set, else ``<checkout>/../shared``; None when that folder is absent."""
    value = os.environ.get(ENV_VAR)
    if value:
        candidate = Path(value).expanduser()
    else:
        root = checkout_root()
        if root is None:
            return None
        candidate = root.parent / "shared"
    return candidate if candidate.is_dir() else None


def shared_data_dir() -> Optional[Path]:
    """``shared/data`` (the large labelled photo sets), or None."""
    shared = shared_dir()
    return shared / "data" if shared is not None and (shared / "data").is_dir() else None


def shared_set(name: str) -> Optional[Path]:
    """One photo set of ``shared/data`` (e.g. ``curated_vs_snapshot``) with its labels.csv, or None."""
    data = shared_data_dir()
    return data / name if data is not None and (data / name / "labels.csv").is_file() else None


def embedded_weights_dir() -> Path:
    return PACKAGE_DATA / "weights"


def demo_set_dir() -> Path:
    """The embedded demo photo set (``labels.csv``, ``train.csv``, ``test.csv``, ``suite.toml``)."""
    return PACKAGE_DATA / "demo_set"


def weights_file(filename: str) -> Optional[Path]:
    """A weights file: ``shared/weights/<filename>`` if present, else the embedded copy, else None."""
    shared = shared_dir()
    for folder in ([shared / "weights"] if shared is not None else []) + [embedded_weights_dir()]:
        if (folder / filename).is_file():
            return folder / filename
    return None


def nima_weights_path() -> Optional[Path]:
    """The NIMA MobileNet aesthetic weights: ../shared's copy when present, else the embedded one."""
    return weights_file(NIMA_FILENAME)
