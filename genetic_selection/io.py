"""Save and load selectors without pickle: HDF5 (any selector) or JSON (selectors without float arrays).

Layout (``format = "aesthetic-selector"``, ``format_version = 1``)::

    HDF5:  attrs  format, format_version, kind, params (JSON), state (JSON), versions (JSON)
           /arrays/<name>   fitted arrays (names may contain "/", e.g. "multigap/components")
    JSON:  {"format", "format_version", "kind", "params", "state", "versions",
            "arrays": {name: {"dtype", "shape", "data"}}}

``path`` is a ``.h5``/``.hdf5`` file, a ``.json`` file, or a directory (``selector.h5`` inside).
``load_selector`` returns the class registered under ``kind`` (:mod:`.registry`); the
constructor gets the saved params back, so a loaded selector's ``get_params()`` equals the
saved one's. This module sits below the selectors: it knows them only by their registered
kind and their ``_state()`` / ``_set_state()`` hooks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from aesthetic.fileio import PathLike, atomic_path, atomic_write_text, library_versions, to_jsonable

from .errors import SelectionError
from .registry import selector_class

if TYPE_CHECKING:
    from .base import Selector

FORMAT = "aesthetic-selector"
FORMAT_VERSION = 1
DIR_FILE = "selector.h5"
_H5_SUFFIXES = (".h5", ".hdf5")


def _jsonable(value: Any) -> Any:
    try:
        return to_jsonable(value)
    except TypeError as exc:
        raise SelectionError(f"cannot save a parameter value as JSON: {exc}") from None


def _resolve(path: PathLike, for_writing: bool) -> Path:
    path = Path(path)
    if path.suffix.lower() in _H5_SUFFIXES + (".json",):
        return path
    if for_writing:
        path.mkdir(parents=True, exist_ok=True)
        return path / DIR_FILE
    for name in (DIR_FILE, "selector.json"):
        if (path / name).exists():
            return path / name
    raise SelectionError(f"{path}: no selector file (expected {path}/{DIR_FILE}, a .h5 or a .json file)")


def save_selector(selector: "Selector", path: PathLike) -> Path:
    """Write a fitted selector atomically; returns the file written."""
    state, arrays = selector._state()
    target = _resolve(path, for_writing=True)
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": selector.kind,
        "params": _jsonable(selector.get_params(deep=False)), "state": _jsonable(state),
        "versions": library_versions(),
    }
    if target.suffix.lower() == ".json":
        floats = [name for name, a in arrays.items() if np.issubdtype(np.asarray(a).dtype, np.floating)]
        if floats:
            raise SelectionError(f"{target}: a {type(selector).__name__} holds float arrays ({floats[0]}, ...); "
                                 f"save it as .h5 or to a directory")
        header["arrays"] = {name: {"dtype": str(np.asarray(a).dtype), "shape": list(np.shape(a)),
                                   "data": np.asarray(a).ravel().tolist()} for name, a in arrays.items()}
        atomic_write_text(target, json.dumps(header, indent=1))
        return target
    with atomic_path(target, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        for key in ("format", "format_version", "kind"):
            f.attrs[key] = header[key]
        for key in ("params", "state", "versions"):
            f.attrs[key] = json.dumps(header[key])
        for name, a in arrays.items():
            f.create_dataset(f"arrays/{name}", data=np.asarray(a))
    return target


def _read_h5(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not h5py.is_hdf5(path):
        raise SelectionError(f"{path}: not an HDF5 file")
    with h5py.File(path, "r") as f:
        header = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        arrays: dict[str, np.ndarray] = {}
        if "arrays" in f:
            f["arrays"].visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                                   if isinstance(obj, h5py.Dataset) else None)
    for key in ("params", "state"):
        if key in header:
            header[key] = json.loads(header[key])
    return header, arrays


def _read_json(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SelectionError(f"{path}: not a JSON selector file ({exc})") from None
    if not isinstance(header, dict):
        raise SelectionError(f"{path}: not a JSON selector file")
    arrays = {name: np.asarray(a["data"], dtype=a["dtype"]).reshape(a["shape"])
              for name, a in header.pop("arrays", {}).items()}
    return header, arrays


def load_selector(path: PathLike) -> "Selector":
    """Load any saved selector (directory, ``.h5`` or ``.json``) as its own class."""
    source = _resolve(path, for_writing=False)
    if not source.exists():
        raise SelectionError(f"{source}: selector file not found")
    header, arrays = _read_json(source) if source.suffix.lower() == ".json" else _read_h5(source)
    if header.get("format") != FORMAT:
        raise SelectionError(f"{source}: not an aesthetic selector file (format {header.get('format')!r})")
    if int(header.get("format_version", -1)) > FORMAT_VERSION:
        raise SelectionError(f"{source}: format version {header['format_version']} is newer than "
                             f"this code reads ({FORMAT_VERSION})")
    try:
        cls = selector_class(header.get("kind"))
    except ValueError as exc:
        raise SelectionError(f"{source}: {exc}") from None
    kind = header.get("kind")
    try:
        selector = cls(**header["params"])
        selector._set_state(header["state"], arrays)
        problem = selector._state_problem()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        raise SelectionError(f"{source}: damaged {kind} selector ({problem}); fit and save it again")
    return selector
