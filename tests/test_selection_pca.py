"""BranchPCA: exact per-branch PCA fitted out of core, from arrays or a feature store."""

import logging
import tracemalloc

import numpy as np
import pytest
from sklearn.decomposition import PCA

from aesthetic.feature_store import FeatureStore
from aesthetic.genetic_selection import BranchPCA, SelectionError
from aesthetic.genetic_selection.synthetic import write_synthetic_store

LAYOUT = {"multigap": 40, "efficientnet": 24}


def correlated(n, width, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, width)) @ rng.standard_normal((width, width)) + 3.0).astype(np.float32)


@pytest.fixture(scope="module")
def fused():
    return np.concatenate([correlated(300, 40, 1), correlated(300, 24, 2)], axis=1)


@pytest.fixture(scope="module")
def store(fused, tmp_path_factory):
    path = write_synthetic_store(tmp_path_factory.mktemp("pca") / "f.h5", fused, branches=LAYOUT)
    with FeatureStore.open(path) as s:
        yield s


def test_each_branch_matches_sklearn_pca(fused):
    pca = BranchPCA(n_components={"multigap": 8, "efficientnet": 5}, batch_size=64).fit(fused, branches=LAYOUT)
    out = pca.transform(fused)
    assert out.shape == (300, 13) and out.dtype == np.float32
    for name, cols, k, dst in (("multigap", slice(0, 40), 8, slice(0, 8)),
                               ("efficientnet", slice(40, 64), 5, slice(8, 13))):
        ref = PCA(k).fit(fused[:, cols].astype(np.float64))
        signs = np.sign(np.sum(ref.components_ * pca.components_[name], axis=1))
        np.testing.assert_allclose(pca.components_[name], ref.components_ * signs[:, None], atol=2e-4)
        np.testing.assert_allclose(pca.explained_variance_[name], ref.explained_variance_, rtol=1e-4)
        np.testing.assert_allclose(pca.explained_variance_ratio_[name], ref.explained_variance_ratio_, rtol=1e-4)
        np.testing.assert_allclose(out[:, dst], ref.transform(fused[:, cols]) * signs, rtol=1e-3, atol=2e-3)


def test_chunk_size_does_not_change_the_fit(fused):
    small = BranchPCA(n_components=6, batch_size=7).fit(fused, branches=LAYOUT)
    whole = BranchPCA(n_components=6, batch_size=10_000).fit(fused, branches=LAYOUT)
    np.testing.assert_allclose(small.transform(fused), whole.transform(fused), rtol=1e-4, atol=1e-3)


def test_fit_store_and_transform_store_read_the_store_in_row_chunks(fused, store, monkeypatch):
    """Memory stays bounded by the chunk: no read asks the store for more than batch_size / chunk_rows rows."""
    reads = []
    real_read = FeatureStore.read
    monkeypatch.setattr(FeatureStore, "read", lambda self, branch, rows=None, dtype=np.float32: reads.append(
        len(self._rows(rows))) or real_read(self, branch, rows, dtype))
    pca = BranchPCA(n_components=0.25, batch_size=50).fit_store(store)
    assert max(reads) == 50 and sum(reads) == len(fused) * len(LAYOUT)
    reads.clear()
    pca.transform_store(store, chunk_rows=7)
    assert max(reads) == 7 and sum(reads) == len(fused) * len(LAYOUT)


def test_fit_store_and_transform_store_equal_the_in_memory_path(fused, store):
    from_store = BranchPCA(n_components=0.25, batch_size=50).fit_store(store)
    in_memory = BranchPCA(n_components=0.25).fit(fused, branches=LAYOUT)
    assert from_store.n_components_ == {"multigap": 10, "efficientnet": 6}
    rows = np.array([299, 3, 150, 4])  # any order, returned in that order
    np.testing.assert_allclose(from_store.transform_store(store, rows=rows, chunk_rows=3),
                               in_memory.transform(fused[rows]), rtol=1e-4, atol=1e-3)


def test_components_are_capped_by_the_number_of_images_with_a_warning(fused, caplog):
    with caplog.at_level(logging.WARNING, logger="aesthetic.genetic_selection.pca"):
        pca = BranchPCA(n_components={"multigap": 8464, "efficientnet": 1280}).fit(fused[:30], branches=LAYOUT)
    assert pca.n_components_ == {"multigap": 30, "efficientnet": 24}
    assert "8464 components asked" in caplog.text and "1280 components asked" in caplog.text
    # 30 images < 40 columns: the thin-SVD path; it must be the same PCA as sklearn's.
    ref = PCA(10).fit(fused[:30, :40].astype(np.float64))
    ours = pca.components_["multigap"][:10]
    signs = np.sign(np.sum(ref.components_ * ours, axis=1))
    np.testing.assert_allclose(ours, ref.components_ * signs[:, None], atol=2e-4)
    np.testing.assert_allclose(pca.explained_variance_["multigap"][:10], ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(pca.explained_variance_ratio_["multigap"][:10], ref.explained_variance_ratio_,
                               rtol=1e-4)


def test_the_default_is_the_originals_components_per_branch():
    pca = BranchPCA()
    assert pca._plan({"multigap": 16928, "efficientnet": 2560}, 10**5)[1] == {"multigap": 8464, "efficientnet": 1280}


def test_branches_a_mapping_leaves_out_pass_through_or_drop(fused):
    through = BranchPCA(n_components={"multigap": 4}).fit(fused, branches=LAYOUT)
    out = through.transform(fused)
    assert out.shape == (300, 4 + 24)
    np.testing.assert_array_equal(out[:, 4:], fused[:, 40:])
    assert through.get_support().all()

    dropped = BranchPCA(n_components={"multigap": 4}, remainder="drop").fit(fused, branches=LAYOUT)
    assert dropped.transform(fused).shape == (300, 4)
    np.testing.assert_array_equal(dropped.get_support(indices=True), np.arange(40))


def test_a_mapping_that_names_no_fitted_branch_is_refused(fused):
    with pytest.raises(SelectionError, match="names none of the branches"):
        BranchPCA(n_components={"mobilenet": 10}).fit(fused, branches=LAYOUT)


@pytest.mark.parametrize("bad", [0, -3, 1.5, "ten", True])
def test_bad_n_components_is_refused_by_name(fused, bad):
    with pytest.raises(SelectionError, match="n_components"):
        BranchPCA(n_components=bad).fit(fused, branches=LAYOUT)


def test_matrix_or_store_of_another_layout_is_refused(fused, tmp_path):
    pca = BranchPCA(n_components=3).fit(fused, branches=LAYOUT)
    expected = r"X has 63 features.*fitted on 64: multigap \(40\) \+ efficientnet \(24\)"
    with pytest.raises(SelectionError, match=expected):
        pca.transform(fused[:, :63])
    other = write_synthetic_store(tmp_path / "o.h5", fused[:, :50], branches={"multigap": 40, "mobilenet": 10})
    with FeatureStore.open(other) as s, pytest.raises(SelectionError, match="no branch 'efficientnet'"):
        pca.transform_store(s)


def test_peak_memory_of_fit_store_does_not_grow_with_the_number_of_images(tmp_path):
    width = 256

    def peak(n):
        rng = np.random.default_rng(n)
        path = write_synthetic_store(tmp_path / f"m{n}.h5", rng.standard_normal((n, width)).astype(np.float32))
        with FeatureStore.open(path) as s:
            tracemalloc.start()
            BranchPCA(n_components=16, batch_size=256).fit_store(s)
            result = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return result

    small, large = peak(600), peak(6000)
    data_bytes = 6000 * width * 4
    assert large < 1.25 * small, (small, large)
    assert large < data_bytes / 2, "fitting must not hold the data set in memory"
