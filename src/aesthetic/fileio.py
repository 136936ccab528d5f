"""File writing every layer shares: atomic writes, atomic folders, JSON, library versions.

A reader of any artifact this project writes sees the old file (or folder) or the
complete new one, never a torn one: everything is built beside its target and renamed
into place. JSON is written through :func:`to_jsonable` (numpy values, paths and
dataclasses become plain JSON) so there is one rule for what an artifact holds.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import math
import os
import shutil
import tempfile
import tomllib
import uuid
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Union

import numpy as np

PathLike = Union[str, os.PathLike]

#: Distributions whose versions change feature values; recorded with every artifact.
_VERSIONED = ("tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "torch", "numpy", "h5py",
              "opencv-python-headless")


def library_versions() -> dict[str, str]:
    """Versions that affect feature values, stored with every artifact."""
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def default_file_mode() -> int:
    """0666 less the process umask: the mode ``open()`` gives a new file (``mkstemp`` gives 0600)."""
    try:  # Linux reports the umask without changing it (os.umask would, for a moment, in every thread)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A reader therefore sees the old file or the complete new one, never a torn one. The file
    gets the permissions a plain ``open()`` would give it (0644 under the usual umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield an empty hidden directory beside ``path``; swap it in for ``path`` if the block succeeds.

    An existing ``path`` is moved aside, replaced, then deleted, so a reader sees the old
    folder or the complete new one; on failure ``path`` is untouched and the temporary goes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        if path.exists():
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def _read_structured(path: PathLike, loads: Callable[[str], Any], errors: tuple[type[Exception], ...],
                     kind: str, what: str, error: type[Exception]) -> Any:
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what} ({getattr(exc, 'strerror', None) or exc})") from None
    except errors as exc:
        raise error(f"{path}: not valid {kind} ({exc})") from None


def read_json(path: PathLike, what: str = "JSON file", error: type[Exception] = ValueError) -> Any:
    """Parsed JSON of ``path``; a missing, unreadable or malformed file raises ``error`` naming it."""
    return _read_structured(path, json.loads, (json.JSONDecodeError,), "JSON", what, error)


def read_toml(path: PathLike, what: str = "TOML file", error: type[Exception] = ValueError) -> dict[str, Any]:
    """Parsed TOML of ``path``; a missing, unreadable or malformed file raises ``error`` naming it."""
    return _read_structured(path, tomllib.loads, (tomllib.TOMLDecodeError,), "TOML", what, error)


def to_jsonable(value: Any, nan_as_none: bool = False) -> Any:
    """``value`` as plain JSON types: dicts (str keys), lists, str, int, float, bool, None.

    Dataclasses become dicts; numpy arrays lists; numpy scalars Python numbers; paths
    strings. With ``nan_as_none`` a NaN or infinite float becomes None (strict JSON, for
    reports read by other tools); otherwise it stays a float and is written as ``NaN``.
    Anything else raises TypeError naming its type.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value), nan_as_none)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, nan_as_none) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, nan_as_none) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), nan_as_none)
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), nan_as_none)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return None if nan_as_none and not math.isfinite(value) else value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"cannot write a value of type {type(value).__name__} as JSON: {value!r}")


def json_text(value: Any, nan_as_none: bool = False, indent: int | None = 2, sort_keys: bool = True) -> str:
    """``value`` (see :func:`to_jsonable`) as JSON text."""
    return json.dumps(to_jsonable(value, nan_as_none), indent=indent, sort_keys=sort_keys,
                      allow_nan=not nan_as_none)


def write_json(path: PathLike, value: Any, nan_as_none: bool = False, indent: int | None = 2,
               sort_keys: bool = True) -> Path:
    """Write ``value`` as JSON to ``path`` atomically; returns the path."""
    atomic_write_text(path, json_text(value, nan_as_none, indent, sort_keys))
    return Path(path)
