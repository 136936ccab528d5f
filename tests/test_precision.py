"""Precision (fp32 | bf16 | auto): what auto picks, the dtype policy the networks are built under,
what the store records, resumes of another precision refused, and bf16 features close to fp32."""

from __future__ import annotations

import json

import cv2
import keras
import numpy as np
import pytest

from aesthetic.feature_extraction import ExtractionConfig, ExtractionJobError, FeatureExtractor, extract
from aesthetic.feature_extraction.job import job_identity, parts_dir, prepare_work_dir
from aesthetic.data import load_manifest
from aesthetic.feature_store import FeatureStore
from aesthetic.precision import (PrecisionError, cpu_flags, cpu_has_native_bf16, dtype_policy_scope, policy_name,
                                 resolve_precision)

CONFIG = dict(branches=["mobilenet"], weights={"mobilenet": None}, input_scale=0.25, chunk_size=2, batch_size=2)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _folder(tmp_path, astronaut, n=3):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"img_{i}.jpg"), astronaut[40 * i:40 * i + 200, 30 * i:30 * i + 260, ::-1])
    return folder


def test_auto_is_bf16_only_where_the_hardware_has_it(tmp_path):
    with_bf16 = tmp_path / "cpuinfo_bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n\nprocessor\t: 1\n")
    without = tmp_path / "cpuinfo_plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    amx = tmp_path / "cpuinfo_amx"
    amx.write_text("flags\t: fpu amx_tile amx_bf16\n")
    assert cpu_has_native_bf16(cpu_flags(with_bf16)) and cpu_has_native_bf16(cpu_flags(amx))
    assert not cpu_has_native_bf16(cpu_flags(without)) and cpu_flags(tmp_path / "missing") == frozenset()
    assert resolve_precision("auto", native=True) == "bf16" and resolve_precision("auto", native=False) == "fp32"
    assert resolve_precision("bf16", native=False) == "bf16" and resolve_precision("fp32", native=True) == "fp32"
    assert policy_name("bf16") == "mixed_bfloat16" and policy_name("fp32") == "float32"
    with pytest.raises(PrecisionError, match="'fp16' is not one of fp32, bf16, auto"):
        resolve_precision("fp16")


def test_the_policy_scope_restores_the_global_policy_even_after_an_error():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with dtype_policy_scope("bf16") as name:
            assert name == keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("build failed")
    assert keras.config.dtype_policy().name == before


def test_the_precision_reaches_every_layer_and_leaks_nowhere():
    fx = ExtractionConfig(**CONFIG, precision="bf16").build_extractor()
    model = fx.model("mobilenet")
    assert fx.precision == "bf16" and fx.dtype_policy == "mixed_bfloat16"
    policies = {layer.dtype_policy.name for layer in model.layers if layer.weights}
    assert policies == {"mixed_bfloat16"}
    assert keras.config.dtype_policy().name == "float32"
    assert keras.layers.Dense(2).dtype_policy.name == "float32"  # a model built afterwards is fp32
    fp32 = ExtractionConfig(**CONFIG, precision="fp32").build_extractor()
    assert {layer.dtype_policy.name for layer in fp32.model("mobilenet").layers} == {"float32"}


def test_cli_flag_reaches_the_store_and_the_rebuilt_model(tmp_path, astronaut):
    from typer.testing import CliRunner

    from aesthetic.cli import app

    folder = _folder(tmp_path, astronaut, 2)
    result = CliRunner().invoke(app, ["extract", str(folder), "--out", str(tmp_path / "f.h5"), "--branches", "mobilenet",
                                      "--weights", "none", "--input-scale", "0.25", "--precision", "bf16",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    with FeatureStore.open(tmp_path / "f.h5") as st:
        assert st.metadata["precision"] == "bf16" and st.metadata["extractor"]["precision"] == "bf16"
        assert st.metadata["job"]["config"]["precision"] == "bf16"
        assert st.read("mobilenet").dtype == np.float32 and st._files[0]["features"]["mobilenet"].dtype == np.float16
        rebuilt = FeatureExtractor.from_config(st.metadata["extractor"])
    assert rebuilt.model("mobilenet").dtype_policy.name == "mixed_bfloat16"
    bad = CliRunner().invoke(app, ["extract", str(folder), "--out", str(tmp_path / "g.h5"), "--precision", "half"])
    assert bad.exit_code == 2 and "precision" in bad.output


def test_auto_is_recorded_resolved_and_old_configs_rebuild_in_fp32(tmp_path, astronaut):
    fx = ExtractionConfig(**CONFIG).build_extractor()
    assert fx.precision == resolve_precision("auto") and fx.config().precision == fx.precision
    old = {k: v for k, v in fx.config().model_dump().items() if k != "precision"}
    assert FeatureExtractor.from_config(old).precision == "fp32"
    assert FeatureExtractor.from_config(old, precision="bf16").precision == "bf16"
    assert FeatureExtractor.from_config({**old, "precision": "bf16"}, precision=None).precision == "bf16"


def test_a_finished_store_of_another_precision_is_refused_in_one_sentence(tmp_path, astronaut):
    folder = _folder(tmp_path, astronaut)
    extract(folder, tmp_path / "f.h5", ExtractionConfig(**CONFIG, precision="fp32"), progress=False)
    with pytest.raises(ExtractionJobError) as err:
        extract(folder, tmp_path / "f.h5", ExtractionConfig(**CONFIG, precision="bf16"), progress=False)
    message = str(err.value)
    assert "its features were computed in fp32 and this run asks for bf16; pass --precision fp32" in message
    assert message.count(". ") == 0 and "\n" not in message


def test_a_partial_run_of_another_precision_is_refused(tmp_path, astronaut):
    folder = _folder(tmp_path, astronaut)
    out = tmp_path / "f.h5"
    manifest = load_manifest(folder)
    fp32 = ExtractionConfig(**CONFIG, precision="fp32")
    prepare_work_dir(parts_dir(out), job_identity(manifest, fp32, fp32.build_extractor()), "part-*.h5")
    with pytest.raises(ExtractionJobError, match="holds a partial run .*computed in fp32 and this run asks for bf16"):
        extract(folder, out, ExtractionConfig(**CONFIG, precision="bf16"), progress=False)
    assert json.loads((parts_dir(out) / "job.json").read_text())["config"]["precision"] == "fp32"


def _bf16_vs_fp32(branch: str, images, input_scale: float) -> np.ndarray:
    feats = {p: FeatureExtractor([branch], None, input_scale=input_scale, precision=p).extract_arrays(images)[branch]
             for p in ("fp32", "bf16")}
    assert not np.array_equal(feats["fp32"], feats["bf16"])  # bf16 really ran
    return _cosines(feats["fp32"], feats["bf16"])


def test_bf16_features_are_within_cosine_0999_of_fp32_mobilenet(astronaut):
    # Measured: min cosine 0.99999 (random weights, 56x56, three crops of the astronaut).
    crops = [astronaut[:300, :400], astronaut[100:400, 50:350], astronaut[::2, ::2]]
    assert _bf16_vs_fp32("mobilenet", crops, 0.25).min() >= 0.999


@pytest.mark.slow
@pytest.mark.parametrize("branch", ["multigap", "efficientnet"])
def test_bf16_features_are_within_cosine_0999_of_fp32_big_branches(astronaut, branch):
    # Measured at input scale 0.25, random weights: multigap 0.99999, efficientnet 0.9998 (min over images).
    crops = [astronaut[:300, :400], astronaut[100:400, 50:350]]
    assert _bf16_vs_fp32(branch, crops, 0.25).min() >= 0.999


def test_auto_asks_the_active_backend_for_its_gpus(monkeypatch):
    """On a PyTorch- or JAX-only GPU machine there is no TensorFlow to ask: the backend itself is asked."""
    import sys
    import types

    import aesthetic.backend
    import aesthetic.precision as precision

    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(
        device_count=lambda: 2, get_device_capability=lambda i: (9, 0) if i == 0 else (7, 5)))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setattr(aesthetic.backend, "requested_backend", lambda: "torch")
    assert precision.gpu_compute_capabilities() == [(9, 0), (7, 5)]
    fake_jax = types.SimpleNamespace(devices=lambda: [types.SimpleNamespace(platform="gpu", compute_capability="9.0"),
                                                     types.SimpleNamespace(platform="cpu", compute_capability="")])
    monkeypatch.setitem(sys.modules, "jax", fake_jax)
    monkeypatch.setattr(aesthetic.backend, "requested_backend", lambda: "jax")
    assert precision.gpu_compute_capabilities() == [(9, 0)]
    precision.bf16_is_native.cache_clear()
    try:
        assert precision.bf16_is_native()  # every visible GPU is Ampere or later
        monkeypatch.setattr(aesthetic.backend, "requested_backend", lambda: "torch")
        precision.bf16_is_native.cache_clear()
        assert not precision.bf16_is_native()  # one Turing card: not every GPU has bf16 units
    finally:
        precision.bf16_is_native.cache_clear()
