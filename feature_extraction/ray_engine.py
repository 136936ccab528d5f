"""Extraction on a Ray cluster: the same job as :mod:`.job`, spread over CPU decoders and model actors.

Pipeline (Ray Data, streaming)::

    manifest rows ──> decode + resize (CPU tasks) ──> branch 1 actors ──> branch 2 actors ──> driver
                      every branch's input                (GPU or CPU; one FeatureExtractor   writes each
                      as raw uint8 bytes + shape           per actor, batches by shape bucket) finished shard

Output is a *sharded* store: shard ``k`` holds manifest rows ``[k*chunk_size, (k+1)*chunk_size)``
(the local job's chunks), written atomically as ``<name>.shards/shard-NNNNNN.h5``, and a JSON
shard manifest ``<name>.json`` that :meth:`FeatureStore.open` reads exactly like one file.
``--out X.json`` or ``--out X.h5`` both give ``X.json`` + ``X.shards/``; the summary's ``out``
is the manifest, which is what later stages open.

Resuming is a file-exists check: shards already on disk are skipped, so a run killed at any
point (driver included) loses at most the shards in flight. Model actors are restarted by Ray
and their batches retried when a worker dies; if a run still fails, the driver re-runs the
shards that are missing (``max_attempts`` times). Unreadable images, and images a network
fails on, get status *failed* with the reason, never an exception.

``ray`` is imported only inside functions here, so the default (local) engine needs no Ray.
Every machine of the cluster must see the image paths, the weights files and the package.

Fault tolerance of the model actors is Ray Data's default for actor pools (restart without
limit, retry their tasks without limit); ``tests/test_ray_scaleout.py`` kills an actor mid-run
so a Ray upgrade that changed it would be caught.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

from aesthetic.data import Manifest, load_manifest
from aesthetic.backend import allow_gpu_memory_growth
from aesthetic.imageio import ReadPolicy, reading_with
from aesthetic.feature_store import STATUS_FAILED, STATUS_OK, BranchData, write_shard_manifest, write_store
from aesthetic.progress import Progress
from aesthetic.raycluster import init_ray
from .extractor import FeatureExtractor, shape_buckets
from .job import (ExtractionConfig, ExtractionJobError, ExtractionSummary, identity_differences, job_identity, job_lock,
                  job_metadata, part_matches, prepare_work_dir, refresh_labels, remove_stale_temporaries)

log = logging.getLogger(__name__)

#: Images per model-actor call, in model batches: enough rows that shape buckets fill.
BATCHES_PER_ACTOR_CALL = 4
#: Host memory Ray reserves per model actor (a network plus a few batches of inputs), so it never
#: packs more actors on a node than its RAM holds. (Being unlike the decode tasks' request, it
#: also keeps Ray Data from fusing decoding into the model actors on a CPU-only cluster.)
ACTOR_MEMORY_BYTES = 1 << 30


# -- layout on disk ----------------------------------------------------------------------
def sharded_paths(out: Union[str, Path]) -> tuple[Path, Path]:
    """``(manifest.json, shard folder)`` for ``--out``: ``X.json`` or ``X.h5`` -> ``X.json``, ``X.shards/``."""
    out = Path(out)
    if out.suffix.lower() not in (".json", ".h5", ".hdf5"):
        raise ExtractionJobError(f"--out {out}: with --engine ray, give a .json shard manifest name "
                                 f"(or X.h5, which writes X.json and X.shards/)")
    manifest = out.with_suffix(".json")
    return manifest, out.with_suffix(".shards")


def shard_file(shard_dir: Path, k: int) -> Path:
    return shard_dir / f"shard-{k:06d}.h5"


def shard_rows(n_images: int, chunk_size: int) -> list[range]:
    """Manifest rows of each shard: fixed chunks, so shard boundaries never depend on the run."""
    return [range(s, min(n_images, s + chunk_size)) for s in range(0, n_images, chunk_size)]


# -- work done in Ray workers --------------------------------------------------------------
@lru_cache(maxsize=4)
def _extractor(spec_json: str, branch: Optional[str] = None) -> FeatureExtractor:
    """One FeatureExtractor per worker process and spec (all branches, or just ``branch``)."""
    spec = json.loads(spec_json)
    if branch is not None:
        spec = {**spec, "branches": [branch], "weights": {branch: spec["weights"][branch]}}
    return FeatureExtractor.from_config(spec)


def decode_batch(batch: dict[str, np.ndarray], spec_json: str, policy_json: str | None = None
                 ) -> dict[str, np.ndarray]:
    """Ray Data UDF (CPU task): decode and resize each path for every branch, under the job's read limits
    (``policy_json``: a :class:`aesthetic.imageio.ReadPolicy`; None = the defaults).

    In: ``row`` (n,) int64, ``path`` (n,) str. Out adds ``ok`` (n,) bool, ``error`` (n,) str and,
    per branch, ``in_<branch>`` (raw uint8 bytes of the ``(h, w, 3)`` input; empty when failed)
    and ``shape_<branch>`` (n, 3) int32. Bytes, not tensors, because shapes differ per image.
    """
    fx = _extractor(spec_json)
    n = len(batch["row"])
    ok = np.zeros(n, dtype=bool)
    errors = np.empty(n, dtype=object)
    inputs = {b: np.empty(n, dtype=object) for b in fx.branch_names}
    shapes = {b: np.zeros((n, 3), dtype=np.int32) for b in fx.branch_names}
    policy = ReadPolicy.model_validate_json(policy_json) if policy_json else ReadPolicy()
    for i, path in enumerate(batch["path"]):
        with reading_with(policy):
            resized, reason = fx.load(str(path))
        ok[i], errors[i] = resized is not None, reason
        for b in fx.branch_names:
            image = resized[b] if resized is not None else np.zeros((0, 0, 3), np.uint8)
            inputs[b][i] = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
            shapes[b][i] = image.shape
    out = {"row": np.asarray(batch["row"], dtype=np.int64), "ok": ok, "error": errors}
    for b in fx.branch_names:
        out[f"in_{b}"], out[f"shape_{b}"] = inputs[b], shapes[b]
    return out


class BranchWorker:
    """Ray Data actor (GPU or CPU): one branch's network, built once, run by shape bucket.

    Consumes ``in_<branch>``/``shape_<branch>``, adds ``f_<branch>`` (n, width) float32 (zero where
    not ok). A bucket the network fails on marks its rows failed with the reason.
    """

    def __init__(self, spec_json: str, branch: str):
        # Several actors may share a GPU (--gpus-per-worker 0.5): take memory as needed, not all of it.
        # The backend is the driver's: a local Ray cluster's workers inherit KERAS_BACKEND.
        allow_gpu_memory_growth()
        self.branch = branch
        self.fx = _extractor(spec_json, branch)
        self.fx.model(branch)  # build now: a broken build fails at start, not mid-batch

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        b = self.branch
        batch = dict(batch)
        ok, errors = np.array(batch["ok"], dtype=bool), np.array(batch["error"], dtype=object)
        raw, shapes = batch.pop(f"in_{b}"), batch.pop(f"shape_{b}")
        features = np.zeros((len(ok), self.fx.widths[b]), dtype=np.float32)
        good = np.flatnonzero(ok)
        images = [np.frombuffer(raw[i], dtype=np.uint8).reshape(shapes[i]) for i in good]
        for bucket in shape_buckets([im.shape for im in images], self.fx.batch_size):
            rows = good[bucket]
            try:
                features[rows] = self.fx.extract_resized([{b: images[j]} for j in bucket])[b]
            except Exception as exc:  # one bad bucket must not stop the job
                ok[rows] = False
                errors[rows] = f"{b} network failed: {type(exc).__name__}: {exc}"
        batch.update({"ok": ok, "error": errors, f"f_{b}": features})
        return batch


def _branch_attrs(spec_json: str) -> dict[str, dict[str, Any]]:
    """What produced each branch's features (needs a built network, so it runs in a worker)."""
    fx = _extractor(spec_json)
    return {b: fx.branch_attrs(b) for b in fx.branch_names}


# -- driver ------------------------------------------------------------------------------------
@dataclass
class _Resources:
    actors_per_branch: int
    cpus_per_actor: float
    gpus_per_actor: float


def plan_resources(cluster: dict[str, float], n_branches: int, gpus_per_worker: float,
                   workers_per_branch: Optional[int]) -> _Resources:
    """Actor pool size per branch and what each actor asks of the cluster.

    With GPUs: as many actors per branch as the GPUs allow (``gpus_per_worker`` each). On CPU:
    one actor per 4 CPUs, shared among the branches (at least one per branch). Model actors together take at most all CPUs but one, so
    decoding always has a CPU (on CPU TensorFlow uses every core whatever Ray reserves).
    """
    cpus, gpus = float(cluster.get("CPU", 0)), float(cluster.get("GPU", 0))
    if gpus_per_worker < 0:
        raise ExtractionJobError(f"--gpus-per-worker {gpus_per_worker}: must be >= 0")
    if gpus_per_worker > 0:
        if gpus < gpus_per_worker * n_branches:
            raise ExtractionJobError(
                f"--gpus-per-worker {gpus_per_worker}: the Ray cluster has {gpus:g} GPUs, {n_branches} branch(es) "
                f"need at least {gpus_per_worker * n_branches:g} (use a fraction, e.g. 0.5, to share a GPU)")
        default = max(1, int(gpus / gpus_per_worker) // n_branches)
    else:
        default = max(1, int(cpus // 4) // n_branches)
    actors = int(workers_per_branch or default)
    if actors < 1:
        raise ExtractionJobError(f"workers_per_branch must be >= 1, got {workers_per_branch}")
    if cpus < 2:
        raise ExtractionJobError(f"the Ray cluster has {cpus:g} CPUs; it needs at least 2 (decoding + a model actor)")
    cpus_per_actor = min(1.0, (cpus - 1) / (actors * n_branches))
    memory = float(cluster.get("memory", 0))
    if memory < ACTOR_MEMORY_BYTES * actors * n_branches:
        raise ExtractionJobError(f"the Ray cluster has {memory / 2**30:.1f} GiB of memory for workers; "
                                 f"{actors * n_branches} model actor(s) need {ACTOR_MEMORY_BYTES / 2**30:g} GiB each")
    return _Resources(actors, cpus_per_actor, float(gpus_per_worker))


@contextmanager
def _ray_session(address: Optional[str]) -> Iterator[Any]:
    """Use the Ray already initialised in this process, else connect/start one and shut it down after."""
    import os

    import ray

    if ray.is_initialized():
        yield ray
        return
    env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    init_ray(address, runtime_env={"env_vars": env}, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """No Ray Data progress bars (the job shows its own), restored afterwards."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    before = ctx.enable_progress_bars
    ctx.enable_progress_bars = False
    try:
        yield
    finally:
        ctx.enable_progress_bars = before


def _pipeline(manifest: Manifest, shards: list[range], todo: list[int], fx: FeatureExtractor, spec_json: str,
              res: _Resources, policy_json: str | None = None):
    """The Ray Dataset of every row of the ``todo`` shards, through decode and each branch's actors."""
    import ray.data

    # Built in the driver (from_arrow would start a metadata task per block), about one block per shard.
    rows = [{"row": i, "path": manifest.paths[i]} for k in todo for i in shards[k]]
    ds = ray.data.from_items(rows, override_num_blocks=len(todo))
    ds = ds.map_batches(decode_batch, fn_kwargs={"spec_json": spec_json, "policy_json": policy_json}, batch_size=fx.batch_size,
                        batch_format="numpy", num_cpus=1)
    for b in fx.branch_names:
        ds = ds.map_batches(
            BranchWorker, fn_constructor_kwargs={"spec_json": spec_json, "branch": b},
            batch_size=fx.batch_size * BATCHES_PER_ACTOR_CALL, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=res.actors_per_branch),
            num_cpus=res.cpus_per_actor, num_gpus=res.gpus_per_actor or None, memory=ACTOR_MEMORY_BYTES)
    return ds


class _ShardCollector:
    """Gathers result rows (in any order) per shard; writes a shard the moment it is complete."""

    def __init__(self, manifest: Manifest, shards: list[range], shard_dir: Path, fx: FeatureExtractor,
                 attrs: Callable[[], dict[str, dict]], metadata: dict, config: ExtractionConfig):
        self.manifest, self.shards, self.shard_dir, self.fx = manifest, shards, shard_dir, fx
        self.attrs, self.metadata, self.config = attrs, metadata, config  # attrs: () -> {branch: attrs}
        self.chunk = config.chunk_size
        self.open: dict[int, dict[str, Any]] = {}

    def _new(self, k: int) -> dict[str, Any]:
        n = len(self.shards[k])
        return {"seen": np.zeros(n, bool), "ok": np.zeros(n, bool), "error": [""] * n,
                "features": {b: np.zeros((n, w), np.float32) for b, w in self.fx.widths.items()}}

    def add(self, batch: dict[str, np.ndarray]) -> int:
        """Take one result batch; returns how many new rows it brought."""
        new = 0
        rows = np.asarray(batch["row"], dtype=np.int64)
        for k in np.unique(rows // self.chunk):
            state = self.open.setdefault(int(k), self._new(int(k)))
            sel = np.flatnonzero(rows // self.chunk == k)
            local = rows[sel] - self.shards[k].start
            new += int((~state["seen"][local]).sum())
            state["seen"][local] = True
            state["ok"][local] = batch["ok"][sel]
            for j, i in zip(local, sel):
                state["error"][j] = str(batch["error"][i])
            for b in self.fx.branch_names:
                state["features"][b][local] = batch[f"f_{b}"][sel]
            if state["seen"].all():
                self._write(int(k), self.open.pop(int(k)))
        return new

    def _write(self, k: int, state: dict[str, Any]) -> None:
        rows = list(self.shards[k])
        ok = state["ok"]
        for j in np.flatnonzero(~ok):
            log.warning("skipped %s: %s", self.manifest.paths[rows[j]], state["error"][j])
        write_store(
            shard_file(self.shard_dir, k), ids=[self.manifest.ids[i] for i in rows],
            paths=[self.manifest.paths[i] for i in rows], labels=self.manifest.labels[rows],
            status=[STATUS_OK if v else STATUS_FAILED for v in ok],
            errors=[e if not v else "" for e, v in zip(state["error"], ok)],
            branches={b: BranchData(np.where(ok[:, None], state["features"][b], 0), self.attrs()[b])
                      for b in self.fx.branch_names},
            metadata=self.metadata, dtype=self.config.dtype, compression=self.config.compression)


def _finished_or_prepare(manifest_path: Path, shard_dir: Path, n_shards: int, identity: dict,
                         overwrite: bool, manifest: Manifest) -> Optional[ExtractionSummary]:
    """A finished run of this job is returned as is (labels refreshed from ``manifest``); a run of
    another job is refused (or cleared with ``overwrite``); otherwise the shard folder is made ready
    to (re)start, shards of unknown or other identity never being adopted. Call with the job lock held."""
    complete = lambda: all(shard_file(shard_dir, k).exists() for k in range(n_shards))  # noqa: E731
    remove_stale_temporaries(manifest_path.parent, manifest_path.name)
    if manifest_path.exists() and not overwrite:
        try:
            previous = json.loads(manifest_path.read_text()).get("job")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != identity:
            raise ExtractionJobError(f"{manifest_path}: exists and was made by another job "
                                     f"({identity_differences(previous, identity)}); pass --overwrite to replace it")
        if complete():
            log.info("%s is already complete for this manifest and config", manifest_path)
            return ExtractionSummary.from_store(manifest_path, 0.0,
                                                labels_updated=refresh_labels(manifest_path, manifest))
        log.warning("%s: shard files are missing; extracting them again", manifest_path)
    if overwrite:
        shutil.rmtree(shard_dir, ignore_errors=True)
        manifest_path.unlink(missing_ok=True)
    prepare_work_dir(shard_dir, identity, "shard-*.h5")
    for k in range(n_shards):
        if shard_file(shard_dir, k).exists() and not part_matches(shard_file(shard_dir, k), identity):
            log.warning("%s: written by another job; extracting it again", shard_file(shard_dir, k))
            shard_file(shard_dir, k).unlink()
    return None


def extract_ray(images: Union[str, Path, list, Manifest], out: Union[str, Path],
                config: Optional[ExtractionConfig] = None, *, address: Optional[str] = None,
                gpus_per_worker: float = 0.0, workers_per_branch: Optional[int] = None,
                overwrite: bool = False, progress: bool = True, max_attempts: int = 3) -> ExtractionSummary:
    """Extract features of ``images`` on Ray into a sharded store; returns the summary (``out`` = manifest).

    ``address``: None starts a local Ray (or uses the one this process already initialised),
    ``"auto"`` joins the cluster on this machine, ``"ray://host:10001"`` a remote one.
    ``gpus_per_worker``: GPUs per model actor (0 = CPU actors; 0.5 puts two actors on one GPU).
    ``workers_per_branch``: model actors per branch (default from the cluster, see plan_resources).
    """
    config = config or ExtractionConfig()
    manifest = images if isinstance(images, Manifest) else load_manifest(images)
    if len(manifest) == 0:
        raise ExtractionJobError("no images to extract")
    if max_attempts < 1:
        raise ExtractionJobError(f"max_attempts must be >= 1, got {max_attempts}")
    manifest_path, shard_dir = sharded_paths(out)
    # Built here (no networks yet) so bad branch names or weights files fail before Ray starts;
    # it hashes the weights files, which the job identity holds.
    fx = config.build_extractor()
    identity = job_identity(manifest, config, fx)
    with job_lock(manifest_path):
        return _extract_ray_locked(manifest, manifest_path, shard_dir, config, fx, identity, address,
                                   gpus_per_worker, workers_per_branch, overwrite, progress, max_attempts)


def _extract_ray_locked(manifest: Manifest, manifest_path: Path, shard_dir: Path, config: ExtractionConfig,
                        fx: FeatureExtractor, identity: dict, address: Optional[str], gpus_per_worker: float,
                        workers_per_branch: Optional[int], overwrite: bool, progress: bool,
                        max_attempts: int) -> ExtractionSummary:
    start = time.perf_counter()
    shards = shard_rows(len(manifest), config.chunk_size)
    finished = _finished_or_prepare(manifest_path, shard_dir, len(shards), identity, overwrite, manifest)
    if finished is not None:
        return finished

    # Built here (no networks yet) so bad branch names or weights files fail before Ray starts.
    fx = config.build_extractor()
    spec_json = json.dumps(fx.config().model_dump(), sort_keys=True)
    missing = lambda: [k for k in range(len(shards)) if not shard_file(shard_dir, k).exists()]  # noqa: E731
    todo = missing()
    resumed = len(shards) - len(todo)
    if resumed:
        log.info("resuming: %d of %d shards already on disk", resumed, len(shards))

    if todo:
        with _ray_session(address) as ray, _quiet_ray_data(), \
                Progress(sum(len(shards[k]) for k in todo), "extracting (ray)", "images", enabled=progress) as bar:
            res = plan_resources(ray.cluster_resources(), len(fx.branch_names), gpus_per_worker, workers_per_branch)
            log.info("ray: %d actor(s) per branch, %.2g CPU and %.2g GPU each", res.actors_per_branch,
                     res.cpus_per_actor, res.gpus_per_actor)
            # Branch attributes need a built network: one worker builds it while the pipeline starts.
            attrs_ref = ray.remote(num_cpus=1)(_branch_attrs).remote(spec_json)
            attrs = lru_cache(maxsize=1)(lambda: ray.get(attrs_ref))
            metadata = job_metadata(identity, fx, manifest, engine="ray")
            collector = _ShardCollector(manifest, shards, shard_dir, fx, attrs, metadata, config)
            for attempt in range(1, max_attempts + 1):
                try:
                    for batch in _pipeline(manifest, shards, todo, fx, spec_json, res,
                                           config.read_policy().model_dump_json()).iter_batches(
                            batch_size=None, batch_format="numpy"):
                        bar.update(collector.add(batch))
                except Exception as exc:  # a lost node, a dead driver-side object: re-run what is missing
                    log.warning("ray run attempt %d of %d failed (%s: %s)", attempt, max_attempts,
                                type(exc).__name__, exc)
                    if attempt == max_attempts:
                        raise ExtractionJobError(f"ray extraction failed on all {max_attempts} attempt(s); the "
                                                 f"shards written are kept, re-run to resume: {exc}") from exc
                todo = missing()
                if not todo:
                    break
                collector.open.clear()
                log.warning("%d shard(s) still missing; re-running them", len(todo))
            if todo:
                raise ExtractionJobError(f"{len(todo)} shard(s) still missing after {max_attempts} attempts; "
                                         f"re-run to resume")

    write_shard_manifest(manifest_path, [shard_file(shard_dir, k) for k in range(len(shards))],
                         extra={"job": identity, "images": len(manifest), "chunk_size": config.chunk_size})
    updated = refresh_labels(manifest_path, manifest)  # shards of an earlier run may hold its labels
    summary = ExtractionSummary.from_store(manifest_path, time.perf_counter() - start, resumed, updated)
    log.info("%s", summary.line())
    return summary
