"""The resumable extraction job: manifest in, one HDF5 feature store out.

The manifest is cut into fixed chunks of ``chunk_size`` images. Each finished chunk
is written atomically as ``<out>.parts/part-NNNNNN.h5``; a killed job (kill -9
included) loses at most the chunk in flight, and re-running the same command
skips the parts already on disk. When every part exists they are merged
(atomically) into ``<out>`` and the parts are removed. Because a chunk's batches
depend only on the chunk, a resumed run writes the same bytes of features as an
uninterrupted one.

Decoding and resizing of the next chunk run in a thread pool while the network
processes the current one.

A part is reused only by the job that wrote it: the job identity (``job.json`` in the parts
folder, and the metadata of every part and of the store) holds the image list, every setting
that changes a feature value and the sha256 of each weights file, so a weights file replaced
at the same path is noticed. Labels are not part of it: a rerun with changed labels rewrites
the store's label column without extracting again. ``<out>.lock`` keeps a second writer out.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Optional, Union

import numpy as np

from pydantic import Field

from aesthetic.data import Manifest, load_manifest
from aesthetic.feature_store import STATUS_FAILED, STATUS_OK, BranchData, FeatureStore, merge_stores, write_store
from aesthetic.backend import describe as describe_backend
from aesthetic.fileio import atomic_write_text, library_versions
from aesthetic.imageio import (DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_FILE_BYTES, ReadPolicy,
                               decode_groups, reading_with)
from aesthetic.progress import Progress
from .extractor import ExtractorConfig, FeatureExtractor

log = logging.getLogger(__name__)


#: Files the input listing did not take, recorded with their reasons in the store's metadata (an HDF5
#: attribute, so bounded; the total count is recorded too).
MAX_SKIPPED_RECORDED = 200


class ExtractionConfig(ExtractorConfig):
    """Everything that determines the features a job writes: the extractor's settings (saved in the
    store as ``metadata["extractor"]``) plus how the job stores and parallelises them."""

    chunk_size: int = Field(128, ge=1, description="images per resumable part")
    dtype: Literal["float16", "float32"] = "float16"
    compression: Optional[Literal["gzip", "lzf"]] = None
    workers: int = Field(4, ge=1, description="decode/resize threads")
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, gt=0,
                                description=ReadPolicy.model_fields["max_file_bytes"].description)
    max_decode_bytes: int = Field(DEFAULT_MAX_DECODE_BYTES, gt=0,
                                  description=ReadPolicy.model_fields["max_decode_bytes"].description)

    def read_policy(self) -> ReadPolicy:
        """The limits every read of this job obeys, on either engine."""
        return ReadPolicy(max_file_bytes=self.max_file_bytes, max_decode_bytes=self.max_decode_bytes,
                          max_pixels=self.max_pixels)

    def build_extractor(self) -> FeatureExtractor:
        """The extractor these settings describe (branches missing from ``weights`` use ImageNet)."""
        return self.build(workers=self.workers)

    def resume_key(self) -> dict:
        """Fields that must match for parts on disk to be reused: not the decode threads, nor the byte limits
        of reading (they decide which files are refused, never the features of a file that is read), nor
        ``versions``, which records and never chooses: :func:`job_identity` adds the branches' own."""
        return self.model_dump(exclude={"workers", "max_file_bytes", "max_decode_bytes", "versions"})


@dataclass
class ExtractionSummary:
    out: Path
    images: int
    ok: int
    failed: int
    seconds: float
    resumed_parts: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    labels_updated: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # files the input listing did not take

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def from_store(cls, path: Path, seconds: float, resumed_parts: int = 0,
                   labels_updated: int = 0) -> "ExtractionSummary":
        """Summarise a finished store (single file or shard manifest) from what it holds."""
        with FeatureStore.open(path) as store:
            s = store.summary()
            skipped = [(str(p), str(r)) for p, r in store.metadata.get("skipped", [])]
            return cls(Path(path), s["images"], s["ok"], s["failed"], seconds, resumed_parts, store.failures(),
                       labels_updated, skipped)

    def line(self) -> str:
        text = (f"{self.images} images: {self.ok} ok, {self.failed} failed, in {self.seconds:.1f} s "
                f"({self.images_per_second:.2f} images/s) -> {self.out}")
        if self.labels_updated:
            text += f"; labels of {self.labels_updated} image(s) updated from the image list"
        if self.skipped:
            text += f"; {len(self.skipped)} other files in the input not used"
        return text


class ExtractionJobError(RuntimeError):
    """A job that cannot start or resume as asked."""


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


# -- what makes two runs the same job ---------------------------------------------------------
def job_identity(manifest: Manifest, config: ExtractionConfig, fx: FeatureExtractor) -> dict:
    """What parts on disk must match to be reused: the image list, every setting that changes a
    feature value, and each weights file by *content* (sha256), never by its name or path."""
    key = config.resume_key()
    key["precision"] = fx.precision  # resolved: auto means one thing on one machine, another elsewhere
    key["weights"] = {b: (f"sha256:{w.sha256}" if w.kind == "file" else w.kind) for b, w in fx.weights.items()}
    key["versions"] = {br.name: br.version for br in fx.branches}
    return {"manifest": manifest.fingerprint(), "images": len(manifest), "config": key}


def _flat(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def identity_differences(saved: Any, current: Mapping[str, Any]) -> str:
    """What differs between a recorded job identity and this run's, in words (for one sentence)."""
    if not isinstance(saved, Mapping):
        return "it records no job identity"
    a, b = _flat(saved), _flat(current)
    said = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        if key in ("manifest", "images"):
            text = "the list of images differs"
        elif key == "config.precision":
            text = (f"its features were computed in {a.get(key) or 'fp32'} and this run asks for {b.get(key)}; "
                    f"pass --precision {a.get(key) or 'fp32'} to resume it")
        elif key.startswith("config.weights."):
            text = f"the weights of branch '{key.rsplit('.', 1)[1]}' differ in content or kind"
        else:
            text = f"{key.removeprefix('config.')} was {a.get(key)!r}, now {b.get(key)!r}"
        if text not in said:
            said.append(text)
    return ", ".join(said[:4]) + (f" and {len(said) - 4} more" if len(said) > 4 else "")


@contextmanager
def job_lock(target: Path) -> Iterator[None]:
    """Hold ``<target>.lock`` for the whole run: a second writer of the same output fails at once."""
    from filelock import FileLock, Timeout

    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ExtractionJobError(f"{target}: another extraction is writing it right now (it holds {lock_path}); "
                                 f"wait for it to finish or choose another --out") from None
    try:
        yield
    finally:
        # Unlinked while still held, so no <out>.lock is left beside the store; a peer that opened the
        # old inode meanwhile sees it unlinked and takes a fresh one (filelock checks st_nlink).
        lock_path.unlink(missing_ok=True)
        lock.release()


def remove_stale_temporaries(folder: Path, name_glob: str = "*") -> int:
    """Delete temporary files (``.<name>.*.tmp``) that a killed atomic write left in ``folder``."""
    removed = 0
    if folder.is_dir():
        for tmp in folder.glob(f".{name_glob}.*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def prepare_work_dir(work: Path, identity: dict, part_glob: str) -> None:
    """Make ``work`` ready for this job: refuse a partial run of another identity, never adopt parts
    whose identity is unknown (a folder without ``job.json``), and clear temporaries of killed writes."""
    job_file = work / "job.json"
    if work.exists() and not work.is_dir():
        raise ExtractionJobError(f"{work}: exists and is not a folder; remove it or choose another --out")
    remove_stale_temporaries(work)
    if job_file.exists():
        try:
            previous = json.loads(job_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            previous = None
        if previous != identity:
            raise ExtractionJobError(
                f"{work}: holds a partial run that differs from this one ({identity_differences(previous, identity)}); "
                f"pass --overwrite to discard it and start fresh")
        return
    orphans = sorted(work.glob(part_glob)) if work.is_dir() else []
    if orphans:
        log.warning("%s: %d part(s) without a job.json (an unrecorded run) are discarded, not adopted",
                    work, len(orphans))
        for part in orphans:
            part.unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(job_file, json.dumps(identity, indent=2, sort_keys=True))


def part_matches(path: Path, identity: dict) -> bool:
    """Whether a part file on disk was written by this job (checked again for every part, not only job.json)."""
    try:
        with FeatureStore.open(path) as part:
            return part.metadata.get("job") == identity
    except Exception:  # unreadable: it is redone
        return False


def refresh_labels(store_path: Path, manifest: Manifest) -> int:
    """Write the manifest's labels into a finished store (single file or shards) where they differ.

    Ids and features do not depend on labels, so a changed label column needs no re-extraction.
    The small labels dataset is rewritten in place (a rerun repeats this if it is interrupted).
    Returns the number of rows whose label changed.
    """
    import h5py

    with FeatureStore.open(store_path) as store:
        files = [Path(f.filename) for f in store._files]
        offsets = store._offsets.copy()
        same_ids = list(store.ids) == list(manifest.ids)
        old = store.labels.copy()
    if not same_ids:
        raise ExtractionJobError(f"{store_path}: its image ids differ from the image list; pass --overwrite")
    new = np.asarray(manifest.labels, dtype=np.float32)
    changed = ~((old == new) | (np.isnan(old) & np.isnan(new)))
    if not changed.any():
        return 0
    for k, file in enumerate(files):
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        if changed[lo:hi].any():
            with h5py.File(file, "r+") as f:
                f["labels"][...] = new[lo:hi]
    log.info("%s: labels of %d image(s) updated from the image list", store_path, int(changed.sum()))
    return int(changed.sum())


def _check_existing(out: Path, identity: dict) -> None:
    """Refuse an existing ``out`` that is not this job's store, saying why."""
    if out.is_dir():
        raise ExtractionJobError(f"{out}: is a folder; --out names the feature store file to write")
    try:
        with FeatureStore.open(out) as store:
            previous = store.metadata.get("job")
    except Exception as exc:
        raise ExtractionJobError(f"{out}: exists and is not a readable feature store ({exc}); "
                                 f"choose another --out") from None
    if previous != identity:
        raise ExtractionJobError(f"{out}: exists and was made by another job ({identity_differences(previous, identity)}); "
                                 f"pass --overwrite to replace it")


def extract(images: Union[str, Path, list, Manifest], out: Union[str, Path],
            config: Optional[ExtractionConfig] = None, *, overwrite: bool = False,
            progress: bool = True, extractor: Optional[FeatureExtractor] = None) -> ExtractionSummary:
    """Extract features for ``images`` (folder, glob, CSV or Manifest) into the store ``out``.

    A finished store of the same job is kept and only its labels are refreshed from ``images``;
    one of another job (other images, settings or weights *content*) is refused unless ``overwrite``.
    A second process writing the same ``out`` at the same time is refused."""
    config = config or ExtractionConfig()
    manifest = images if isinstance(images, Manifest) else load_manifest(images)
    if len(manifest) == 0:
        raise ExtractionJobError("no images to extract")
    out = Path(out)
    fx = extractor or config.build_extractor()  # resolves and hashes the weights; builds no network yet
    identity = job_identity(manifest, config, fx)
    work = parts_dir(out)
    with job_lock(out), reading_with(config.read_policy()):
        return _extract_locked(manifest, out, work, config, fx, identity, overwrite, progress)


def job_metadata(identity: dict, fx: FeatureExtractor, manifest: Manifest, **extra: Any) -> dict[str, Any]:
    """The metadata every store (or shard) of an extraction job carries, whichever engine wrote it: the job
    identity, the extractor config, the precision and Keras backend its networks ran in, library versions and the files the input listing saw and did not use
    (the first MAX_SKIPPED_RECORDED with their reason, and how many in all)."""
    return {"job": identity, "extractor": fx.config().model_dump(), "precision": fx.precision,
            "backend": describe_backend(), "library_versions": library_versions(),
            "skipped": [list(s) for s in manifest.skipped[:MAX_SKIPPED_RECORDED]],
            "skipped_total": len(manifest.skipped), **extra}


def _extract_locked(manifest: Manifest, out: Path, work: Path, config: ExtractionConfig, fx: FeatureExtractor,
                    identity: dict, overwrite: bool, progress: bool) -> ExtractionSummary:
    start = time.perf_counter()
    remove_stale_temporaries(out.parent, out.name)  # a merge killed half-way
    if out.exists() and not overwrite:
        _check_existing(out, identity)
        log.info("%s is already complete for this manifest and config", out)
        return ExtractionSummary.from_store(out, 0.0, labels_updated=refresh_labels(out, manifest))
    if out.is_dir():
        raise ExtractionJobError(f"{out}: is a folder; --out names the feature store file to write")
    if overwrite and work.exists():
        shutil.rmtree(work)
    prepare_work_dir(work, identity, "part-*.h5")

    n = len(manifest)
    chunks = [(k, range(s, min(n, s + config.chunk_size))) for k, s in enumerate(range(0, n, config.chunk_size))]
    part_path = lambda k: work / f"part-{k:06d}.h5"  # noqa: E731
    for k, _ in chunks:
        if part_path(k).exists() and not part_matches(part_path(k), identity):
            log.warning("%s: written by another job; extracting it again", part_path(k))
            part_path(k).unlink()
    todo = [(k, rows) for k, rows in chunks if not part_path(k).exists()]
    resumed = len(chunks) - len(todo)
    if resumed:
        log.info("resuming: %d of %d parts already on disk", resumed, len(chunks))
    metadata = job_metadata(identity, fx, manifest)
    remaining = sum(len(rows) for _, rows in todo)
    n_branches = len(fx.branches)

    with Progress(remaining, "extracting", "images", enabled=progress) as bar:
        for rows, loaded in decode_groups(manifest.paths, [rows for _, rows in todo], fx.load, config.workers):
            k = rows.start // config.chunk_size  # rows is the range of part k
            result = fx.extract_loaded(loaded, on_batch=lambda m: bar.update(m / n_branches))
            failed_here = int((~result.ok).sum())
            if failed_here:
                bar.update(failed_here)  # failed images cost no network time but are done
            write_store(
                part_path(k), ids=[manifest.ids[i] for i in rows], paths=[manifest.paths[i] for i in rows],
                labels=manifest.labels[list(rows)],
                status=[STATUS_OK if ok else STATUS_FAILED for ok in result.ok], errors=result.errors,
                branches={b: BranchData(result.features[b], fx.branch_attrs(b)) for b in fx.branch_names},
                metadata=metadata, dtype=config.dtype, compression=config.compression)

    merge_stores([part_path(k) for k, _ in chunks], out, compression=config.compression)
    shutil.rmtree(work, ignore_errors=True)
    updated = refresh_labels(out, manifest)  # resumed parts may hold labels of the earlier run
    summary = ExtractionSummary.from_store(out, time.perf_counter() - start, resumed, updated)
    log.info("%s", summary.line())
    return summary
