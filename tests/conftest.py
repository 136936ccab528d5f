"""Shared fixtures: where the real photos and weights are, and small images made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AESTHETIC_SHARED", REPO.parent / "shared"))
NIMA_FILE = SHARED / "weights" / "nima_mobilenet_aesthetic.hdf5"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the test suite needs ../shared/data beside the checkout")
    return path


@pytest.fixture(scope="session")
def nima_file() -> Path:
    if not NIMA_FILE.is_file():
        pytest.fail(f"{NIMA_FILE} is missing: the test suite needs ../shared/weights beside the checkout")
    return NIMA_FILE


@pytest.fixture(scope="session")
def real_photos(shared_data) -> list[Path]:
    """A few real photos of both classes (curated and snapshot)."""
    import csv

    rows = list(csv.DictReader(open(shared_data / "curated_vs_snapshot" / "labels.csv")))
    pos = [r["path"] for r in rows if r["label"] == "1"][:3]
    neg = [r["path"] for r in rows if r["label"] == "0"][:3]
    return [shared_data / "curated_vs_snapshot" / p for p in pos + neg]


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # (512, 512, 3) uint8 RGB, public domain
