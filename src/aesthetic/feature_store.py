"""The HDF5 feature store every stage after extraction reads.

Layout of one store file (``format = "aesthetic-features"``, ``format_version = 1``)::

    /ids                 (n,) utf-8 str    image id (path relative to the input root, or the CSV's path)
    /paths               (n,) utf-8 str    path the image was read from
    /labels              (n,) float32      label, NaN where none was given
    /status              (n,) int8         0 pending, 1 ok, 2 failed
    /errors              (n,) utf-8 str    why a failed image failed ("" otherwise)
    /features/<branch>   (n, width)        float16 or float32, chunked by rows; rows of failed images are 0
    attrs: branches (JSON list, in fusion order), metadata (JSON: config, library versions)
    /features/<branch> attrs: width, weights, weights_sha256, input_policy, layer_names (JSON)

A *sharded* store is a JSON manifest (``format = "aesthetic-feature-shards"``)
listing store files in row order; ``FeatureStore.open`` reads either the same way,
so nothing downstream knows the difference. Reads are by row slices, never the
whole file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np

from aesthetic.fileio import PathLike, atomic_path, atomic_write_text

FORMAT = "aesthetic-features"
SHARDS_FORMAT = "aesthetic-feature-shards"
FORMAT_VERSION = 1

STATUS_PENDING, STATUS_OK, STATUS_FAILED = 0, 1, 2
STATUS_NAMES = {STATUS_PENDING: "pending", STATUS_OK: "ok", STATUS_FAILED: "failed"}

_STR = h5py.string_dtype("utf-8")


class FeatureStoreError(ValueError):
    """A store file that is missing, of another format, or inconsistent."""


@dataclass
class BranchData:
    """Features of one branch for a block of rows, with what produced them."""

    features: np.ndarray  # (n, width)
    attrs: dict[str, Any] = field(default_factory=dict)


def _as_str_array(values: Sequence[str]) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=object)


def write_store(path: PathLike, *, ids: Sequence[str], paths: Sequence[str],
                labels: Sequence[float] | None, status: Sequence[int], errors: Sequence[str],
                branches: Mapping[str, BranchData], metadata: Mapping[str, Any] | None = None,
                dtype: str = "float16", compression: str | None = None,
                chunk_rows: int = 256) -> Path:
    """Write a complete store file atomically. Branch order in ``branches`` is the fusion order."""
    n = len(ids)
    if not (len(paths) == len(status) == len(errors) == n):
        raise FeatureStoreError("ids, paths, status and errors must have the same length")
    if np.dtype(dtype) not in (np.float16, np.float32):
        raise FeatureStoreError(f"dtype must be float16 or float32, not {dtype!r}")
    labels_arr = (np.full(n, np.nan, np.float32) if labels is None
                  else np.asarray(labels, dtype=np.float32))
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["branches"] = json.dumps(list(branches))
        f.attrs["metadata"] = json.dumps(dict(metadata or {}), sort_keys=True, default=str)
        f.create_dataset("ids", data=_as_str_array(ids), dtype=_STR)
        f.create_dataset("paths", data=_as_str_array(paths), dtype=_STR)
        f.create_dataset("labels", data=labels_arr)
        f.create_dataset("status", data=np.asarray(status, dtype=np.int8))
        f.create_dataset("errors", data=_as_str_array(errors), dtype=_STR)
        group = f.create_group("features")
        for name, data in branches.items():
            feats = np.asarray(data.features)
            if feats.ndim != 2 or feats.shape[0] != n:
                raise FeatureStoreError(f"branch {name!r}: features of shape {feats.shape}, expected ({n}, width)")
            ds = group.create_dataset(
                name, data=feats.astype(dtype, copy=False),
                chunks=(max(1, min(n, chunk_rows)), feats.shape[1]) if n else None,
                compression=compression if n else None,
                shuffle=bool(compression) and n > 0, fletcher32=n > 0)
            ds.attrs["width"] = int(feats.shape[1])
            for key, value in data.attrs.items():
                ds.attrs[key] = value if isinstance(value, (int, float, str)) else json.dumps(value, default=str)
    return path


def _read_checked(ds, rows, source: Path, branch: str) -> np.ndarray:
    """``ds[rows]``, with a checksum failure (garbled bytes on disk) turned into one sentence."""
    try:
        return ds[rows]
    except OSError as exc:
        raise FeatureStoreError(f"{source}: the stored features of branch {branch!r} are corrupt "
                                f"(HDF5 read failed: {str(exc).splitlines()[0]}); re-extract this store") from None


def _decode_str(values: np.ndarray) -> np.ndarray:
    return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object)


def _read_strings(ds, rows) -> np.ndarray:
    """``ds[rows]`` of a utf-8 string dataset as an object array of str."""
    return _decode_str(ds[rows])


def rows_by_file(offsets: np.ndarray, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Row indices ``idx`` of a store made of files starting at ``offsets``, grouped by file: for each file
    ``k`` that holds some, ``(k, where, local)``: their positions in ``idx`` and their rows within file
    ``k``, ascending (so a contiguous run reads as one slice)."""
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    file_of = np.searchsorted(offsets, sorted_idx, side="right") - 1
    for k in np.unique(file_of):
        sel = file_of == k
        yield int(k), order[sel], sorted_idx[sel] - offsets[k]


class StringColumn(Sequence[str]):
    """One per-image string column of a store (``ids``, ``paths`` or ``errors``), read from disk on demand.

    A store of 10^7 images holds about 1 GB of these strings as Python objects, so they are never
    loaded at open: ``column[i]`` reads one string, ``column[rows]`` (slice, bool mask or indices)
    an object array of them, and iteration reads blocks of ``chunk_rows``. ``np.asarray(column)``
    reads it all, for callers that want the whole column.
    """

    def __init__(self, store: "FeatureStore", key: str, chunk_rows: int = 65536):
        self._store, self.key, self.chunk_rows = store, key, int(chunk_rows)

    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            n = len(self)
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"row {int(key)} out of range for a store of {n} rows")
            return str(self._take(np.array([i], dtype=np.int64))[0])
        return self._take(self._store._rows(key))

    def _take(self, idx: np.ndarray) -> np.ndarray:
        """The strings at row indices ``idx`` (any order, repeats allowed), as an object array."""
        store = self._store
        out = np.empty(len(idx), dtype=object)
        if len(idx) == 0:
            return out
        if idx.min() < 0 or idx.max() >= len(store):
            raise IndexError(f"rows out of range for a store of {len(store)} rows")
        for k, where, local in rows_by_file(store._offsets, idx):
            lo, hi = int(local[0]), int(local[-1]) + 1
            ds = store._files[k][self.key]
            if hi - lo <= 4 * len(local):  # dense enough: one contiguous read
                out[where] = _read_strings(ds, slice(lo, hi))[local - lo]
            else:
                uniq, inverse = np.unique(local, return_inverse=True)
                out[where] = _read_strings(ds, uniq)[inverse]
        return out

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), self.chunk_rows):
            yield from self[start:start + self.chunk_rows].tolist()

    def __contains__(self, value: object) -> bool:
        return any(v == value for v in self)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)

    def tolist(self) -> list[str]:
        return list(self)

    def __repr__(self) -> str:
        return f"<StringColumn {self.key!r} of {len(self)} rows from {self._store.source}>"


class FeatureStore:
    """Read-only view over one store file or a shard manifest, in row order.

    The numeric per-image columns (labels, status: 5 bytes a row) are loaded at open; the string
    columns ``ids``, ``paths`` and ``errors`` are :class:`StringColumn` views read on demand, and
    features are read lazily by rows with :meth:`read`, :meth:`features` or :meth:`iter_chunks`,
    so a store opens in the same time and memory whatever its number of rows.
    """

    def __init__(self, files: Sequence[PathLike], source: PathLike | None = None):
        if not files:
            raise FeatureStoreError(f"{source}: no store files")
        self.source = Path(source or files[0])
        self._sources = [Path(p) for p in files]
        self._files = []
        for p in files:
            try:
                self._files.append(h5py.File(p, "r"))
            except OSError as exc:
                self.close()
                raise FeatureStoreError(f"{p}: unreadable feature store ({exc})") from None
        try:
            self._read_columns(files)
        except FeatureStoreError:
            self.close()
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:  # damaged or hand-made files
            self.close()
            raise FeatureStoreError(f"{self.source}: damaged feature store ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else 'missing data'})") from None

    def _read_columns(self, files: Sequence[PathLike]) -> None:
        first = self._files[0]
        for p, f in zip(files, self._files):
            if f.attrs.get("format") != FORMAT:
                raise FeatureStoreError(f"{p}: not an aesthetic feature store (format attribute missing)")
        self.branches: list[str] = json.loads(first.attrs["branches"])
        self.metadata: dict[str, Any] = json.loads(first.attrs.get("metadata", "{}"))
        for p, f in zip(files, self._files):
            if json.loads(f.attrs["branches"]) != self.branches:
                raise FeatureStoreError(f"{p}: branches differ from {files[0]}")
        counts = [len(f["ids"]) for f in self._files]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        for p, f in zip(files, self._files):
            if not len(f["paths"]) == len(f["errors"]) == len(f["ids"]):
                raise FeatureStoreError(f"{p}: its ids, paths and errors columns differ in length")
        cat = lambda key: np.concatenate([f[key][()] for f in self._files]) if self._files else None  # noqa: E731
        self.ids = StringColumn(self, "ids")
        self.paths = StringColumn(self, "paths")
        self.errors = StringColumn(self, "errors")
        self.labels = cat("labels").astype(np.float32)
        self.status = cat("status").astype(np.int8)
        self.widths = {b: int(first["features"][b].shape[1]) for b in self.branches}

    # -- construction
    @classmethod
    def open(cls, path: PathLike) -> "FeatureStore":
        path = Path(path)
        if not path.exists():
            raise FeatureStoreError(f"{path}: feature store not found")
        if path.suffix == ".json":
            manifest = json.loads(path.read_text())
            if manifest.get("format") != SHARDS_FORMAT:
                raise FeatureStoreError(f"{path}: not a feature shard manifest")
            files = [path.parent / s["file"] for s in manifest["shards"]]
            missing = [str(p) for p in files if not p.exists()]
            if missing:
                raise FeatureStoreError(f"{path}: shard files missing: {', '.join(missing[:5])}")
            return cls(files, source=path)
        if not h5py.is_hdf5(path):
            raise FeatureStoreError(f"{path}: not an HDF5 file")
        return cls([path], source=path)

    def close(self) -> None:
        for f in getattr(self, "_files", []):
            try:
                f.close()
            except Exception:
                pass

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- columns
    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of rows whose features were extracted."""
        return self.status == STATUS_OK

    @property
    def has_labels(self) -> np.ndarray:
        return ~np.isnan(self.labels)

    def branch_attrs(self, branch: str) -> dict[str, Any]:
        self._check_branch(branch)
        attrs = {}
        for key, value in self._files[0]["features"][branch].attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            attrs[key] = value.item() if isinstance(value, np.generic) else value
        return attrs

    def column_slices(self, branches: Sequence[str] | None = None) -> dict[str, slice]:
        """Where each branch sits in the fused (concatenated) feature vector."""
        out, start = {}, 0
        for b in branches or self.branches:
            self._check_branch(b)
            out[b] = slice(start, start + self.widths[b])
            start += self.widths[b]
        return out

    def total_width(self, branches: Sequence[str] | None = None) -> int:
        return sum(self.widths[b] for b in (branches or self.branches))

    def _check_branch(self, branch: str) -> None:
        if branch not in self.branches:
            raise FeatureStoreError(f"{self.source}: no branch {branch!r} (has {', '.join(self.branches)})")

    # -- features
    def _rows(self, rows) -> np.ndarray:
        if rows is None:
            return np.arange(len(self), dtype=np.int64)
        if isinstance(rows, slice):
            return np.arange(*rows.indices(len(self)), dtype=np.int64)
        rows = np.asarray(rows)
        if rows.dtype == bool:
            return np.flatnonzero(rows)
        return rows.astype(np.int64)

    def read(self, branch: str, rows=None, dtype=np.float32) -> np.ndarray:
        """Features of one branch for ``rows`` (None, slice, bool mask or indices), in the order given."""
        self._check_branch(branch)
        idx = self._rows(rows)
        out = np.empty((len(idx), self.widths[branch]), dtype=dtype)
        if len(idx) == 0:
            return out
        for k, where, local in rows_by_file(self._offsets, idx):
            ds = self._files[k]["features"][branch]
            if len(local) and np.all(np.diff(local) == 1):
                block = _read_checked(ds, slice(int(local[0]), int(local[-1]) + 1), self._sources[k], branch)
            else:
                uniq, inverse = np.unique(local, return_inverse=True)
                block = _read_checked(ds, uniq, self._sources[k], branch)[inverse]
            out[where] = block
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            ids = [str(self.ids[i]) for i in idx[bad][:5]]
            raise FeatureStoreError(
                f"{self.source}: branch {branch!r} has NaN or infinite features in {int(bad.sum())} row(s) "
                f"(ids {', '.join(ids)}{', ...' if bad.sum() > 5 else ''}); re-extract those images or drop them")
        return out

    def features(self, branches: Sequence[str] | None = None, rows=None, dtype=np.float32) -> np.ndarray:
        """Fused features ``(len(rows), sum of widths)``, branches concatenated in order."""
        branches = list(branches or self.branches)
        return np.concatenate([self.read(b, rows, dtype) for b in branches], axis=1)

    def iter_chunks(self, branches: Sequence[str] | None = None, rows=None,
                    chunk_rows: int = 4096, dtype=np.float32) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(row_indices, fused_features)`` blocks so memory stays bounded."""
        idx = self._rows(rows)
        for start in range(0, len(idx), chunk_rows):
            block = idx[start:start + chunk_rows]
            yield block, self.features(branches, block, dtype)

    def summary(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "images": len(self),
            "ok": int(self.ok.sum()),
            "failed": int((self.status == STATUS_FAILED).sum()),
            "pending": int((self.status == STATUS_PENDING).sum()),
            "labelled": int(self.has_labels.sum()),
            "branches": {b: self.widths[b] for b in self.branches},
        }

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) of every failed image."""
        bad = np.flatnonzero(self.status == STATUS_FAILED)
        return list(zip(self.paths[bad].tolist(), self.errors[bad].tolist()))


def merge_stores(parts: Sequence[PathLike], out: PathLike, *, compression: str | None = None,
                 chunk_rows: int = 256) -> Path:
    """Concatenate store files (same branches) into one file, atomically, streaming by part."""
    with FeatureStore(parts) as src:
        n = len(src)
        dtype = src._files[0]["features"][src.branches[0]].dtype if src.branches else np.float16
        out = Path(out)
        with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
            for key in ("format", "format_version", "branches", "metadata"):
                f.attrs[key] = src._files[0].attrs[key]
            for key in ("ids", "paths", "errors"):  # streamed part by part: never the whole column in memory
                column = f.create_dataset(key, shape=(n,), dtype=_STR)
                for k, part in enumerate(src._files):
                    lo, hi = int(src._offsets[k]), int(src._offsets[k + 1])
                    if hi > lo:
                        column[lo:hi] = part[key][()]
            f.create_dataset("labels", data=src.labels)
            f.create_dataset("status", data=src.status)
            group = f.create_group("features")
            for b in src.branches:
                ds = group.create_dataset(
                    b, shape=(n, src.widths[b]), dtype=dtype,
                    chunks=(max(1, min(n, chunk_rows)), src.widths[b]) if n else None,
                    compression=compression if n else None, shuffle=bool(compression) and n > 0,
                    fletcher32=n > 0)
                for key, value in src._files[0]["features"][b].attrs.items():
                    ds.attrs[key] = value
                for k, part in enumerate(src._files):
                    lo, hi = int(src._offsets[k]), int(src._offsets[k + 1])
                    if hi > lo:
                        ds[lo:hi] = _read_checked(part["features"][b], slice(None), src._sources[k], b)
    return out


def write_shard_manifest(path: PathLike, shard_files: Sequence[PathLike], extra: Mapping[str, Any] | None = None) -> Path:
    """Write the JSON manifest that makes shard files read as one store (paths relative to it)."""
    path = Path(path)
    shards = [{"file": os.path.relpath(Path(s), path.parent)} for s in shard_files]
    body = {"format": SHARDS_FORMAT, "format_version": FORMAT_VERSION, "shards": shards, **dict(extra or {})}
    atomic_write_text(path, json.dumps(body, indent=2))
    return path
