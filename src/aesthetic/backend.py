"""Which Keras backend runs the models (TensorFlow, JAX or PyTorch), and the few things that differ.

Keras 3 fixes its backend once per process, when ``keras`` is first imported, from the
``KERAS_BACKEND`` environment variable (TensorFlow when unset: the product's default). Every
model in the project (branches, FC, students, distillation) is plain Keras, so the same
``.h5`` / ``.weights.h5`` / ``.keras`` files load on any backend. What is not plain Keras lives
here, one function per difference:

- :func:`select_backend` sets the backend before Keras is imported (the CLI's ``--backend``);
- :func:`inference_fn` turns a model into a compiled ``numpy -> numpy`` forward pass
  (``tf.function`` on TensorFlow, ``jax.jit`` of the stateless call on JAX, ``torch.no_grad``
  eager calls on PyTorch);
- :func:`describe` is what stores and bundles record about the backend that made them;
- :func:`prefer_onednn` asks TensorFlow for its oneDNN CPU kernels before it is imported (the GA).

Precision (fp32 / bf16) is not decided here: it is Keras' global dtype policy
(``keras.config.set_dtype_policy``) in force when a model is built, which the precision
setting (``aesthetic.precision``) sets. :func:`inference_fn` accepts any policy: inputs go in as
float32 (layers cast them to their compute dtype) and outputs come back as float32 numpy.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"
_PACKAGE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


class BackendError(ValueError):
    """An unknown backend, or one asked for after Keras already started with another."""


def requested_backend() -> str:
    """The backend Keras uses or will use in this process (without importing Keras)."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND)


def select_backend(name: str | None) -> str:
    """Make ``name`` the Keras backend of this process (None keeps ``KERAS_BACKEND`` or the default).

    Must run before Keras is imported; asking for another backend afterwards raises
    :class:`BackendError` (Keras cannot switch backends inside one process)."""
    if name is None:
        return requested_backend()
    name = name.strip().lower()
    if name not in BACKENDS:
        raise BackendError(f"unknown backend '{name}': choose one of {', '.join(BACKENDS)}")
    if importlib.util.find_spec(_PACKAGE[name]) is None:
        raise BackendError(f"backend '{name}' is not installed (pip install {_PACKAGE[name]})")
    if "keras" in sys.modules:
        current = requested_backend()
        if current != name:
            raise BackendError(f"Keras already runs on '{current}' in this process; "
                               f"set KERAS_BACKEND={name} before it starts")
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


def backend_name() -> str:
    """The backend Keras runs on (imports Keras)."""
    import keras

    return keras.backend.backend()


def describe() -> dict[str, str]:
    """``{"backend": name, "backend_version": version, "keras_version": version}``: what stores
    and bundles record about the software that computed them."""
    import keras

    name = keras.backend.backend()
    module = sys.modules.get(_PACKAGE[name])
    return {"backend": name, "backend_version": str(getattr(module, "__version__", "")),
            "keras_version": keras.__version__}


def to_numpy(x) -> np.ndarray:
    """A backend tensor (or numpy array) as float32 numpy."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x)).astype(np.float32, copy=False)


def inference_fn(model) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled forward pass of ``model`` in inference mode: ``(n, ...) float32 -> float32 numpy``.

    Compiled once per input shape (shape buckets keep their number small); the model's
    weights are read at call time, so weights loaded after this is built are used."""
    name = backend_name()
    if name == "tensorflow":
        return _tensorflow_fn(model)
    if name == "jax":
        return _jax_fn(model)
    return _torch_fn(model)


def _tensorflow_fn(model) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    # Any batch size and spatial size (the last axis, channels or features, as the model's): one
    # trace serves every shape bucket.
    spec = tf.TensorSpec([None] * (len(model.input_shape) - 1) + [model.input_shape[-1]], tf.float32)
    fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], reduce_retracing=True)
    return lambda x: to_numpy(fn(tf.convert_to_tensor(np.asarray(x, np.float32))))


def _jax_fn(model) -> Callable[[np.ndarray], np.ndarray]:
    import jax

    @jax.jit
    def forward(trainable, frozen, x):
        out, _ = model.stateless_call(trainable, frozen, x, training=False)
        return out

    def call(x: np.ndarray) -> np.ndarray:
        # The variables' current values on every call, so weights loaded later are seen.
        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]
        return to_numpy(forward(trainable, frozen, np.asarray(x, np.float32)))

    return call


def _torch_fn(model) -> Callable[[np.ndarray], np.ndarray]:
    import keras
    import torch

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return to_numpy(model(keras.ops.convert_to_tensor(np.asarray(x, np.float32)), training=False))

    return forward


def device_name() -> str:
    """The accelerator the backend computes on, in words ("cpu" when none)."""
    name = backend_name()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "cpu"
        if name == "jax":
            import jax

            dev = jax.devices()[0]
            return "cpu" if dev.platform == "cpu" else str(getattr(dev, "device_kind", dev.platform))
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception as exc:  # a driver problem must not stop a run that only wants a label
        log.warning("could not name the %s device: %s", name, exc)
        return "unknown"


#: TensorFlow's switch for its oneDNN CPU kernels, read once when TensorFlow is imported. TensorFlow
#: turns them on by itself only on CPUs it lists (recent Intel with AVX512 VNNI/BF16 or AMX), so
#: elsewhere (this project's AVX2 AMD CPU) they are off unless asked for.
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn() -> bool:
    """Ask TensorFlow for its oneDNN CPU kernels in this process; False where that can no longer
    happen (TensorFlow already imported) or the environment already decides (the user's own
    ``TF_ENABLE_ONEDNN_OPTS``, any value, wins).

    For the GA's fitness: its ``(P, 64, k) @ (P, k, batch)`` batched matmuls run at about 2.5x
    Eigen's rate under oneDNN here (a GA step at P 98, k 5000: 350 -> 125 ms; see
    ``benchmarks/results/ga_compute.md``). Not for extraction: on the same CPU oneDNN made
    InceptionResNetV2 about 25% slower and EfficientNetB7 about 20% faster, so extraction keeps
    TensorFlow's own choice."""
    if "tensorflow" in sys.modules or ONEDNN_ENV in os.environ:
        return False
    os.environ[ONEDNN_ENV] = "1"
    return True


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (imports TensorFlow); None
    where this TensorFlow cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def allow_gpu_memory_growth() -> None:
    """TensorFlow grabs all GPU memory by default; let several workers share a GPU. JAX and
    PyTorch are told the same through their own settings (``XLA_PYTHON_CLIENT_PREALLOCATE``)."""
    name = requested_backend()
    if name == "jax":
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        return
    if name != "tensorflow":
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth can only be set before first use
            pass


def record(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` with :func:`describe`'s keys added (a new dict)."""
    return {**metadata, **describe()}
