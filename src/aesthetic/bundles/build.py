"""Writers of model bundles: train or distil from a feature store, then save the result as a bundle.

What the ``aesthetic train`` / ``aesthetic distill`` commands and the benchmarks call. The
learning itself is the classifier capability (:mod:`aesthetic.classifier`); this module
adds where the data comes from (a store, a teacher bundle) and the bundle it writes. Labels come from the store's label
column, or from a label file (any format of :mod:`aesthetic.data`) joined on the store ids;
augmented rows (``x.jpg#aug1``) take their source image's label. ``target="distribution"`` /
``"mean"`` trains a score head (:mod:`aesthetic.classifier.scores`) on the label file's rating
distributions / mean scores instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from aesthetic.bundles.model import (CONFIG_FILE, METRICS_FILE, MODEL_FILE, STUDENT_DIR, AestheticModel, BundleError,
                                     StudentModel, bundle_header, check_bundle_out, load_model, save_full_bundle,
                                     write_bundle)
from aesthetic.classifier.distillation import DistillConfig, distill_fc, distill_score_fc, ensemble_logits
from aesthetic.classifier.fc import AUG_SEPARATOR, FCConfig, FCResult, source_ids, train_fc
from aesthetic.classifier.student import StudentConfig, load_images, train_score_student, train_student
from aesthetic.classifier.training import selector_for, store_labels
from aesthetic.feature_store import FeatureStore
from aesthetic.fileio import PathLike, json_text
from aesthetic.data import LabelTable, labels_from_scores
from aesthetic.feature_extraction.nima import default_weights_path
from aesthetic.classifier.quality import STATS_BRANCH, StatsSplit, train_two_heads
from aesthetic.classifier.scores import ScoreRule, score_targets, target_means, train_score_head
from aesthetic.classifier.sensitivity import (SensitivityConfig, build_sensitivity_store, default_cache_path,
                                              head_targets, readable_sources, row_kinds)
from aesthetic.feature_extraction import FeatureExtractor

log = logging.getLogger(__name__)


def extractor_config_of(store: FeatureStore, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """How the store's features were made (``store.metadata["extractor"]``), or ``override``; features of
    another branch version than this package computes are refused (a bundle could not score new photos alike)."""
    from aesthetic.feature_extraction.extractor import ExtractorConfig

    if override is None and "extractor" not in store.metadata:
        raise BundleError(f"{store.source}: the store does not record its extractor config "
                          "(metadata['extractor']); pass extractor_config so the bundle can score images")
    config = dict(override if override is not None else store.metadata["extractor"])
    ExtractorConfig.model_validate(config).check_versions(str(store.source))
    return config


def _provenance(store: FeatureStore, rows: np.ndarray, result: FCResult) -> dict[str, Any]:
    return {"features": str(Path(store.source).resolve()), "rows_used": int(len(rows)),
            "train_rows": int(len(result.train_rows)), "validation_rows": int(len(result.validation_rows)),
            "augmented_rows": int(sum(AUG_SEPARATOR in store.ids[r] for r in rows))}


def sensitivity_rows(store: FeatureStore, y_all: np.ndarray, rows: np.ndarray, config: SensitivityConfig,
                     cache: PathLike | None, extractor_config: Mapping[str, Any] | None
                     ) -> tuple[Path | None, dict[str, Any]]:
    """The sensitivity store for the originals among ``rows`` (built or reused): every labelled photo
    in the two_heads design, the aesthetic ones in the one_head design; and a record of what
    happened. ``(None, record)`` when no aesthetic photo's file can be read."""

    every = config.design == "two_heads"
    originals = [r for r in rows if (every or y_all[r] == 1) and AUG_SEPARATOR not in store.ids[r]]
    ids = [store.ids[r] for r in originals]
    keep, missing = readable_sources(ids, [store.paths[r] for r in originals])
    aesthetic_kept = [k for k in keep if y_all[originals[k]] == 1]
    record: dict[str, Any] = {"config": config.model_dump(mode="json"), "design": config.design, "photos": len(ids),
                              "readable": len(keep), "aesthetic_readable": len(aesthetic_kept)}
    if missing:
        log.warning("sensitivity: %d of %d photos unreadable, e.g. %s", len(missing), len(ids), missing[0])
    if not aesthetic_kept:
        record["status"] = "off: the store's aesthetic photos are not readable"
        return None, record
    extractor = FeatureExtractor.from_config(extractor_config_of(store, extractor_config), where=str(store.source))
    path = Path(cache) if cache is not None else default_cache_path(store.source)
    build_sensitivity_store(path, [ids[k] for k in keep], [store.paths[originals[k]] for k in keep], extractor,
                            config, labels=[float(y_all[originals[k]]) for k in keep])
    record.update(status="on", cache=str(path.resolve()))
    return path, record


Target = Literal["binary", "distribution", "mean"]


def store_score_targets(store: FeatureStore, labels: LabelTable | None, target: str,
                        degraded: np.ndarray | None = None) -> np.ndarray:
    """Score targets of every store row from ``labels``, joined on source id (augmented rows take
    their source's): ``(n, 10)`` distributions or ``(n,)`` means, NaN where the file has none.
    Rows flagged in ``degraded`` (``(n,)`` bool: sensitivity copies labelled "not aesthetic") get
    :func:`aesthetic.classifier.scores.low_score_distribution` / ``low_score_mean``."""
    if labels is None:
        raise ValueError(f"--target {target} needs human scores: pass --labels with mean scores or rating "
                         "distributions (a store holds binary labels only)")
    if target == "distribution" and np.isnan(labels.distributions).all():
        raise ValueError("--target distribution needs rating distributions: use --label-source distribution "
                         "(a CSV column of 10 vote counts) or an AVA JSON label file")
    return score_targets(labels, source_ids(store.ids), target, degraded)


def store_score_targets_of(labels: LabelTable | None, ids: Sequence[str], target: str,
                           degraded: np.ndarray) -> np.ndarray:
    """Score targets of sensitivity rows ``ids``: their source's human score, the low-score target where
    ``degraded``; empty ``(0, 10)`` / ``(0,)`` when there are none."""
    if len(ids) == 0:
        return np.zeros((0, 10) if target == "distribution" else (0,))
    return score_targets(labels, source_ids(ids), target, degraded)


def _add_sensitivity_rows(store: FeatureStore, selector: Any, x: np.ndarray, aesthetic: np.ndarray,
                          rows: np.ndarray, config: SensitivityConfig, cache: PathLike | None,
                          extractor_config: Mapping[str, Any] | None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """``x`` with the sensitivity rows of the photos (``aesthetic``: ``(n,)`` 0/1 of every store
    row) appended, their 0/1 labels, their ids and the record of what happened."""
    path, record = sensitivity_rows(store, aesthetic, rows, config, cache, extractor_config)
    if path is None:
        return x, np.zeros(0, np.float32), np.zeros(0, dtype=object), record
    with FeatureStore.open(path) as extra:
        x = np.concatenate([x, selector.transform_store(extra, np.arange(len(extra)))])
        kinds = row_kinds(extra.ids)
        record["rows"] = {str(k): int((kinds == k).sum()) for k in sorted(set(kinds))}
        return x, extra.labels.astype(np.float32), np.asarray(extra.ids, dtype=object), record


def _degraded(ids: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: which sensitivity rows are degraded copies or synthetic frames (not crops or mirrors)."""
    return ~head_targets(list(ids)) if len(ids) else np.zeros(0, bool)


def _score_head_config(target: str, rule: Any) -> dict[str, Any]:
    return {"head": target, "score_rule": rule.model_dump(), "score_rule_describe": rule.describe()}


def stats_split(selector: Any, n_real: int, extra_ids: np.ndarray, sensitivity: SensitivityConfig
                ) -> StatsSplit | None:
    """The statistics quality head's rows and columns (:class:`aesthetic.classifier.quality.StatsSplit`)
    when the selected features carry the ``pixel_stats`` branch's own columns and the config names
    degradations for it; else None (one quality head)."""
    if not sensitivity.stats_kinds or sensitivity.design != "two_heads":
        return None
    columns = selector.raw_output_columns(STATS_BRANCH)
    if columns is None or len(columns) == 0:
        return None
    kinds = np.concatenate([np.full(n_real, "original", dtype=object), row_kinds(list(extra_ids))])
    return StatsSplit(np.asarray(columns, np.int64), kinds, tuple(sensitivity.stats_kinds),
                      tuple(sensitivity.cnn_kinds))


def _train_binary(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_real: int, extra_ids: np.ndarray,
                  fc_config: FCConfig, sensitivity: SensitivityConfig | None, selector: Any) -> FCResult:
    """The binary model on ``x`` (the store's ``n_real`` rows, then the sensitivity rows ``extra_ids``):
    two heads (:func:`aesthetic.classifier.quality.train_two_heads`, with the statistics quality head
    when :func:`stats_split` finds its columns) in the two_heads design, else one FC with the copies
    mixed in. The threshold is chosen on the store's own rows either way."""
    real = np.arange(len(y)) < n_real
    if sensitivity is not None and len(extra_ids) and sensitivity.design == "two_heads":
        # the store's own rows (and any label-preserving copies it holds) are clean
        clean = np.concatenate([np.ones(n_real, bool), head_targets(list(extra_ids))])
        split = stats_split(selector, n_real, extra_ids, sensitivity)
        return train_two_heads(x, y, groups, clean, real, fc_config, split, weights=sensitivity.head_weights,
                               slack=sensitivity.weight_slack)
    return train_fc(x, y, groups, fc_config, threshold_rows=real)


def train_from_store(features: PathLike, out: PathLike, *, selection: PathLike | None = None,
                     labels: LabelTable | None = None, label_rule: Mapping[str, Any] | None = None,
                     fc_config: FCConfig = FCConfig(), branches: Sequence[str] | None = None,
                     extractor_config: Mapping[str, Any] | None = None, target: Target = "binary",
                     score_rule: ScoreRule | None = None,
                     sensitivity: SensitivityConfig | None = SensitivityConfig(),
                     sensitivity_cache: PathLike | None = None) -> tuple[AestheticModel, FCResult]:
    """Train the FC on the labelled, extracted rows of ``features`` and write a full bundle to ``out``.

    ``selection``: a saved selector (PCA or GA); without it all features of ``branches``
    (default: every branch of the store). ``label_rule`` is recorded in the bundle.
    ``target``: ``"binary"`` (P(aesthetic) from 0/1 labels), or a score head trained on the
    ``labels`` file's ``"distribution"`` (EMD) or ``"mean"`` scores (Huber); a score bundle
    stores ``score_rule`` (:class:`aesthetic.classifier.scores.ScoreRule`, default mean >= 5) to derive P.
    ``sensitivity`` (on by default; None turns it off): degraded copies, geometry crops and synthetic
    frames of :mod:`aesthetic.classifier.sensitivity` join the training rows when the aesthetic photos'
    files are readable (for a score head: photos whose human mean is above the rule's threshold; its
    degraded copies and frames are trained towards :func:`aesthetic.classifier.scores.low_score_distribution`,
    its crops towards their source's score); their features are cached in ``sensitivity_cache``
    (default ``<features>.sensitivity.h5``). The threshold and calibration are chosen on the store's
    own photos only. ``model.config["sensitivity"]["status"]`` says whether it ran.
    """
    if target not in ("binary", "distribution", "mean"):
        raise ValueError(f"target must be binary, distribution or mean; got {target!r}")
    check_bundle_out(out, [features, selection])  # before any work: never replace a folder holding an input
    with FeatureStore.open(features) as store:
        if extractor_config is not None or "extractor" in store.metadata:  # stale features: refused before any work
            extractor_config = extractor_config_of(store, extractor_config)
        if target == "binary":
            y_all = store_labels(store, labels)
            has_target = ~np.isnan(y_all)
        else:
            y_all = store_score_targets(store, labels, target)
            has_target = ~np.isnan(y_all.reshape(len(y_all), -1)).any(axis=1)
        rows = np.flatnonzero(store.ok & has_target)
        if len(rows) == 0:
            raise ValueError(f"{features}: no extracted rows with a label to train on")
        selector = selector_for(store, selection, branches)
        x = selector.transform_store(store, rows)
        groups = source_ids(store.ids[rows])
        rule = score_rule or ScoreRule()
        record: dict[str, Any] = {"status": "off: not asked for"}
        n_real, extra_labels, extra_ids = len(rows), np.zeros(0, np.float32), np.zeros(0, dtype=object)
        if sensitivity is not None:
            aesthetic = y_all if target == "binary" else labels_from_scores(target_means(y_all), rule.threshold)
            x, extra_labels, extra_ids, record = _add_sensitivity_rows(store, selector, x, aesthetic, rows,
                                                                      sensitivity, sensitivity_cache,
                                                                      extractor_config)
            groups = np.concatenate([groups, source_ids(extra_ids)])
        if target == "binary":
            y = np.concatenate([y_all[rows], extra_labels])
            result = _train_binary(x, y, groups, n_real, extra_ids, fc_config, sensitivity, selector)
            if getattr(result, "stats_quality_model", None) is not None:
                record["stats_quality_head"] = STATS_BRANCH  # what it learns is in record["config"]
        else:
            # Degraded copies and synthetic frames (label 0) get the low-score target; geometry crops
            # (label 1) their source photo's human score.
            extra_targets = store_score_targets_of(labels, extra_ids, target, degraded=_degraded(extra_ids))
            result = train_score_head(x, np.concatenate([y_all[rows], extra_targets]), groups, fc_config,
                                      target, rule)
        extra = {
            **({} if target == "binary" else _score_head_config(target, rule)),
            "threshold_metric": fc_config.threshold_metric, "fc": fc_config.model_dump(mode="json"),
            "label_rule": dict(label_rule or {"source": "store labels"}),
            "training": _provenance(store, rows, result),
            "selection_source": None if selection is None else str(Path(selection).resolve()),
            "sensitivity": record, "calibration": getattr(result, "calibration", None),
        }
        save_full_bundle(out, fc_model=result.model, selector=selector,
                         extractor_config=extractor_config_of(store, extractor_config),
                         threshold=result.threshold, metrics=result.metrics, extra_config=extra,
                         inputs=[features, selection], quality_model=getattr(result, "quality_model", None),
                         stats_quality_model=getattr(result, "stats_quality_model", None),
                         quality_weights=getattr(result, "quality_weights", ()))
    log.info("wrote %s", out)
    return load_model(out), result


def teacher_logits(teachers: Sequence[AestheticModel], store: FeatureStore, rows: np.ndarray) -> np.ndarray:
    """Teacher logits ``(len(rows),)`` from stored features (no backbone is run); an ensemble averages."""
    return ensemble_logits([t.logits_store(store, rows) for t in teachers])


def training_features_of(teacher: AestheticModel, features: PathLike | None) -> Path:
    """The store to distil on: ``features``, else the one the teacher was trained on."""
    if features is not None:
        return Path(features)
    recorded = teacher.config.get("training", {}).get("features")
    if not recorded or not Path(recorded).exists():
        raise BundleError(f"{teacher.path}: the teacher's training features ({recorded}) are not available; "
                          "pass --features")
    return Path(recorded)


def distill_from_bundle(teacher_dir: PathLike, out: PathLike, *, features: PathLike | None = None,
                        selection: PathLike | None = None, ensemble: Sequence[PathLike] = (),
                        labels: LabelTable | None = None, config: DistillConfig = DistillConfig()
                        ) -> tuple[AestheticModel, FCResult]:
    """Distil the full model at ``teacher_dir`` (plus ``ensemble`` members) into a smaller FC.

    The student reads the features chosen by ``selection`` (default: the teacher's own
    selector) and is written as a full bundle to ``out``. Every extracted row teaches through
    the soft term; labelled rows add the hard term.
    """
    teacher = load_model(teacher_dir)
    if not isinstance(teacher, AestheticModel):
        raise BundleError(f"{teacher_dir}: a {teacher.kind} bundle cannot teach; pass a full model bundle")
    members = [teacher] + [load_model(m) for m in ensemble]
    heads = {m.head for m in members}
    if len(heads) > 1:
        raise BundleError(f"{teacher_dir}: an ensemble must share one head; got {', '.join(sorted(heads))}")
    store_path = training_features_of(teacher, features)
    inputs = [teacher_dir, store_path, selection, *ensemble]
    check_bundle_out(out, inputs)
    with FeatureStore.open(store_path) as store:
        rows = np.flatnonzero(store.ok)
        selector = teacher.selector if selection is None else selector_for(store, selection, None)
        x = selector.transform_store(store, rows)
        groups = source_ids(store.ids[rows])
        score_extra: dict[str, Any] = {}
        if teacher.has_scores:
            # the teacher's rating distribution (or mean) is the soft target; human scores, when a
            # label file with them is given, the hard one
            soft = np.mean([m.raw_store(store, rows) for m in members], axis=0)
            human = (store_score_targets(store, labels, teacher.head)[rows] if labels is not None
                     else np.full(soft.shape, np.nan))
            result = distill_score_fc(x, human, soft, groups, config, teacher.head, teacher.score_rule)
            score_extra = _score_head_config(teacher.head, teacher.score_rule)
        else:
            z_t = teacher_logits(members, store, rows)
            y = store_labels(store, labels)[rows]
            result = distill_fc(x, y, z_t, groups, config, teacher.network_threshold)
        base = dict(store.metadata.get("extractor") or teacher.config["extractor"])
        extra = {
            **score_extra,
            "threshold_metric": config.threshold_metric, "fc": config.fc_config().model_dump(mode="json"),
            "label_rule": teacher.config.get("label_rule", {}), "training": _provenance(store, rows, result),
            "distilled_from": [str(Path(m.path).resolve()) for m in members],
            "distillation": config.model_dump(mode="json"),
        }
        save_full_bundle(out, fc_model=result.model, selector=selector, extractor_config=base,
                         threshold=result.threshold, metrics=result.metrics, extra_config=extra, inputs=inputs)
    return load_model(out), result


def save_student_bundle(out: PathLike, model, threshold: float, config: StudentConfig, metrics: dict[str, Any],
                        extra_config: dict[str, Any] | None = None) -> Path:
    """Write a student bundle (``model.keras`` + ``config.json`` + ``metrics.json``) atomically."""
    cfg = bundle_header("student")
    cfg.update({"threshold": float(threshold), "image_size": int(config.image_size),
                "input_policy": f"resize({config.image_size}x{config.image_size})",
                "student": config.model_dump(mode="json")})
    cfg.update(extra_config or {})

    def write(tmp: Path) -> None:
        model.save(tmp / MODEL_FILE)
        (tmp / CONFIG_FILE).write_text(json_text(cfg), encoding="utf-8")
        (tmp / METRICS_FILE).write_text(json_text(metrics), encoding="utf-8")

    return write_bundle(out, write)


def distill_end_to_end(teacher_dir: PathLike, out: PathLike | None = None, *, features: PathLike | None = None,
                       config: StudentConfig = StudentConfig(), backbone_weights: PathLike | None = "nima",
                       labels=None, max_images: int | None = None) -> tuple[StudentModel, dict[str, Any]]:
    """Distil the full model at ``teacher_dir`` into an end-to-end student bundle.

    Images are the extracted rows of the teacher's training store (or ``features``); teacher
    logits come from the stored features. ``out`` defaults to ``MODEL/student``.
    ``backbone_weights``: ``"nima"`` (the built-in NIMA file; ../shared's copy when present), a path, or None.
    """
    teacher = load_model(teacher_dir)
    if not isinstance(teacher, AestheticModel):
        raise BundleError(f"{teacher_dir}: a {teacher.kind} bundle cannot teach; pass a full model bundle")
    if backbone_weights == "nima":
        backbone_weights = default_weights_path()
        if backbone_weights is None:
            log.warning("NIMA weights not found: the student's backbone starts from random weights")
    out = Path(out) if out is not None else Path(teacher_dir) / STUDENT_DIR
    store_path = training_features_of(teacher, features)
    check_bundle_out(out, [teacher_dir, store_path])  # before any training
    with FeatureStore.open(store_path) as store:
        rows = np.flatnonzero(store.ok & np.array([AUG_SEPARATOR not in i for i in store.ids]))
        if max_images is not None:
            rows = rows[:max_images]
        images, ok, errors = load_images(store.paths[rows], config.image_size)
        for r, err in zip(rows[~ok], [e for e, good in zip(errors, ok) if not good]):
            log.warning("student: skipping %s (%s)", store.paths[r], err)
        rows = rows[ok]
        groups = source_ids(store.ids[rows])
        if teacher.has_scores:
            model, threshold, metrics = train_score_student(images, teacher.raw_store(store, rows), groups,
                                                            teacher.head, teacher.score_rule, config, backbone_weights)
        else:
            z_t = teacher.logits_store(store, rows)
            y = store_labels(store, labels)[rows]
            model, threshold, metrics = train_student(images, z_t, y, groups, config, backbone_weights,
                                                      teacher.network_threshold)
        source = str(Path(store.source).resolve())
    extra = {"teacher": str(Path(teacher_dir).resolve()), "features": source,
             "backbone_weights": None if backbone_weights is None else str(backbone_weights),
             "label_rule": teacher.config.get("label_rule", {})}
    if teacher.has_scores:
        extra.update(_score_head_config(teacher.head, teacher.score_rule))
    save_student_bundle(out, model, threshold, config, metrics, extra)
    return load_model(out), metrics  # type: ignore[return-value]
