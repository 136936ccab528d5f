"""Label derivation from each supported format, checked against hand computations."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from aesthetic.data import (DataError, LabelRule, labels_from_scores, load_labels, mean_from_distribution,
                            read_ava_json, read_csv_labels)
from aesthetic.shared import shared_set

RATED_SET = shared_set("rated_smoke")
RATED = RATED_SET / "labels.csv" if RATED_SET is not None else None


def test_mean_of_distribution_matches_hand_sum():
    # 1 vote for 2, 3 votes for 5, 1 vote for 10: (2 + 15 + 10) / 5 = 5.4
    counts = [0, 1, 0, 0, 3, 0, 0, 0, 0, 1]
    assert mean_from_distribution(counts) == pytest.approx(27 / 5)
    batch = mean_from_distribution(np.array([counts, [1] + [0] * 9]))
    np.testing.assert_allclose(batch, [5.4, 1.0])


@pytest.mark.parametrize("bad", [[1] * 9, [0] * 10, [1, -1] + [0] * 8])
def test_mean_of_distribution_rejects_bad_counts(bad):
    with pytest.raises(DataError):
        mean_from_distribution(bad)


def test_threshold_without_margin_is_strictly_greater():
    out = labels_from_scores([4.0, 5.0, 5.0001, 7.0], threshold=5.0)
    np.testing.assert_array_equal(out, [0, 0, 1, 1])


def test_margin_drops_ambiguous_scores():
    out = labels_from_scores([4.4, 4.5, 4.6, 5.4, 5.5, 6.0, np.nan], threshold=5.0, margin=0.5)
    np.testing.assert_array_equal(out, [0, 0, np.nan, np.nan, 1, 1, np.nan])


def test_binary_csv(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("path,label\na.jpg,1\nb.jpg,0\nc.jpg,1.0\n")
    table = read_csv_labels(path)
    assert table.ids == ["a.jpg", "b.jpg", "c.jpg"]
    np.testing.assert_array_equal(table.labels, [1, 0, 1])
    np.testing.assert_array_equal(table.lookup(["c.jpg", "zzz.jpg"]), [1, np.nan])


def test_binary_csv_rejects_non_binary_label_naming_the_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("path,label\na.jpg,1\nb.jpg,3\n")
    with pytest.raises(DataError, match=r"labels\.csv:3.*'3'"):
        read_csv_labels(path)


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("file,label\na.jpg,1\n")
    with pytest.raises(DataError, match="no column 'path'"):
        read_csv_labels(path)


def test_mean_score_csv_with_threshold_and_margin(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("path,mean_score\na,6.1\nb,5.2\nc,3.9\nd,\n")
    plain = read_csv_labels(path, LabelRule(source="mean"))
    np.testing.assert_array_equal(plain.labels, [1, 1, 0, np.nan])
    strict = read_csv_labels(path, LabelRule(source="mean", margin=0.5))
    np.testing.assert_array_equal(strict.labels, [1, np.nan, 0, np.nan])
    np.testing.assert_allclose(strict.scores[:3], [6.1, 5.2, 3.9], rtol=1e-6)


def test_ava_json_distributions(tmp_path):
    records = [
        {"image_id": "1", "label": [0, 0, 0, 0, 0, 0, 10, 0, 0, 0]},  # mean 7
        {"image_id": "2", "label": [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]},   # mean 5.5
        {"image_id": "3", "label": [0, 0, 0, 2, 2, 0, 0, 0, 0, 0]},   # mean 4.5
        {"image_id": "4", "label": [0, 0, 0, 0, 3, 1, 0, 0, 0, 0]},   # mean 5.25
    ]
    path = tmp_path / "ava.json"
    path.write_text(json.dumps(records))
    table = read_ava_json(path)
    np.testing.assert_allclose(table.scores, [7.0, 5.5, 4.5, 5.25])
    np.testing.assert_array_equal(table.labels, [1, 1, 0, 1])
    margin = load_labels(path, LabelRule(source="distribution", margin=0.5))
    np.testing.assert_array_equal(margin.labels, [1, 1, 0, np.nan])


def test_ava_json_rejects_wrong_bin_count(tmp_path):
    path = tmp_path / "ava.json"
    path.write_text(json.dumps([{"image_id": "x", "label": [1, 2, 3]}]))
    with pytest.raises(DataError, match=r"record 0 \(x\)"):
        read_ava_json(path)


@pytest.mark.skipif(RATED is None, reason="needs ../shared/data/rated_smoke (absent here)")
def test_real_ava_distributions_reproduce_the_published_means_and_labels():
    with open(RATED, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["rating_distribution"].strip()]
    assert len(rows) == 3
    table = read_csv_labels(RATED, LabelRule(source="distribution"))
    ava = table.kept
    assert ava.sum() == 3  # KonIQ rows have no distribution and are dropped
    for row in rows:
        counts = [int(c) for c in row["rating_distribution"].split()]
        hand = sum((i + 1) * c for i, c in enumerate(counts)) / sum(counts)
        k = table.ids.index(row["path"])
        assert table.scores[k] == pytest.approx(hand, rel=1e-6)
        assert table.scores[k] == pytest.approx(float(row["mean_score"]), abs=1e-4)
        assert table.labels[k] == float(row["label"])  # the published mean>5 label
    clean = read_csv_labels(RATED, LabelRule(source="distribution", margin=0.5))
    kept = {table.ids[k]: clean.labels[k] for k in np.flatnonzero(clean.kept)}
    assert kept == {"images/ava_953619.jpg": 1.0}  # 5.64 clears 5.5; 5.21 and 4.80 are ambiguous
