"""Run scorers over a suite: metrics per set, baselines fitted on the suite's training set,
robustness under test-time transformations, sensitivity (:mod:`.sensitivity`) and the leakage audit.

:func:`run_benchmark` returns a :class:`BenchmarkResult` holding every number (and
the per-image scores the plots need); :mod:`aesthetic.benchmarks.report.report` writes it out.
Each distinct image is decoded and scored once however many sets contain it.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field

from pydantic import BaseModel, Field
from typing import Any, Sequence

import numpy as np

from aesthetic.metrics import (BinaryMetrics, CorrelationMetrics, binary_metrics, correlation_metrics, predict,
                               roc_auc)
from aesthetic.bundles.scoring import Scorer, ScoreTable, check_scorers, iter_image_batches, score_items
from aesthetic.data import LabeledImage
from aesthetic.benchmarks.report.suite import ResolvedSet, Suite
from aesthetic.benchmarks.report.baselines import as_scorers, feature_matrix, fit_baselines
from aesthetic.progress import Progress
from aesthetic.benchmarks.report.sensitivity import aesthetic_groups, run_sensitivity
from aesthetic.benchmarks.report.audit import DEFAULT_MAX_DISTANCE, audit

log = logging.getLogger(__name__)


class BenchmarkOptions(BaseModel):
    """How a benchmark runs (`aesthetic benchmark` options and `--config` keys); saved in report.json."""

    batch_size: int = Field(16, ge=1, description="Images decoded and scored per batch.")
    baselines: bool = Field(True, description="Fit the hand-crafted baselines on the suite's training set.")
    robustness: bool = Field(True, description="Run the suite's robustness section.")
    sensitivity: bool = Field(True, description="Run the sensitivity section: degraded copies of each set's "
                                                "aesthetic photos, near-empty frames, and flips/crops that should "
                                                "not change the call.")
    leakage: bool = Field(True, description="Audit duplicates between the training sets and the benchmark sets.")
    max_distance: int | None = Field(None, ge=0, le=64, description="pHash near-duplicate threshold in bits "
                                                                    "(None: `aesthetic.benchmarks.report.audit.DEFAULT_MAX_DISTANCE`).")
    n_bins: int = Field(10, ge=2, description="Bins of the calibration (reliability) plots.")
    progress: bool = Field(True, description="Show progress bars (not part of the result).")
    n_resamples: int = Field(2000, ge=100, description="Bootstrap resamples of the SRCC/PLCC intervals.")
    seed: int = Field(0, description="Seed of the bootstrap resamples.")
    #: further training sets (name -> LabeledImage list, e.g. what the project's model was trained on)
    extra_training_sets: dict[str, list[Any]] = Field(
        default_factory=dict, exclude=True,
        description="Further training sets checked for leakage (name -> images); given by the CLI's "
                    "`--model-train` and the models' own training stores, not by a config file.")


@dataclass
class SetScores:
    """Per-image truth and scores of one set (readable images only), for metrics and plots."""

    name: str
    y: np.ndarray                       # (n,) int64
    scores: dict[str, np.ndarray]       # scorer -> (n,) float64
    unreadable: dict[str, str]          # path -> reason
    human: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) human 1-10 mean, NaN = none


@dataclass
class RobustnessRow:
    transform: str
    scorer: str
    n: int
    accuracy: float
    balanced_accuracy: float
    roc_auc: float | None
    mean_shift: float        # mean(score after - score before), in the scorer's score units
    flip_rate: float         # fraction of decisions that changed

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class BenchmarkResult:
    suite: Suite
    scorers: list[dict[str, Any]]                           # name, kind, threshold, ...
    sets: dict[str, ResolvedSet]
    set_scores: dict[str, SetScores]
    metrics: dict[str, dict[str, BinaryMetrics]]            # set -> scorer -> metrics
    #: set -> scorer -> agreement with human scores; only sets with rated images, only rating scorers
    correlations: dict[str, dict[str, CorrelationMetrics]] = field(default_factory=dict)
    robustness_set: str | None = None
    robustness: list[RobustnessRow] = field(default_factory=list)
    sensitivity: list[Any] = field(default_factory=list)      # sensitivity.SensitivityRow
    baselines: list[Any] = field(default_factory=list)      # fitted HandcraftedLogistic
    baseline_train: dict[str, Any] | None = None
    audit: Any | None = None                                # audit.AuditReport
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    options: BenchmarkOptions | None = None                # how it was run (saved in report.json)


def _scorer_meta(s: Scorer) -> dict[str, Any]:
    return {"name": s.name, "kind": s.kind, "threshold": float(s.threshold),
            "decision": f"score {'>=' if s.inclusive else '>'} {s.threshold:g}", "inclusive": bool(s.inclusive),
            "probabilistic": bool(s.probabilistic), "score_label": s.score_label,
            "rates": bool(getattr(s, "rates", False)),
            "calibration": getattr(s, "calibration_summary", None)}


def fit_suite_baselines(train: ResolvedSet, batch_size: int = 32, progress: bool = True
                        ) -> tuple[list[Any], dict[str, Any]]:
    """Fit the hand-crafted baselines on the suite's training set (unreadable images skipped)."""

    features, labels, failed = [], [], {}
    with Progress(len(train.items), "baseline features (train)", "images", enabled=progress) as bar:
        for idx, images, batch_failed in iter_image_batches(train.items, batch_size):
            failed.update(batch_failed)
            features.append(feature_matrix(images))
            labels.extend(train.items[i].label for i in idx)
            bar.update(len(idx) + len(batch_failed))
    X = np.concatenate(features) if features else np.zeros((0, 6))
    y = np.asarray(labels, dtype=np.int64)
    models = fit_baselines(X, y)
    info = {"n": int(len(y)), "n_positive": int(y.sum()), "n_negative": int(len(y) - y.sum()),
            "unreadable": failed, "provenance": train.provenance}
    return models, info


def _set_scores(name: str, items: Sequence[LabeledImage], table: ScoreTable,
                position: dict[str, int]) -> SetScores:
    rows = np.array([position[str(i.path)] for i in items], dtype=np.int64)
    ok = table.ok[rows] if len(rows) else np.zeros(0, bool)
    unreadable = {str(i.path): table.failed.get(str(i.path), "not scored")
                  for i, good in zip(items, ok) if not good}
    y = np.array([i.label for i, good in zip(items, ok) if good], dtype=np.int64)
    human = np.array([np.nan if i.score is None else i.score for i, good in zip(items, ok) if good], np.float64)
    scores = {s: v[rows[ok]] for s, v in table.scores.items()}
    return SetScores(name=name, y=y, scores=scores, unreadable=unreadable, human=human)


def set_correlations(ss: SetScores, scorers: Sequence[Scorer], n_resamples: int = 2000, seed: int = 0
                     ) -> dict[str, CorrelationMetrics]:
    """Correlation of every rating scorer (``rates``) with the set's human scores, on the rated
    images; empty when the set has no human scores or no scorer rates."""
    rated = np.isfinite(ss.human) if len(ss.human) else np.zeros(0, bool)
    if not rated.any():
        return {}
    return {s.name: correlation_metrics(ss.human[rated], ss.scores[s.name][rated], s.threshold, s.inclusive,
                                        n_resamples, seed)
            for s in scorers if getattr(s, "rates", False)}


def run_robustness(scorers: Sequence[Scorer], set_scores: SetScores, items: Sequence[LabeledImage],
                   transforms: Sequence[Any], batch_size: int = 16, progress: bool = True
                   ) -> list[RobustnessRow]:
    """Accuracy and score shift of every scorer on ``items`` under each transform.

    ``set_scores`` holds the untransformed scores of the same ``items`` (readable ones,
    in order); images unreadable before are unreadable after and drop out of both.
    """
    readable = [i for i in items if str(i.path) not in set_scores.unreadable]
    y = set_scores.y
    rows: list[RobustnessRow] = []
    for t in transforms:
        table = score_items(scorers, readable, batch_size, transform=t.apply,
                            description=f"robustness {t.describe()}", progress=progress)
        if table.failed:
            raise RuntimeError(f"images became unreadable between passes: {sorted(table.failed)[:3]}")
        for s in scorers:
            after, before = table.scores[s.name], set_scores.scores[s.name]
            m = binary_metrics(y, after, s.threshold, probabilities=False, inclusive=s.inclusive)
            changed = predict(after, s.threshold, s.inclusive) != predict(before, s.threshold, s.inclusive)
            rows.append(RobustnessRow(transform=t.describe(), scorer=s.name, n=len(y),
                                      accuracy=m.accuracy, balanced_accuracy=m.balanced_accuracy,
                                      roc_auc=roc_auc(y, after), mean_shift=float(np.mean(after - before)),
                                      flip_rate=float(np.mean(changed))))
    return rows


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU model, cores (logical, usable by this process, physical), RAM and OS of this machine."""
    import os

    import psutil

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable,
            "physical_cores": psutil.cpu_count(logical=False),
            "ram_gib": round(psutil.virtual_memory().total / 2 ** 30, 1),
            "os": platform.platform(), "python": platform.python_version()}


def environment() -> dict[str, Any]:
    import importlib.metadata as md

    versions = {}
    for name in ("aesthetic-fusion", "numpy", "scikit-learn", "opencv-python-headless", "tensorflow",
                 "tensorflow-cpu", "keras", "ImageHash", "matplotlib"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": machine(), "versions": versions}


def run_benchmark(suite: Suite, scorers: Sequence[Scorer], options: BenchmarkOptions | None = None
                  ) -> BenchmarkResult:
    """Score every scorer (plus the baselines) on every set of ``suite``; see module docstring."""
    options = options or BenchmarkOptions()
    scorers = list(scorers)
    timings: dict[str, float] = {}
    notes: list[str] = []

    baselines, baseline_train = [], None
    if options.baselines:
        if suite.train is None:
            notes.append("No [train] section in the suite: hand-crafted baselines were not fitted.")
        else:
            t0 = time.perf_counter()
            baselines, baseline_train = fit_suite_baselines(suite.train, progress=options.progress)
            scorers += as_scorers(baselines)
            timings["fit_baselines_s"] = time.perf_counter() - t0
    check_scorers(scorers)
    if not scorers:
        raise ValueError("nothing to benchmark: no scorers given and no baselines fitted")

    unique: dict[str, LabeledImage] = {}
    for s in suite.sets.values():
        for item in s.items:
            unique.setdefault(str(item.path), item)
    position = {p: k for k, p in enumerate(unique)}
    t0 = time.perf_counter()
    table = score_items(scorers, list(unique.values()), options.batch_size,
                        description="scoring", progress=options.progress)
    timings["score_s"] = time.perf_counter() - t0
    notes.append(f"{len(unique)} distinct images were decoded and scored once each for all sets.")

    set_scores: dict[str, SetScores] = {}
    metrics: dict[str, dict[str, BinaryMetrics]] = {}
    correlations: dict[str, dict[str, CorrelationMetrics]] = {}
    for name, rset in suite.sets.items():
        ss = _set_scores(name, rset.items, table, position)
        set_scores[name] = ss
        if len(ss.y) == 0:
            notes.append(f"Set {name}: no readable images; no metrics.")
            metrics[name] = {}
            continue
        metrics[name] = {s.name: binary_metrics(ss.y, ss.scores[s.name], s.threshold,
                                                probabilities=s.probabilistic, n_bins=options.n_bins,
                                                inclusive=s.inclusive)
                         for s in scorers}
        found = set_correlations(ss, scorers, options.n_resamples, options.seed)
        if found:
            correlations[name] = found

    result = BenchmarkResult(suite=suite, scorers=[_scorer_meta(s) for s in scorers], sets=suite.sets,
                             set_scores=set_scores, metrics=metrics, correlations=correlations, baselines=baselines,
                             baseline_train=baseline_train, notes=notes, timings=timings,
                             environment=environment(), options=options)

    spec = suite.spec.robustness
    if options.robustness and spec is not None:
        items = suite.sets[spec.set].items[:spec.max_images] if spec.max_images else suite.sets[spec.set].items
        subset = _set_scores(spec.set, items, table, position)
        t0 = time.perf_counter()
        result.robustness = run_robustness(scorers, subset, items, spec.transforms, options.batch_size,
                                           options.progress)
        result.robustness_set = spec.set
        timings["robustness_s"] = time.perf_counter() - t0

    if options.sensitivity:
        t0 = time.perf_counter()
        groups = aesthetic_groups({n: s.items for n, s in suite.sets.items()})
        both = [n for n, s in suite.sets.items() if s.n_positive and s.n_negative]
        preserve_set = spec.set if spec is not None else (both[0] if both else next(iter(suite.sets)))
        items = suite.sets[preserve_set].items
        if spec is not None and spec.max_images:
            items = items[:spec.max_images]
        result.sensitivity = run_sensitivity(scorers, groups, {preserve_set: items},
                                             batch_size=options.batch_size, progress=options.progress)
        timings["sensitivity_s"] = time.perf_counter() - t0

    if options.leakage:
        t0 = time.perf_counter()
        against = {"[train]": suite.train.items} if suite.train is not None else {}
        against.update(options.extra_training_sets)
        result.audit = audit({n: s.items for n, s in suite.sets.items()}, against,
                             max_distance=options.max_distance if options.max_distance is not None
                             else DEFAULT_MAX_DISTANCE, cross_sets=False, progress=options.progress)
        timings["audit_s"] = time.perf_counter() - t0
    return result
