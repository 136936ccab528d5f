"""The one place that knows where things outside the code live.

``shared`` is the folder of real photos (``data/``) and real weights (``weights/``) that
is never committed. It is found by one rule:

1. the environment variable ``AESTHETIC_SHARED``, when set (and then only there);
2. else ``shared/`` inside the checkout, then ``../shared`` beside it (CI may link it in).

The checkout is the folder holding ``src/aesthetic`` (this file's grandparent's parent);
a notebook passes its own folder's parent. Package data shipped inside the
distribution (the benchmark suites) is found with :func:`package_file`, so it resolves in
an installed copy too.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

ENV_VAR = "AESTHETIC_SHARED"

#: The source checkout this module was loaded from (meaningful for editable installs).
CHECKOUT = Path(__file__).resolve().parents[2]

#: Files callers look for inside the shared folder.
CURATED_LABELS = "data/curated_vs_snapshot/labels.csv"
NIMA_WEIGHTS_FILE = "weights/nima_mobilenet_aesthetic.hdf5"


def shared_candidates(checkout: Path | None = None) -> list[Path]:
    """Where the shared folder may be, in the order they are tried."""
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env).expanduser()]
    root = (Path(checkout) if checkout is not None else CHECKOUT).resolve()
    return [root / "shared", root.parent / "shared"]


def find_shared(holding: str = "", checkout: Path | None = None) -> Path | None:
    """The first candidate folder that holds ``holding`` (a relative path; "" = exists), or None."""
    for folder in shared_candidates(checkout):
        if (folder / holding).exists() if holding else folder.is_dir():
            return folder
    return None


def require_shared(holding: str, checkout: Path | None = None, why: str = "this") -> Path:
    """As :func:`find_shared`, but a FileNotFoundError that names every place looked."""
    found = find_shared(holding, checkout)
    if found is not None:
        return found
    looked = " and ".join(str(c / holding) for c in shared_candidates(checkout))
    raise FileNotFoundError(f"{why} needs ../shared beside the checkout; looked for {looked}. "
                            f"Set {ENV_VAR} to the folder holding data/ and weights/")


def shared_file(relative: str, checkout: Path | None = None) -> Path | None:
    """``<shared>/<relative>`` when it exists in a candidate shared folder, else None."""
    folder = find_shared(relative, checkout)
    return None if folder is None else folder / relative


def shared_data_dir() -> Path:
    """``<shared>/data`` (the first candidate when none exists yet, so messages can name it)."""
    folder = find_shared("data") or shared_candidates()[-1]
    return folder / "data"


def package_file(relative: str) -> Path:
    """A data file shipped inside the ``aesthetic`` distribution, e.g. ``benchmarks/suites/x.toml``."""
    head, _, rest = relative.partition("/")
    return Path(str(resources.files(f"aesthetic.{head}").joinpath(rest)))
