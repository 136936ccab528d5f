"""Bad inputs to the decode policy, the folder scan and the label readers (issue #14, items 3, 4, 7, 9).

Each case is built on the fly from small files and asserts the reason given, that nothing
hangs or blows up memory, and that the good images of the same run are still used.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from aesthetic import data as data_module
from aesthetic.data import DataError, LabelTable, load_manifest, read_csv_labels, read_labels_csv
from aesthetic.imageio import (DecodeBudget, ImageReadError, ReadPolicy, decode_batches, decode_image,
                               read_image, read_one)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def good_jpeg(tmp_path, photo_bytes) -> Path:
    path = tmp_path / "good.jpg"
    path.write_bytes(photo_bytes)
    return path


# --------------------------------------------------------------------------- only regular files are read

@pytest.mark.timeout(30)
def test_a_fifo_named_like_a_photo_is_refused_without_blocking(tmp_path, good_jpeg):
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    loaded = [item for _, batch in decode_batches([good_jpeg, fifo, good_jpeg], 2) for item in batch]
    assert [reason for _, reason in loaded] == ["", "is a FIFO (named pipe), not an image file", ""]
    assert loaded[0][0].shape == loaded[2][0].shape == read_image(good_jpeg).shape


@pytest.mark.timeout(30)
def test_dev_zero_listed_in_a_csv_is_refused_before_reading(tmp_path, good_jpeg):
    (tmp_path / "list.csv").write_text(f"path,label\ngood.jpg,1\n/dev/zero,0\n")
    manifest = load_manifest(tmp_path / "list.csv")
    assert manifest.paths[1] == "/dev/zero"
    results = [read_one(p) for p in manifest.paths]
    assert results[0][1] == "" and results[0][0].ndim == 3
    assert results[1] == (None, "is a character device, not an image file")


def test_a_file_over_the_byte_cap_is_refused_unread(good_jpeg):
    size = good_jpeg.stat().st_size
    image, reason = read_one(good_jpeg, policy=ReadPolicy(max_file_bytes=size - 1))
    assert image is None and reason.startswith(f"file is {size} bytes, over the limit of {size - 1} bytes")
    assert read_one(good_jpeg, policy=ReadPolicy(max_file_bytes=size))[1] == ""


# --------------------------------------------------------------------------- the decode budget counts bytes

def test_the_rgba_bomb_is_refused_by_a_budget_that_counts_channels(tmp_path, make_png_bomb):
    bomb = make_png_bomb(tmp_path / "bomb.png", side=4000)  # 4000^2 RGBA: 64 MB decoded + 48 MB RGB copy
    assert bomb.stat().st_size < 100_000
    policy = ReadPolicy(max_decode_bytes=100 * 2**20, max_pixels=10**9)
    image, reason = read_one(bomb, policy=policy)
    assert image is None
    assert reason.startswith("decoding needs 107 MiB, over the decode budget of 100 MiB")
    # the pixel count alone (16 M) is far under the pixel limit: the bytes are what refuse it
    assert 4000 * 4000 < policy.max_pixels


def test_the_budget_is_shared_so_threads_take_turns():
    import threading
    import time

    budget = DecodeBudget(100)
    inside = []

    def hold(n: int) -> None:
        with budget.hold(n, "x"):
            inside.append(budget.in_use)
            time.sleep(0.05)

    threads = [threading.Thread(target=hold, args=(60,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inside == [60, 60, 60] and budget.peak == 60 and budget.in_use == 0
    with pytest.raises(ImageReadError, match="over the decode budget"):
        with budget.hold(101, "big.png"):
            pass


_RSS_SCRIPT = """
import resource, sys
from concurrent.futures import ThreadPoolExecutor
from aesthetic.imageio import read_one
with ThreadPoolExecutor(2) as pool:
    out = list(pool.map(lambda p: read_one(p, prepare=lambda im: im.shape), sys.argv[1:]))
print(repr(out))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.memory
def test_two_rgba_bombs_in_two_threads_stay_within_the_budget(tmp_path, make_png_bomb):
    """10000 x 10000 RGBA PNGs of ~400 KB: before the byte budget one peaked at 4.8 GB, two at 9.3 GB."""
    one = make_png_bomb(tmp_path / "bomb1.png")
    two = tmp_path / "bomb2.png"
    two.write_bytes(one.read_bytes())
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(one), str(two)], capture_output=True,
                          text=True, timeout=600, check=True)
    shapes, peak_mib = proc.stdout.strip().splitlines()[-2:]
    assert shapes == repr([((10000, 10000, 3), ""), ((10000, 10000, 3), "")])
    # one decode at a time: 400 MB RGBA + 300 MB RGB + the interpreter, never two at once
    assert int(peak_mib) < 1300, f"peak RSS {peak_mib} MiB"


# --------------------------------------------------------------------------- decoder warnings are failures

def test_a_jpeg_cut_in_half_with_an_end_marker_appended_is_corrupt(tmp_path, photo_bytes, good_jpeg):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(photo_bytes[:len(photo_bytes) // 2] + b"\xff\xd9")
    assert cv2.imdecode(np.frombuffer(cut.read_bytes(), np.uint8), cv2.IMREAD_COLOR) is not None  # OpenCV pads
    loaded = [item for _, batch in decode_batches([good_jpeg, cut], 4) for item in batch]
    assert loaded[0][1] == "" and loaded[1][0] is None
    assert loaded[1][1] == "corrupt JPEG data (Corrupt JPEG data: premature end of data segment)"


def test_a_jpeg_with_zeroed_bytes_mid_stream_is_corrupt(photo_bytes):
    zeroed = bytearray(photo_bytes)
    middle = len(zeroed) // 2
    zeroed[middle:middle + 64] = bytes(64)
    with pytest.raises(ImageReadError, match=r"mid\.jpg: corrupt JPEG data \(Corrupt JPEG data"):
        decode_image(bytes(zeroed), "mid.jpg")


def test_real_photos_still_decode_under_the_strict_policy():
    folders = [REPO.parent / "shared" / "data" / name / "images" for name in ("curated_vs_snapshot", "snapshots")]
    photos = sorted(p for f in folders if f.is_dir() for p in f.iterdir())[::40]
    if not photos:
        pytest.skip("../shared/data is not present")
    assert all(reason == "" for _, batch in decode_batches(photos, 8) for _, reason in batch)


# --------------------------------------------------------------------------- every unused file is listed

@pytest.fixture()
def messy_folder(tmp_path, photo_bytes, monkeypatch) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    (root / "a.jpg").write_bytes(photo_bytes)
    (root / "sub" / "b.jpg").write_bytes(photo_bytes)
    (root / "anim.gif").write_bytes(b"GIF89a" + bytes(20))
    (root / "phone.heic").write_bytes(bytes(20))
    (root / "notes.txt").write_text("hello")
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    (root / "locked").mkdir()
    (root / "locked" / "c.jpg").write_bytes(photo_bytes)
    if os.geteuid() == 0:  # root reads any folder: make the scan meet a refusal as a user would
        real_scandir = os.scandir

        def scandir(path="."):
            if Path(path) == root / "locked":
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        (root / "locked").chmod(0)
        yield root
        (root / "locked").chmod(0o755)
        return
    yield root


def test_a_folder_scan_lists_every_file_it_does_not_use_with_a_reason(messy_folder):
    manifest = load_manifest(messy_folder)
    assert manifest.ids == ["a.jpg", "sub/b.jpg"]
    reasons = {Path(p).name: r for p, r in manifest.skipped}
    assert reasons == {
        "anim.gif": "GIF is not a supported format (convert it to JPEG or PNG)",
        "phone.heic": "HEIC is not a supported format (convert it to JPEG or PNG)",
        "notes.txt": "not an image type this tool reads (.txt)",
        "gone.jpg": f"dangling symlink (points to {messy_folder / 'nowhere.jpg'})",
        "loop.jpg": "symlink loop",
        "locked": "folder not readable (Permission denied)",
    }


def test_a_folder_with_only_unusable_files_says_what_it_saw(tmp_path):
    (tmp_path / "only.gif").write_bytes(b"GIF89a")
    with pytest.raises(DataError, match=r"no images found .*1 other files seen, e.g. .*only\.gif: GIF is not"):
        load_manifest(tmp_path)


# --------------------------------------------------------------------------- labels

def test_a_label_nan_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("path,label\na.jpg,1\nb.jpg,nan\n")
    with pytest.raises(DataError, match=r"labels\.csv:3: label 'nan' is not 0 or 1"):
        read_csv_labels(path)
    with pytest.raises(DataError, match=r"labels\.csv:3: label 'nan' is not 0 or 1"):
        load_manifest(path)


def test_a_path_listed_twice_with_conflicting_labels_is_refused(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("path,label\na.jpg,1\nb.jpg,0\na.jpg,0\n")
    with pytest.raises(DataError, match=r"labels\.csv:4: a\.jpg is listed again with another value than on line 2"):
        read_labels_csv(path)
    path.write_text("path,label\na.jpg,1\na.jpg,1\n")  # the same label twice is no conflict
    assert [i.label for i in read_labels_csv(path)] == [1, 1]


def test_a_labels_file_matching_part_of_a_store_is_reported_with_counts(caplog):
    table = LabelTable(["a.jpg", "b.jpg", "z.jpg"], np.array([1, 0, 1], np.float32), source="labels.csv")
    with caplog.at_level(logging.WARNING, logger=data_module.__name__):
        labels = table.join(["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    np.testing.assert_array_equal(labels, [1, 0, np.nan, np.nan])
    assert ("labels.csv: labels 2 of the 4 images of the feature store; 2 have no row and are left out "
            "(1 rows of the file match no image)") in caplog.text
    with pytest.raises(DataError, match=r"labels\.csv: none of its 3 ids match the 2 images of the feature store"):
        table.join(["x.jpg", "y.jpg"])
