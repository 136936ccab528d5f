"""Numeric precision of the networks: ``fp32 | bf16 | auto``, and the Keras dtype policy for each.

bf16 halves the bytes every matmul and convolution moves and doubles the multiply rate where the
hardware has bf16 units (x1.9 measured for a 2048^2 matmul on an AVX512_BF16 CPU); where it has
none, TensorFlow emulates it and it is *slower* than fp32. So ``auto`` picks bf16 only where it
is native: a GPU of compute capability 8.0 or later (Ampere on), or, without a GPU, a CPU whose
``/proc/cpuinfo`` flags include ``avx512_bf16`` or ``amx_bf16``.

Models are built under :func:`dtype_policy_scope`, which sets Keras' global dtype policy only for
the duration of the build and restores the previous one after, so other code (the classifier,
the GA) never sees a leaked ``mixed_bfloat16``. ``mixed_bfloat16`` keeps variables in float32 and
computes in bfloat16; the feature models cast their outputs back to float32, and stores keep
their float16/float32 storage format whatever the precision.

This module is the one place that maps a precision to a policy name (:func:`policy_name`), so a
backend-neutral Keras 3 port changes nothing here.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Literal, Optional

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "auto"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}

#: CPU flags (``/proc/cpuinfo``) that mean bf16 dot products run in hardware.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: The first GPU compute capability with bf16 tensor cores (Ampere).
GPU_BF16_CAPABILITY = (8, 0)


class PrecisionError(ValueError):
    """A precision name that is not ``fp32``, ``bf16`` or ``auto``."""


def check_precision(precision: str) -> str:
    """``precision`` itself when it is one of :data:`PRECISIONS`, else one :class:`PrecisionError` line."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    return precision


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The feature flags of the first CPU listed in ``cpuinfo`` (empty where the file is missing)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: Optional[frozenset[str]] = None) -> bool:
    """Whether the CPU computes bf16 dot products in hardware (AVX512_BF16 or AMX-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in CPU_BF16_FLAGS)


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """Compute capability of every GPU the active Keras backend computes on (empty without GPUs).

    Asked of the backend itself (TensorFlow, PyTorch or JAX): a PyTorch- or JAX-only machine has
    no TensorFlow to ask, and asking TensorFlow there would wrongly report no GPU."""
    from aesthetic.backend import requested_backend

    backend = requested_backend()
    try:
        if backend == "torch":
            import torch

            return [tuple(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())]
        if backend == "jax":
            import jax

            return [tuple(int(part) for part in str(d.compute_capability).split(".")[:2])
                    for d in jax.devices() if d.platform == "gpu"]
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return [tuple(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)))
                for g in gpus]
    except Exception as exc:  # no such framework, or a driver that cannot be asked
        log.debug("no GPU compute capability available from %s: %s", backend, exc)
        return []


@lru_cache(maxsize=1)
def bf16_is_native() -> bool:
    """Whether the device the networks run on computes bf16 natively: every visible GPU from
    compute capability 8.0 when the backend has a GPU (it places the networks there), else the
    CPU's flags. Cached: the hardware does not change within a process."""
    capabilities = gpu_compute_capabilities()
    if capabilities:
        return all(tuple(c) >= GPU_BF16_CAPABILITY for c in capabilities)
    return cpu_has_native_bf16()


def resolve_precision(precision: str, native: Optional[bool] = None) -> Literal["fp32", "bf16"]:
    """``fp32`` or ``bf16`` for a precision setting: ``auto`` is bf16 where the hardware runs it
    natively (``native``, else :func:`bf16_is_native`), fp32 elsewhere."""
    check_precision(precision)
    if precision != "auto":
        return precision  # type: ignore[return-value]
    return "bf16" if (bf16_is_native() if native is None else native) else "fp32"


def policy_name(precision: str, native: Optional[bool] = None) -> str:
    """The Keras dtype policy name for a precision setting: ``float32`` or ``mixed_bfloat16``."""
    return _POLICIES[resolve_precision(precision, native)]


@contextmanager
def dtype_policy_scope(precision: str) -> Iterator[str]:
    """Build models under the policy of ``precision``; the previous global policy is restored on
    exit, even after an error. Yields the policy name."""
    import keras

    name = policy_name(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)
