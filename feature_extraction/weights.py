"""Resolve a branch's weights spec: ``"imagenet" | <built-in name> | <path> | None``.

A built-in name (``"nima"`` for the mobilenet branch) is a known file the package ships
(``aesthetic/data/weights``) or ``../shared/weights`` holds; it stays a name in saved
configs, so a bundle trained with it predicts on any machine that has the package.

Known files are checked by size and sha256 before any loading, so a truncated
download or the wrong model gives one clear sentence instead of a shape error
deep inside Keras.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from aesthetic.shared import weights_file

WeightsSpec = Optional[Union[str, Path]]


class WeightsError(ValueError):
    """Weights that cannot be used (missing, corrupt, wrong model, not downloadable)."""


class FeatureVersionError(ValueError):
    """Features recorded by another definition of a branch than this package computes."""


@dataclass(frozen=True)
class KnownWeights:
    filename: str
    size: int
    sha256: str
    description: str
    builtin: Optional[str] = None  # a name that finds the file without a path (see aesthetic.shared)


@dataclass(frozen=True)
class ResolvedWeights:
    kind: str  # "imagenet" | "file" | "none"
    path: Optional[Path] = None
    sha256: Optional[str] = None
    known: Optional[KnownWeights] = None

    def describe(self) -> str:
        if self.kind == "file":
            return str(self.path)
        return self.kind


#: sha256 of files already hashed in this process, keyed by (real path, size, mtime_ns, inode): a
#: 250 MB weights file is read once per process, while a file replaced in place (new mtime or
#: inode) is hashed again, so a job identity never trusts a name over the content.
_SHA_CACHE: dict[tuple[str, int, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def sha256_of(path: Path, block: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (cached per process by path, size, mtime and inode)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    with _SHA_LOCK:
        cached = _SHA_CACHE.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    with _SHA_LOCK:
        _SHA_CACHE[key] = digest.hexdigest()
    return digest.hexdigest()


def resolve_weights(spec: WeightsSpec, branch: str, known: tuple[KnownWeights, ...]) -> ResolvedWeights:
    """Turn a user's weights spec into something a backbone can load, verifying known files."""
    if spec is None or (isinstance(spec, str) and spec.lower() in ("none", "random", "")):
        return ResolvedWeights("none")
    if isinstance(spec, str) and spec.lower() == "imagenet":
        return ResolvedWeights("imagenet")
    builtin = next((k for k in known if isinstance(spec, str) and k.builtin and spec.lower() == k.builtin), None)
    if builtin is not None:
        found = weights_file(builtin.filename)
        if found is None:
            raise WeightsError(f"built-in weights '{builtin.builtin}' for branch '{branch}': {builtin.filename} is "
                               "in neither ../shared/weights nor the package (a broken install?); pass its path")
        spec = found
    path = Path(spec).expanduser()
    if not path.exists():
        raise WeightsError(f"{path}: weights file for branch '{branch}' not found")
    if not path.is_file():
        raise WeightsError(f"{path}: weights for branch '{branch}' must be a file, not a directory")
    size = path.stat().st_size
    match = next((k for k in known if k.filename == path.name or k.size == size), None)
    digest = sha256_of(path)
    if match is not None and (size != match.size or digest != match.sha256):
        raise WeightsError(
            f"{path}: does not match the known {match.filename} for branch '{branch}' "
            f"(expected {match.size} bytes, sha256 {match.sha256[:12]}..., got {size} bytes, "
            f"sha256 {digest[:12]}...); the file is truncated, corrupt or a different model")
    # Absolute: the spec is recorded with every store and bundle, and must mean the same file
    # whatever folder a later command runs from.
    return ResolvedWeights("file", path.resolve(), digest, match)


def download_failure_message(branch: str, known: tuple[KnownWeights, ...]) -> str:
    """The one sentence a user sees when Keras cannot fetch ImageNet weights."""
    name = known[0].filename if known else "the ImageNet weights file"
    size = f" ({known[0].size:,} bytes)" if known else ""
    return (f"Could not download the ImageNet weights for branch '{branch}' (no internet access?): "
            f"fetch {name}{size} on a machine with internet and pass it with "
            f"--weights {branch}=/path/to/{name} (Python: weights={{'{branch}': '/path/to/{name}'}}).")
