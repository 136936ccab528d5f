"""Choosing the Keras backend (aesthetic.backend, `aesthetic --backend`) and recording it (issue 18).

The cross-backend comparisons run in subprocesses in tests/test_backends.py (marker `backends`)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from aesthetic.backend import BackendError, describe, inference_fn, select_backend


def test_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(BackendError, match="unknown backend 'theano': choose one of tensorflow, jax, torch"):
        select_backend("theano")


def test_another_backend_after_keras_started_is_refused(monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())
    other = "jax" if keras.backend.backend() != "jax" else "torch"
    pytest.importorskip(other)
    with pytest.raises(BackendError, match=f"Keras already runs on '{keras.backend.backend()}'"):
        select_backend(other)
    assert select_backend(keras.backend.backend().upper()) == keras.backend.backend()


def test_cli_rejects_a_bad_backend_before_running_a_command():
    from aesthetic.cli import app

    result = CliRunner().invoke(app, ["--backend", "nope", "branches"])
    assert result.exit_code == 2
    assert "unknown backend 'nope'" in result.output


def test_bundles_record_the_backend_that_made_them():
    from aesthetic.bundles.model import bundle_header

    header = bundle_header("full")
    assert header["backend"] == describe()
    assert header["backend"]["backend"] == "tensorflow" and header["backend"]["keras_version"]


def test_inference_fn_equals_the_model_call_on_any_input_size():
    import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    fn = inference_fn(model)
    for shape in ((2, 9, 7, 3), (1, 12, 16, 3)):
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        out = fn(x)
        assert out.dtype == np.float32 and out.shape == (shape[0], 4)
        np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)


_ONEDNN_PROBE = """
import os, sys
from aesthetic.backend import ONEDNN_ENV, onednn_enabled, prefer_onednn
asked = prefer_onednn()
before = os.environ.get(ONEDNN_ENV)
import tensorflow
print(asked, before, onednn_enabled(), prefer_onednn(), os.environ.get(ONEDNN_ENV))
"""


@pytest.mark.parametrize("preset, expected", [
    (None, "True 1 True False 1"),      # asked before TensorFlow starts: on; asking again after is a no-op
    ("0", "False 0 False False 0"),     # the user's own setting wins
])
def test_prefer_onednn_turns_on_tensorflows_onednn_kernels_unless_the_user_decided(preset, expected):
    import os
    import subprocess
    import sys

    from aesthetic.backend import ONEDNN_ENV

    env = {key: value for key, value in os.environ.items() if key != ONEDNN_ENV}
    if preset is not None:
        env[ONEDNN_ENV] = preset
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out = subprocess.run([sys.executable, "-c", _ONEDNN_PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == expected
