"""The same models on JAX and PyTorch as on TensorFlow (issue 18).

Keras fixes its backend once per process, so each backend runs ``tests/backend_worker.py`` in
its own subprocess with ``KERAS_BACKEND`` set. TensorFlow runs first and writes the shared
files (random branch weights as ``.weights.h5``, the FC's initial weights, a full bundle); JAX
and PyTorch load those same files and their results are compared with TensorFlow's.

Tolerances (measured on CPU, jax 0.10.2, torch 2.13.0, tensorflow 2.21.0, keras 3.15.1):
- features: max |difference| <= 1e-4 x max |TensorFlow's feature| (seen: 3e-6 on NIMA features
  of real photos, 4e-7 with random weights);
- FC after one Adam step, bundle probabilities: 1e-5 absolute (seen: <= 4e-7);
- GA population logits after two epochs: 1e-2 x max |logit| (seen: 1.5e-4 on PyTorch, 1.4e-3 on
  JAX: Adam divides by the root of tiny second moments, so rounding differences in near-zero
  gradients grow into full-size steps); fitness, a count of rows called right, may move by a
  row that sits at the threshold: within 0.05.

Marked ``backends`` and not in the default run: JAX compiles every layer shape on first use, so the
three processes took 12 minutes on two CPU cores shared with other jobs (about 5 alone). Run with ``pytest -m backends``; the
random-weight comparison of the full-size architectures (multigap, efficientnet) is also ``slow``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.backends

WORKER = Path(__file__).with_name("backend_worker.py")
OTHERS = ("jax", "torch")
FEATURE_RTOL, PROB_ATOL, LOGIT_RTOL, FITNESS_ATOL = 1e-4, 1e-5, 1e-2, 0.05


def _run(backend: str, out: Path, ref: Path, branches: str) -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    log = open(out / f"{backend}.log", "w")
    return subprocess.Popen([sys.executable, str(WORKER), str(out), str(ref), branches],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def _results(tmp_path_factory, branches: str) -> dict[str, dict[str, np.ndarray]]:
    missing = [b for b in OTHERS if importlib.util.find_spec(b) is None]
    if missing:
        pytest.skip(f"backends not installed: {', '.join(missing)} (AESTHETIC_BACKENDS=1 bash scripts/setup.sh installs them)")
    out, ref = tmp_path_factory.mktemp("backend_out"), tmp_path_factory.mktemp("backend_ref")
    if _run("tensorflow", out, ref, branches).wait() != 0:
        pytest.fail(f"tensorflow worker failed:\n{(out / 'tensorflow.log').read_text()[-3000:]}")
    procs = {b: _run(b, out, ref, branches) for b in OTHERS}  # the two read the same files: run together
    for b, proc in procs.items():
        if proc.wait() != 0:
            pytest.fail(f"{b} worker failed:\n{(out / f'{b}.log').read_text()[-3000:]}")
    return {b: dict(np.load(out / f"{b}.npz")) for b in ("tensorflow", *OTHERS)}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return _results(tmp_path_factory, "mobilenet")


def _relative_error(ref: np.ndarray, other: np.ndarray) -> float:
    return float(np.abs(ref.astype(np.float64) - other).max() / max(np.abs(ref).max(), 1e-12))


@pytest.mark.parametrize("backend", OTHERS)
def test_each_worker_ran_on_its_backend_with_the_neutral_ga_model(results, backend):
    assert results[backend]["info"].tolist() == [backend, "OpsPopulationFC"]
    assert results["tensorflow"]["info"].tolist() == ["tensorflow", "PopulationFC"]


@pytest.mark.parametrize("backend", OTHERS)
def test_nima_features_of_real_photos_match_tensorflow(results, backend):
    ref, got = results["tensorflow"]["nima_features"], results[backend]["nima_features"]
    assert ref.shape == got.shape == (4, 5952) and np.abs(ref).max() > 0.1
    assert _relative_error(ref, got) <= FEATURE_RTOL


@pytest.mark.parametrize("backend", OTHERS)
def test_branch_weights_saved_by_tensorflow_give_the_same_features(results, backend):
    ref, got = results["tensorflow"]["branch_mobilenet"], results[backend]["branch_mobilenet"]
    assert ref.shape == got.shape == (2, 5952)
    assert _relative_error(ref, got) <= FEATURE_RTOL


@pytest.mark.parametrize("backend", OTHERS)
def test_one_fc_training_step_matches_tensorflow(results, backend):
    ref, got = results["tensorflow"], results[backend]
    np.testing.assert_allclose(got["fc_loss"], ref["fc_loss"], atol=PROB_ATOL)
    np.testing.assert_allclose(got["fc_prob"], ref["fc_prob"], atol=PROB_ATOL)
    # the step changed the network: probabilities are not all the initial ones
    assert np.ptp(ref["fc_prob"]) > 0.01


@pytest.mark.parametrize("backend", OTHERS)
def test_one_ga_fitness_generation_matches_tensorflow(results, backend):
    ref, got = results["tensorflow"], results[backend]
    assert got["ga_logits"].shape == (5, 50)
    assert _relative_error(ref["ga_logits"], got["ga_logits"]) <= LOGIT_RTOL
    np.testing.assert_allclose(got["ga_fitness"], ref["ga_fitness"], atol=FITNESS_ATOL)
    assert ((got["ga_fitness"] >= 0) & (got["ga_fitness"] <= 1)).all()


@pytest.mark.parametrize("backend", OTHERS)
def test_bundle_saved_under_tensorflow_predicts_the_same(results, backend):
    ref, got = results["tensorflow"], results[backend]
    np.testing.assert_allclose(got["bundle_features_prob"], ref["bundle_features_prob"], atol=PROB_ATOL)
    assert not np.isnan(ref["bundle_photo_prob"]).any()
    np.testing.assert_allclose(got["bundle_photo_prob"], ref["bundle_photo_prob"], atol=PROB_ATOL)


@pytest.mark.slow
def test_full_architectures_with_random_weights_match_tensorflow(tmp_path_factory):
    """MultiGAP (InceptionResNetV2) and EfficientNetB7 at 0.3 scale: building them on JAX alone
    takes minutes here, hence slow."""
    res = _results(tmp_path_factory, "multigap,efficientnet")
    for backend in OTHERS:
        for branch in ("multigap", "efficientnet"):
            ref, got = res["tensorflow"][f"branch_{branch}"], res[backend][f"branch_{branch}"]
            assert _relative_error(ref, got) <= FEATURE_RTOL, (backend, branch)
