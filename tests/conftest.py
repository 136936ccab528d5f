"""Shared fixtures: where the real photos and weights are, and small images made on the fly.

Real weights and a few real photos are always there: ../shared's copies when present, else the ones
embedded in the package (aesthetic.shared). Tests that need the large shared photo sets skip, with
the folder named, where ../shared is absent (a fresh clone; simulate with AESTHETIC_SHARED=/nonexistent).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from aesthetic.shared import demo_set_dir, nima_weights_path, shared_data_dir, shared_set

REPO = Path(__file__).resolve().parents[1]


def needs_shared_set(name: str) -> Path:
    """The folder of one ../shared/data photo set, or a skip that names it."""
    folder = shared_set(name)
    if folder is None:
        pytest.skip(f"needs ../shared/data/{name} (absent here)")
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the large photo sets); tests that take it skip where it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("needs ../shared/data (absent here)")
    return path


@pytest.fixture(scope="session")
def nima_file() -> Path:
    """The real NIMA MobileNet weights: ../shared's copy, else the package's (always there)."""
    path = nima_weights_path()
    if path is None:
        pytest.fail("the built-in NIMA weights are missing from src/aesthetic/data/weights: a broken checkout")
    return path


@pytest.fixture(scope="session")
def demo_set() -> Path:
    """The embedded demo photo set (labels.csv with license and origin columns)."""
    return demo_set_dir()


@pytest.fixture(scope="session")
def real_photos() -> list[Path]:
    """Six real photos, three of each class: curated and snapshot photos from ../shared/data when
    present, else the embedded demo set's wallpapers and scikit-image photos."""
    import csv

    root = shared_set("curated_vs_snapshot") or demo_set_dir()
    rows = list(csv.DictReader(open(root / "labels.csv")))
    pos = [r["path"] for r in rows if r["label"] == "1"][:3]
    neg = [r["path"] for r in rows if r["label"] == "0"]
    if root == demo_set_dir():  # everyday photos, not the degraded copies of the positives, and not
        # the astronaut, which tests use as a photo of its own (fixture ``astronaut``)
        neg = [p for p in neg if Path(p).name.startswith("skimage_") and "astronaut" not in p]
    return [root / p for p in pos + neg[:3]]


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # (512, 512, 3) uint8 RGB, public domain


@pytest.fixture(scope="session")
def mobilenet_store(tmp_path_factory, nima_file) -> Path:
    """Real NIMA-MobileNet features (5952-d) of 84 curated_vs_snapshot photos, 42 per class, in a
    feature store with labels and the extractor config in its metadata. Extracted once per session.

    Rows 0-59 (30 per class, alternating labels) are for training; rows 60-83 (12 per class) are held out.
    """
    import csv

    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.feature_store import STATUS_FAILED, STATUS_OK, BranchData, write_store

    root = needs_shared_set("curated_vs_snapshot")
    rows = list(csv.DictReader(open(root / "labels.csv")))
    pos = [r["path"] for r in rows if r["label"] == "1"][:42]
    neg = [r["path"] for r in rows if r["label"] == "0"][:42]
    order = [p for pair in zip(pos[:30], neg[:30]) for p in pair] + pos[30:] + neg[30:]
    labels = [1.0, 0.0] * 30 + [1.0] * 12 + [0.0] * 12
    paths = [str(root / p) for p in order]
    fx = FeatureExtractor(["mobilenet"], weights={"mobilenet": str(nima_file)}, batch_size=16)
    result = fx.extract_paths(paths)
    out = tmp_path_factory.mktemp("mobilenet_store") / "features.h5"
    write_store(out, ids=order, paths=paths, labels=labels,
                status=[STATUS_OK if ok else STATUS_FAILED for ok in result.ok], errors=result.errors,
                branches={"mobilenet": BranchData(result.features["mobilenet"], fx.branch_attrs("mobilenet"))},
                metadata={"extractor": fx.config().model_dump()}, dtype="float32")
    return out


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory) -> tuple[list[str], list[float]]:
    """16 small synthetic photos: bright smooth gradients (label 1, JPEG) and dark noise (label 0, PNG)."""
    import cv2

    folder = tmp_path_factory.mktemp("tiny_images")
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for _ in range(8):
        h, w = int(rng.integers(60, 90)), int(rng.integers(60, 90))
        ramp = np.linspace(120, 250, w)[None, :, None] * np.ones((h, 1, 3))
        smooth = (ramp + rng.normal(0, 3, (h, w, 3))).clip(0, 255).astype(np.uint8)
        noisy = rng.integers(0, 90, (h, w, 3)).astype(np.uint8)
        for img, label, ext in ((smooth, 1.0, ".jpg"), (noisy, 0.0, ".png")):
            path = folder / f"img{len(paths):02d}{ext}"
            cv2.imwrite(str(path), img[:, :, ::-1])
            paths.append(str(path))
            labels.append(label)
    return paths, labels


#: A random-weight MobileNet branch at a quarter of its input size (56x56): fast, deterministic.
TINY_EXTRACTOR = dict(branches=["mobilenet"], weights=None, input_scale=0.25, batch_size=8)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, tiny_images) -> Path:
    """Feature store of ``tiny_images`` through TINY_EXTRACTOR, labels and extractor config included."""
    from aesthetic.feature_extraction import FeatureExtractor
    from aesthetic.feature_store import STATUS_FAILED, STATUS_OK, BranchData, write_store

    paths, labels = tiny_images
    extractor = FeatureExtractor(**TINY_EXTRACTOR)
    result = extractor.extract_paths(paths)
    branches = {b: BranchData(result.features[b], extractor.branch_attrs(b)) for b in extractor.branch_names}
    return write_store(tmp_path_factory.mktemp("tiny_store") / "features.h5", ids=[Path(p).name for p in paths],
                       paths=paths, labels=labels, status=[STATUS_OK if ok else STATUS_FAILED for ok in result.ok],
                       errors=result.errors, branches=branches, metadata={"extractor": extractor.config().model_dump()},
                       dtype="float32")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven through Selenium (Debian's ``chromium`` and ``chromium-driver``; never a
    downloaded browser). Skips, saying what is missing, where either is not installed."""
    import shutil

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: pip install -r requirements.txt")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium chromium-driver; "
                    "scripts/setup.sh does it when run as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1600", "--disable-extensions", "--no-proxy-server"):
        options.add_argument(arg)
    # Selenium talks to chromedriver on localhost over HTTP and honours http_proxy; an offline machine
    # often points that at a dead proxy, so localhost is exempted for the life of the driver.
    saved = {k: os.environ.get(k) for k in ("no_proxy", "NO_PROXY")}
    exempt = ",".join(filter(None, [saved["no_proxy"] or saved["NO_PROXY"], "localhost", "127.0.0.1", "::1"]))
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = exempt
    try:
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.set_page_load_timeout(60)
        yield driver
        driver.quit()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _png_bomb(path: Path, side: int = 10000, channels: int = 4) -> Path:
    """A ``side x side`` PNG of zeros (RGBA by default): a few hundred KB that decode to ``side^2 x channels`` bytes."""
    colour_type = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + side * channels)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, colour_type, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="session")
def make_png_bomb():
    """``make_png_bomb(path, side=10000, channels=4)``: a decompression-bomb PNG made on the fly."""
    return _png_bomb


@pytest.fixture()
def photo_bytes(astronaut) -> bytes:
    """A real photo's JPEG bytes (the shared set's first curated photo when present, else the astronaut)."""
    import cv2

    data = shared_data_dir()
    photo = data / "curated_vs_snapshot" / "images" / "img_0000.jpg" if data is not None else None
    if photo is not None and photo.is_file():
        return photo.read_bytes()
    return cv2.imencode(".jpg", astronaut[:, :, ::-1])[1].tobytes()


class PlantedRedScorer:
    """A scorer for report tests: P(aesthetic) = mean red level / 255, so the score is planted in each image."""

    name = "fake-red"
    kind = "model"
    threshold = 0.5
    inclusive = True
    probabilistic = True
    score_label = "P(aesthetic)"

    def score_images(self, images):
        return np.array([im[..., 0].mean() / 255.0 for im in images])


@pytest.fixture(scope="session")
def red_scorer() -> PlantedRedScorer:
    return PlantedRedScorer()
