"""The data audit: planted duplicates across sets are found, unrelated photos are not, files are described."""

import csv
import json
import shutil

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from aesthetic.phash import hamming_matrix, phash64
from aesthetic.benchmarks.report.audit import DEFAULT_MAX_DISTANCE, audit, find_pairs, orientation_of, scan
from aesthetic.data import LabeledImage

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee,
          "rocket": data.rocket, "hubble": data.hubble_deep_field, "ihc": data.immunohistochemistry,
          "colorwheel": data.colorwheel}


def _write(path, rgb, quality=95):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return path


def _csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    """Set A (train) and set B (benchmark); B holds a resized, re-encoded copy of A's astronaut."""
    root = tmp_path_factory.mktemp("audit")
    a_names, b_names = ["astronaut", "chelsea", "coffee"], ["rocket", "hubble", "ihc"]
    for name in a_names:
        _write(root / "a" / f"{name}.jpg", PHOTOS[name]())
    for name in b_names:
        _write(root / "b" / f"{name}.jpg", PHOTOS[name]())
    src = PHOTOS["astronaut"]()
    small = cv2.resize(src, (301, 301), interpolation=cv2.INTER_AREA)
    _write(root / "b" / "planted.jpg", small, quality=60)
    a = _csv(root / "a" / "labels.csv", [[f"{n}.jpg", i % 2] for i, n in enumerate(a_names)])
    b = _csv(root / "b" / "labels.csv", [[f"{n}.jpg", 0] for n in b_names] + [["planted.jpg", 1]])
    return root, a, b


def _items(csv_path):
    from aesthetic.data import read_labels_csv

    return read_labels_csv(csv_path)


def test_planted_resized_reencoded_copy_is_found_as_leakage(two_sets):
    root, a, b = two_sets
    rep = audit({"bench": _items(b)}, {"train": _items(a)}, progress=False)
    assert len(rep.leakage) == 1
    pair = rep.leakage[0]
    assert pair.kind == "near" and pair.distance <= DEFAULT_MAX_DISTANCE
    assert {pair.path_a.split("/")[-1], pair.path_b.split("/")[-1]} == {"planted.jpg", "astronaut.jpg"}
    assert all(not v for v in rep.within.values())  # no false duplicates among distinct photos


def test_unrelated_photos_are_far_apart():
    hashes = np.array([phash64(np.ascontiguousarray(f())) for f in PHOTOS.values()], dtype=np.uint64)
    d = hamming_matrix(hashes, hashes)
    off_diagonal = d[~np.eye(len(hashes), dtype=bool)]
    assert off_diagonal.min() > 2 * DEFAULT_MAX_DISTANCE
    assert np.all(np.diag(d) == 0)


def test_hamming_matrix_counts_differing_bits():
    a = np.array([0, 0b1011, 2**64 - 1], dtype=np.uint64)
    b = np.array([0, 0b0001], dtype=np.uint64)
    expected = [[bin(int(x) ^ int(y)).count("1") for y in b] for x in a]
    np.testing.assert_array_equal(hamming_matrix(a, b), expected)


def test_exact_copy_within_a_set_and_unreadable_files(tmp_path):
    _write(tmp_path / "s" / "x.jpg", data.coffee())
    shutil.copy(tmp_path / "s" / "x.jpg", tmp_path / "s" / "x_copy.jpg")
    _write(tmp_path / "s" / "y.jpg", data.rocket())
    (tmp_path / "s" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a whole jpeg")
    (tmp_path / "s" / "broken2.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a whole jpeg")
    items = [LabeledImage(p, None, p.name) for p in sorted((tmp_path / "s").iterdir())]
    rep = audit({"s": items}, progress=False)
    kinds = sorted((p.kind, sorted([p.path_a.split("/")[-1], p.path_b.split("/")[-1]])) for p in rep.within["s"])
    assert kinds == [("exact", ["broken.jpg", "broken2.jpg"]), ("exact", ["x.jpg", "x_copy.jpg"])]
    unreadable = {u["path"].split("/")[-1]: u["reason"] for u in rep.sets["s"]["unreadable"]}
    assert set(unreadable) == {"broken.jpg", "broken2.jpg"} and "truncated" in unreadable["broken.jpg"]


def test_balance_size_and_orientation_per_class(tmp_path):
    items = []
    shapes = {"l1.jpg": ((100, 200), 1), "l2.jpg": ((120, 300), 1), "p.jpg": ((300, 100), 0),
              "sq.jpg": ((150, 151), 0)}
    rng = np.random.default_rng(0)
    for name, ((h, w), label) in shapes.items():
        _write(tmp_path / name, rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        items.append(LabeledImage(tmp_path / name, label, name))
    s = audit({"s": items}, progress=False).sets["s"]
    assert s["class_balance"] == {"0": 2, "1": 2} and s["positive_fraction"] == 0.5
    assert s["per_class"]["1"]["orientation"] == {"landscape": 2}
    assert s["per_class"]["0"]["orientation"] == {"portrait": 1, "square": 1}
    assert s["per_class"]["1"]["width"] == {"min": 200.0, "median": 250.0, "max": 300.0}
    assert orientation_of(100, 98) == "square" and orientation_of(100, 90) == "landscape"


def test_same_path_in_two_groups_is_scanned_once_and_pairs_once(two_sets):
    root, a, b = two_sets
    items = _items(a)
    recs = scan(items + items, progress=False)
    assert len(recs) == 6 and recs[0].sha256 == recs[3].sha256
    pairs, hist = find_pairs("a", recs[:3], None, None, DEFAULT_MAX_DISTANCE)
    assert pairs == [] and hist.sum() == 3


def test_cli_audit_reports_leakage_writes_json_and_can_fail(two_sets, tmp_path):
    from aesthetic.cli import app

    root, a, b = two_sets
    out = tmp_path / "audit.json"
    runner = CliRunner()
    res = runner.invoke(app, ["audit", str(b), "--against", str(a), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "leakage" in res.output and "planted.jpg" in res.output
    saved = json.loads(out.read_text())
    assert saved["leakage_pairs"] == 1 and saved["max_distance"] == DEFAULT_MAX_DISTANCE
    res = runner.invoke(app, ["audit", str(b), "--against", str(a), "--fail-on-leakage", "--no-progress"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["audit", str(root / "nowhere")])
    assert res.exit_code == 2 and "nowhere" in res.output and "Traceback" not in res.output
