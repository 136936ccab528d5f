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
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import BaseModel, Field

from aesthetic.data import Manifest, load_manifest
from aesthetic.feature_store import STATUS_FAILED, STATUS_OK, BranchData, FeatureStore, merge_stores, write_store
from aesthetic.fileio import atomic_write_text, library_versions
from aesthetic.imageio import DEFAULT_MAX_PIXELS, decode_groups
from aesthetic.progress import Progress
from .extractor import FeatureExtractor

log = logging.getLogger(__name__)


#: Files the input listing did not take, recorded with their reasons in the store's metadata (an HDF5
#: attribute, so bounded; the total count is recorded too).
MAX_SKIPPED_RECORDED = 200


class ExtractionConfig(BaseModel):
    """Everything that determines the features a job writes (saved in the store)."""

    branches: list[str] = Field(default_factory=lambda: ["multigap", "efficientnet"])
    weights: dict[str, Optional[str]] = Field(default_factory=dict, description="branch -> 'imagenet' | path | None; missing means imagenet")
    batch_size: int = Field(8, ge=1)
    chunk_size: int = Field(128, ge=1, description="images per resumable part")
    dtype: Literal["float16", "float32"] = "float16"
    compression: Optional[Literal["gzip", "lzf"]] = None
    input_scale: float = Field(1.0, gt=0, le=4)
    upscale: bool = Field(True, description="enlarge images smaller than a max-side policy's side (multigap)")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0)
    seed: int = 0
    workers: int = Field(4, ge=1, description="decode/resize threads")

    def build_extractor(self) -> FeatureExtractor:
        """The extractor these settings describe (branches missing from ``weights`` use ImageNet)."""
        weights = {b: self.weights.get(b, "imagenet") for b in self.branches}
        return FeatureExtractor(self.branches, weights, self.input_scale, self.batch_size, self.seed,
                                self.max_pixels, self.workers, upscale=self.upscale)

    def resume_key(self) -> dict:
        """Fields that must match for parts on disk to be reused (not batch size of decode threads)."""
        return self.model_dump(exclude={"workers"})


@dataclass
class ExtractionSummary:
    out: Path
    images: int
    ok: int
    failed: int
    seconds: float
    resumed_parts: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # files the input listing did not take

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def from_store(cls, path: Path, seconds: float, resumed_parts: int = 0) -> "ExtractionSummary":
        """Summarise a finished store (single file or shard manifest) from what it holds."""
        with FeatureStore.open(path) as store:
            s = store.summary()
            skipped = [(str(p), str(r)) for p, r in store.metadata.get("skipped", [])]
            return cls(Path(path), s["images"], s["ok"], s["failed"], seconds, resumed_parts, store.failures(),
                       skipped)

    def line(self) -> str:
        return (f"{self.images} images: {self.ok} ok, {self.failed} failed, in {self.seconds:.1f} s "
                f"({self.images_per_second:.2f} images/s) -> {self.out}"
                + (f"; {len(self.skipped)} other files in the input not used" if self.skipped else ""))


class ExtractionJobError(RuntimeError):
    """A job that cannot start or resume as asked."""


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _job_identity(manifest: Manifest, config: ExtractionConfig) -> dict:
    return {"manifest": manifest.fingerprint(), "images": len(manifest), "config": config.resume_key()}


def _existing_matches(out: Path, identity: dict) -> bool:
    try:
        with FeatureStore.open(out) as store:
            return store.metadata.get("job") == identity
    except Exception:
        return False


def extract(images: Union[str, Path, list, Manifest], out: Union[str, Path],
            config: Optional[ExtractionConfig] = None, *, overwrite: bool = False,
            progress: bool = True, extractor: Optional[FeatureExtractor] = None) -> ExtractionSummary:
    """Extract features for ``images`` (folder, glob, CSV or Manifest) into the store ``out``."""
    config = config or ExtractionConfig()
    manifest = images if isinstance(images, Manifest) else load_manifest(images)
    if len(manifest) == 0:
        raise ExtractionJobError("no images to extract")
    out = Path(out)
    identity = _job_identity(manifest, config)
    work = parts_dir(out)
    start = time.perf_counter()

    if out.exists() and not overwrite:
        if _existing_matches(out, identity):
            log.info("%s is already complete for this manifest and config", out)
            return ExtractionSummary.from_store(out, 0.0)
        raise ExtractionJobError(f"{out}: exists and was made from other images or settings; "
                                 f"pass --overwrite to replace it")
    if overwrite and work.exists():
        shutil.rmtree(work)

    work.mkdir(parents=True, exist_ok=True)
    job_file = work / "job.json"
    if job_file.exists():
        previous = json.loads(job_file.read_text())
        if previous != identity:
            raise ExtractionJobError(
                f"{work}: holds a partial run of other images or settings; delete it or pass --overwrite")
    else:
        atomic_write_text(job_file, json.dumps(identity, indent=2, sort_keys=True))

    fx = extractor or config.build_extractor()
    n = len(manifest)
    chunks = [(k, range(s, min(n, s + config.chunk_size))) for k, s in enumerate(range(0, n, config.chunk_size))]
    part_path = lambda k: work / f"part-{k:06d}.h5"  # noqa: E731
    todo = [(k, rows) for k, rows in chunks if not part_path(k).exists()]
    resumed = len(chunks) - len(todo)
    if resumed:
        log.info("resuming: %d of %d parts already on disk", resumed, len(chunks))
    metadata = {"job": identity, "extractor": fx.config(), "library_versions": library_versions(),
                "skipped": [list(s) for s in manifest.skipped[:MAX_SKIPPED_RECORDED]],
                "skipped_total": len(manifest.skipped)}
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
    summary = ExtractionSummary.from_store(out, time.perf_counter() - start, resumed)
    log.info("%s", summary.line())
    return summary
