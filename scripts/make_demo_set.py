"""Build the embedded demo photo set, src/aesthetic/data/demo_set/, from redistributable sources.

Run once by a developer who has ../shared beside the checkout; the output is committed, so users
and CI never run it. Re-running it rebuilds the same files from the same sources.

    .venv/bin/python scripts/make_demo_set.py            # writes src/aesthetic/data/demo_set/

Label 1 ("aesthetic"): the CC0-1.0 wallpaper photographs of ../shared/data/curated_vs_snapshot
(the license column decides; any other license is skipped, Flickr8k rows above all: they are
research-use only). CC-BY rows are left out on purpose: the shared labels record no creator names,
which CC-BY attribution needs, and one source's own REUSE file lists its photos under other
licenses than the labels say.
Label 0 ("not aesthetic"): scikit-image's bundled sample photos whose docstrings say CC0 or public
domain, plus degraded copies (blur, underexposure, noise, heavy JPEG) of some label-1 photos.

Every row has license and origin columns; ``group`` ties a degraded copy to its original, and the
train/test split is by group so no scene sits on both sides.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from aesthetic.degradations import exposure, gaussian_blur, gaussian_noise, jpeg_bytes  # noqa: E402
from aesthetic.shared import demo_set_dir, shared_set  # noqa: E402

REDISTRIBUTABLE = {"CC0-1.0"}
MAX_SIDE = 500
QUALITY = 85
#: scikit-image samples: (function name, license, what the docstring says).
SKIMAGE = [
    ("astronaut", "public domain", "skimage.data.astronaut: NASA portrait of Eileen Collins, 'No known copyright restrictions, released into the public domain'"),
    ("camera", "CC0-1.0", "skimage.data.camera: 'CC0 by the photographer (Lav Varshney)'"),
    ("chelsea", "CC0-1.0", "skimage.data.chelsea: 'CC0 by the photographer (Stefan van der Walt)'"),
    ("coffee", "CC0-1.0", "skimage.data.coffee: 'CC0 by the photographer (Rachel Michetti)'"),
    ("rocket", "public domain", "skimage.data.rocket: DSCOVR launch by SpaceX, 'released in the public domain'"),
    ("clock", "public domain", "skimage.data.clock: motion-blurred wall clock, 'Released into the public domain by the photographer (Stefan van der Walt)'"),
]
#: Degradations applied to every other label-1 photo, in turn (kind, function, description).
DEGRADE = [
    ("blur", lambda im: gaussian_blur(im, 3.0), "Gaussian blur sigma 3 px"),
    ("dark", lambda im: exposure(im, -2.5), "underexposed by 2.5 stops"),
    ("noise", lambda im: gaussian_noise(im, 25.0, seed=0), "Gaussian noise sigma 25 grey levels"),
    ("jpeg", None, "JPEG quality 8"),
]
TEST_EVERY = 3  # one group in three (ordered by a hash of its name) is held out


def fit(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def write_jpeg(path: Path, image: np.ndarray, quality: int = QUALITY) -> None:
    path.write_bytes(jpeg_bytes(np.ascontiguousarray(image), quality))


def rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]


def build(out: Path) -> list[dict]:
    source = shared_set("curated_vs_snapshot")
    if source is None:
        raise SystemExit("make_demo_set: needs ../shared/data/curated_vs_snapshot beside the checkout")
    images = out / "images"
    images.mkdir(parents=True)
    rows: list[dict] = []
    wallpapers = [r for r in csv.DictReader(open(source / "labels.csv"))
                  if r["label"] == "1" and r["license"] in REDISTRIBUTABLE]
    for k, r in enumerate(wallpapers):
        name = f"wallpaper_{k:02d}.jpg"
        original = cv2.cvtColor(cv2.imread(str(source / r["path"])), cv2.COLOR_BGR2RGB)
        if max(original.shape[:2]) <= MAX_SIDE and r["path"].lower().endswith(".jpg"):
            shutil.copyfile(source / r["path"], images / name)  # already max side 500: no second lossy pass
        else:
            write_jpeg(images / name, fit(original))
        group = f"wallpaper_{k:02d}"
        rows.append(dict(path=f"images/{name}", label=1, license=r["license"],
                         origin=f"{r['origin']} ({r['source_group']} wallpaper collection)", group=group))
        if k % 2 == 0:  # every other wallpaper also gives a degraded copy, label 0
            kind, fn, what = DEGRADE[(k // 2) % len(DEGRADE)]
            copy = f"{group}_{kind}.jpg"
            if fn is None:
                (images / copy).write_bytes(jpeg_bytes(fit(original), 8))
            else:
                write_jpeg(images / copy, fn(fit(original)))
            rows.append(dict(path=f"images/{copy}", label=0, license=r["license"],
                             origin=f"images/{name} {what} (made by scripts/make_demo_set.py)", group=group))
    from skimage import data as skdata

    for name, license_, origin in SKIMAGE:
        write_jpeg(images / f"skimage_{name}.jpg", fit(rgb(getattr(skdata, name)())))
        rows.append(dict(path=f"images/skimage_{name}.jpg", label=0, license=license_, origin=origin,
                         group=f"skimage_{name}"))
    groups = sorted({r["group"] for r in rows}, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    held_out = set(groups[::TEST_EVERY])
    for r in rows:
        r["part"] = "test" if r["group"] in held_out else "train"
    return rows


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    target = demo_set_dir()
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rows = build(tmp)
    columns = ["path", "label", "license", "origin", "group", "part"]
    write_csv(tmp / "labels.csv", rows, columns)
    for part in ("train", "test"):
        write_csv(tmp / f"{part}.csv", [r for r in rows if r["part"] == part], columns)
    for keep in ("README.md", "suite.toml"):  # hand-written, kept across rebuilds
        if (target / keep).is_file():
            shutil.copyfile(target / keep, tmp / keep)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    by = {(r["part"], r["label"]): 0 for r in rows}
    for r in rows:
        by[(r["part"], r["label"])] += 1
    print(f"{target}: {len(rows)} photos, {size / 1e6:.2f} MB; " +
          ", ".join(f"{part} label {label}: {n}" for (part, label), n in sorted(by.items())))


if __name__ == "__main__":
    main()
