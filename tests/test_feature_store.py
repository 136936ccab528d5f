"""HDF5 store: round trip, row reads in any order, merging parts and reading shard manifests."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from aesthetic.feature_store import (BranchData, FeatureStore, FeatureStoreError, merge_stores,
                                     write_shard_manifest, write_store)


def _store(path, n=10, seed=0, offset=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 7)), rng.normal(size=(n, 3))
    status = np.ones(n, np.int8)
    status[1] = 2
    errors = [""] * n
    errors[1] = "corrupt JPEG"
    labels = np.where(np.arange(n) % 3 == 0, np.nan, np.arange(n) % 2)
    write_store(path, ids=[f"img{offset + i}.jpg" for i in range(n)], paths=[f"/d/img{offset + i}.jpg" for i in range(n)],
                labels=labels, status=status, errors=errors,
                branches={"a": BranchData(a, {"weights": "none", "layer_names": ["x", "y"]}), "b": BranchData(b)},
                metadata={"config": {"k": 1}}, dtype=dtype, chunk_rows=4)
    return a, b, labels


def test_round_trip_keeps_every_column(tmp_path):
    a, b, labels = _store(tmp_path / "s.h5")
    with FeatureStore.open(tmp_path / "s.h5") as st:
        assert st.branches == ["a", "b"] and st.widths == {"a": 7, "b": 3} and len(st) == 10
        np.testing.assert_allclose(st.read("a"), a, rtol=1e-6)
        np.testing.assert_allclose(st.features(), np.hstack([a, b]), rtol=1e-6)
        np.testing.assert_array_equal(np.isnan(st.labels), np.isnan(labels))
        assert st.ids[3] == "img3.jpg" and st.failures() == [("/d/img1.jpg", "corrupt JPEG")]
        assert st.ok.sum() == 9 and st.metadata == {"config": {"k": 1}}
        assert st.branch_attrs("a")["layer_names"] == ["x", "y"]
        assert st.column_slices() == {"a": slice(0, 7), "b": slice(7, 10)}


def test_float16_storage_halves_size_within_precision(tmp_path):
    a, _, _ = _store(tmp_path / "h.h5", dtype="float16")
    with FeatureStore.open(tmp_path / "h.h5") as st:
        assert st._files[0]["features"]["a"].dtype == np.float16
        np.testing.assert_allclose(st.read("a"), a, atol=2e-3, rtol=1e-3)


def test_rows_in_any_order_and_masks(tmp_path):
    a, b, _ = _store(tmp_path / "s.h5")
    with FeatureStore.open(tmp_path / "s.h5") as st:
        rows = [7, 2, 2, 9, 0]
        np.testing.assert_allclose(st.read("a", rows), a[rows], rtol=1e-6)
        mask = np.arange(10) % 2 == 0
        np.testing.assert_allclose(st.features(["b"], mask), b[mask], rtol=1e-6)
        got = np.vstack([x for _, x in st.iter_chunks(chunk_rows=3)])
        np.testing.assert_allclose(got, np.hstack([a, b]), rtol=1e-6)


def test_merge_and_shard_manifest_read_like_one_file(tmp_path):
    a1, b1, _ = _store(tmp_path / "p1.h5", n=5, seed=1)
    a2, b2, _ = _store(tmp_path / "p2.h5", n=6, seed=2, offset=5)
    merge_stores([tmp_path / "p1.h5", tmp_path / "p2.h5"], tmp_path / "m.h5")
    write_shard_manifest(tmp_path / "shards.json", [tmp_path / "p1.h5", tmp_path / "p2.h5"])
    expected = np.vstack([np.hstack([a1, b1]), np.hstack([a2, b2])])
    for path in ("m.h5", "shards.json"):
        with FeatureStore.open(tmp_path / path) as st:
            assert len(st) == 11 and st.ids[5] == "img5.jpg"
            np.testing.assert_allclose(st.features(), expected, rtol=1e-6)
            np.testing.assert_allclose(st.read("a", [10, 0, 6]), expected[[10, 0, 6], :7], rtol=1e-6)


def test_clear_errors_for_missing_and_foreign_files(tmp_path):
    with pytest.raises(FeatureStoreError, match="not found"):
        FeatureStore.open(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(FeatureStoreError, match="not an HDF5 file"):
        FeatureStore.open(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(FeatureStoreError, match="not an aesthetic feature store"):
        FeatureStore.open(tmp_path / "other.h5")
    _store(tmp_path / "s.h5")
    with FeatureStore.open(tmp_path / "s.h5") as st, pytest.raises(FeatureStoreError, match="no branch 'c'"):
        st.read("c")


def test_write_is_atomic_on_failure(tmp_path):
    _store(tmp_path / "s.h5")
    before = (tmp_path / "s.h5").read_bytes()
    with pytest.raises(FeatureStoreError):
        write_store(tmp_path / "s.h5", ids=["a"], paths=["a"], labels=None, status=[1], errors=[""],
                    branches={"a": BranchData(np.zeros((2, 3)))})
    assert (tmp_path / "s.h5").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]


def _eager_column(files, key):
    """What the store used to load at open: every file's column read whole and decoded."""
    out = []
    for p in files:
        with h5py.File(p, "r") as f:
            out += [v.decode("utf-8") for v in f[key][()]]
    return np.array(out, dtype=object)


def test_string_columns_are_lazy_and_read_the_same_as_eager(tmp_path):
    from aesthetic.feature_store import StringColumn

    _store(tmp_path / "p1.h5", n=5, seed=1)
    _store(tmp_path / "p2.h5", n=6, seed=2, offset=5)
    files = [tmp_path / "p1.h5", tmp_path / "p2.h5"]
    (tmp_path / "p1.h5").rename(tmp_path / "keep.h5")  # a unicode id too, written by hand
    write_store(tmp_path / "p1.h5", ids=["été.jpg"] + [f"img{i}.jpg" for i in range(1, 5)],
                paths=[f"/d/img{i}.jpg" for i in range(5)], labels=None, status=[1] * 5,
                errors=["", "corrupt JPEG", "", "", ""], branches={"a": BranchData(np.zeros((5, 7))),
                                                                   "b": BranchData(np.zeros((5, 3)))})
    write_shard_manifest(tmp_path / "shards.json", files)
    with FeatureStore.open(tmp_path / "shards.json") as st:
        for key in ("ids", "paths", "errors"):
            column, eager = getattr(st, key), _eager_column(files, key)
            assert isinstance(column, StringColumn) and len(column) == 11
            assert list(column) == eager.tolist() and np.asarray(column).tolist() == eager.tolist()
            assert column[0] == eager[0] and column[-1] == eager[-1] and column[7] == eager[7]
            for rows in ([10, 0, 0, 6, 3], slice(2, 9, 3), np.arange(11) % 4 == 1, [], np.array([4, 5])):
                assert column[rows].tolist() == eager[rows].tolist()
            with pytest.raises(IndexError, match="out of range"):
                column[11]
        column = StringColumn(st, "ids", chunk_rows=4)  # iteration in several blocks across the shard border
        assert list(column) == _eager_column(files, "ids").tolist() and "img9.jpg" in column
        assert st.failures() == [("/d/img6.jpg", "corrupt JPEG")]  # p1 was rewritten with every status ok


def test_merged_string_columns_round_trip(tmp_path):
    _store(tmp_path / "p1.h5", n=5, seed=1)
    _store(tmp_path / "p2.h5", n=6, seed=2, offset=5)
    merge_stores([tmp_path / "p1.h5", tmp_path / "p2.h5"], tmp_path / "m.h5")
    with FeatureStore.open(tmp_path / "m.h5") as st:
        assert list(st.ids) == [f"img{i}.jpg" for i in range(11)]
        assert list(st.paths) == [f"/d/img{i}.jpg" for i in range(11)]
        assert st.errors[1] == st.errors[6] == "corrupt JPEG" and st.errors[0] == ""
