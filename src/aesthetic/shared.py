"""Where the optional ``shared`` folder and the package's own data files are: the one locator.

Two sources of real photos and weights, in order of preference:

1. ``shared/`` -- the folder named by the environment variable ``AESTHETIC_SHARED`` (and then
   only there: set to a missing folder it means "no shared folder", which tests use to simulate a
   fresh machine), else ``shared/`` inside the source checkout, then ``../shared`` beside it. It
   holds the large photo sets (``data/``) and weights (``weights/``) of a development machine or
   CI. Nothing else is searched: no walking up parent folders, so a clone in a temporary folder
   never picks up some unrelated ``shared/`` higher up the tree. An installed wheel has no
   checkout, so there only the environment variable counts.
2. The package's embedded data (``aesthetic/data/``, shipped in the wheel): the NIMA weights
   (Apache-2.0) and a small demo photo set (CC0 / public domain). See the README in each folder.

Package data such as the benchmark suites is found with :func:`package_file`, so it resolves in
an installed copy too.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Optional

#: Environment variable naming the shared folder (overrides the folders beside the checkout).
ENV_VAR = "AESTHETIC_SHARED"
#: The package's own data files (weights, demo set); present in a checkout and in the wheel.
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
NIMA_FILENAME = "nima_mobilenet_aesthetic.hdf5"

#: Files callers look for inside the shared folder.
CURATED_LABELS = "data/curated_vs_snapshot/labels.csv"
NIMA_WEIGHTS_FILE = f"weights/{NIMA_FILENAME}"


def checkout_root() -> Optional[Path]:
    """The source checkout this package runs from (an editable install), or None for a wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "aesthetic").is_dir() else None


#: The checkout this module was loaded from, or None when it runs from an installed wheel.
CHECKOUT = checkout_root()


def shared_candidates(checkout: Path | None = None) -> list[Path]:
    """Where the shared folder may be, in the order they are tried."""
    value = os.environ.get(ENV_VAR)
    if value:
        return [Path(value).expanduser()]
    root = Path(checkout) if checkout is not None else CHECKOUT
    if root is None:
        return []
    root = root.resolve()
    return [root / "shared", root.parent / "shared"]


def find_shared(holding: str = "", checkout: Path | None = None) -> Path | None:
    """The first candidate folder that holds ``holding`` (a relative path; "" = exists), or None."""
    for folder in shared_candidates(checkout):
        if (folder / holding).exists() if holding else folder.is_dir():
            return folder
    return None


def shared_dir() -> Optional[Path]:
    """The shared folder in use, or None when there is none."""
    return find_shared()


def require_shared(holding: str, checkout: Path | None = None, why: str = "this") -> Path:
    """As :func:`find_shared`, but a FileNotFoundError that names every place looked."""
    found = find_shared(holding, checkout)
    if found is not None:
        return found
    looked = " and ".join(str(c / holding) for c in shared_candidates(checkout)) or "nowhere (no checkout)"
    raise FileNotFoundError(f"{why} needs ../shared beside the checkout; looked for {looked}. "
                            f"Set {ENV_VAR} to the folder holding data/ and weights/")


def shared_file(relative: str, checkout: Path | None = None) -> Path | None:
    """``<shared>/<relative>`` when it exists in a candidate shared folder, else None."""
    folder = find_shared(relative, checkout)
    return None if folder is None else folder / relative


def shared_data_dir() -> Optional[Path]:
    """``shared/data`` (the large labelled photo sets), or None."""
    folder = find_shared("data")
    return None if folder is None else folder / "data"


def shared_set(name: str) -> Optional[Path]:
    """One photo set of ``shared/data`` (e.g. ``curated_vs_snapshot``) with its labels.csv, or None."""
    labels = shared_file(f"data/{name}/labels.csv")
    return None if labels is None else labels.parent


def embedded_weights_dir() -> Path:
    return PACKAGE_DATA / "weights"


def demo_set_dir() -> Path:
    """The embedded demo photo set (``labels.csv``, ``train.csv``, ``test.csv``, ``suite.toml``)."""
    return PACKAGE_DATA / "demo_set"


def weights_file(filename: str) -> Optional[Path]:
    """A weights file: ``shared/weights/<filename>`` if present, else the embedded copy, else None."""
    shared = shared_file(f"weights/{filename}")
    if shared is not None:
        return shared
    embedded = embedded_weights_dir() / filename
    return embedded if embedded.is_file() else None


def nima_weights_path() -> Optional[Path]:
    """The NIMA MobileNet aesthetic weights: ../shared's copy when present, else the embedded one."""
    return weights_file(NIMA_FILENAME)


def package_file(relative: str) -> Path:
    """A data file shipped inside the ``aesthetic`` distribution, e.g. ``benchmarks/suites/x.toml``."""
    head, _, rest = relative.partition("/")
    return Path(str(resources.files(f"aesthetic.{head}").joinpath(rest)))
