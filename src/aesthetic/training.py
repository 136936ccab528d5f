"""From a feature store to model bundles: train the FC, distil it into a smaller FC.

What the ``aesthetic train`` / ``aesthetic distill`` commands and the benchmarks call.
Labels come from the store's label column, or from a label file (any format of
:mod:`aesthetic.labels`) joined on the store ids; augmented rows (``x.jpg#aug1``)
take their source image's label.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from aesthetic.classifier import AUG_SEPARATOR, FCConfig, FCResult, source_ids, train_fc
from aesthetic.distillation import DistillConfig, distill_fc, ensemble_logits
from aesthetic.feature_store import FeatureStore, PathLike
from aesthetic.labels import LabelTable
from aesthetic.model import AestheticModel, BundleError, load_model, save_full_bundle
from aesthetic.sensitivity import (SensitivityConfig, build_sensitivity_store, default_cache_path,
                                   readable_sources, row_kinds)

log = logging.getLogger(__name__)


def store_labels(store: FeatureStore, labels: LabelTable | None = None) -> np.ndarray:
    """``(n,)`` float32 labels of every store row: the label file's (joined on source id) or the store's."""
    if labels is None:
        own = store.labels.copy()
        # augmented rows inherit their source's label when they were stored without one
        missing = np.isnan(own) & np.array([AUG_SEPARATOR in i for i in store.ids])
        if missing.any():
            by_id = {i: v for i, v in zip(store.ids, own) if not np.isnan(v)}
            src = source_ids(store.ids)
            own[missing] = [by_id.get(s, np.nan) for s in src[missing]]
        return own
    return labels.lookup(source_ids(store.ids))


def extractor_config_of(store: FeatureStore, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """How the store's features were made (``store.metadata["extractor"]``), or ``override``."""
    if override is not None:
        return dict(override)
    if "extractor" not in store.metadata:
        raise BundleError(f"{store.source}: the store does not record its extractor config "
                          "(metadata['extractor']); pass extractor_config so the bundle can score images")
    return dict(store.metadata["extractor"])


def _selector_for(store: FeatureStore, selection: PathLike | None, branches: Sequence[str] | None):
    from aesthetic.genetic_selection.base import AllFeatures
    from aesthetic.genetic_selection.io import load_selector

    if selection is None:
        return AllFeatures().fit_store(store, list(branches) if branches else None)
    selector = load_selector(selection)
    selector.check_store(store)
    return selector


def _provenance(store: FeatureStore, rows: np.ndarray, result: FCResult) -> dict[str, Any]:
    return {"features": str(Path(store.source).resolve()), "rows_used": int(len(rows)),
            "train_rows": int(len(result.train_rows)), "validation_rows": int(len(result.validation_rows)),
            "augmented_rows": int(sum(AUG_SEPARATOR in store.ids[r] for r in rows))}


def sensitivity_rows(store: FeatureStore, y_all: np.ndarray, rows: np.ndarray, config: SensitivityConfig,
                     cache: PathLike | None, extractor_config: Mapping[str, Any] | None
                     ) -> tuple[Path | None, dict[str, Any]]:
    """The sensitivity store for the aesthetic originals among ``rows`` (built or reused), and a
    record of what happened. ``(None, record)`` when no aesthetic photo's file can be read."""
    from aesthetic.feature_extraction import FeatureExtractor

    originals = [r for r in rows if y_all[r] == 1 and AUG_SEPARATOR not in store.ids[r]]
    ids = [store.ids[r] for r in originals]
    keep, missing = readable_sources(ids, [store.paths[r] for r in originals])
    record: dict[str, Any] = {"config": config.model_dump(mode="json"), "aesthetic_photos": len(ids),
                              "readable": len(keep)}
    if missing:
        log.warning("sensitivity: %d of %d aesthetic photos unreadable, e.g. %s", len(missing), len(ids), missing[0])
    if not keep:
        record["status"] = "off: the store's aesthetic photos are not readable"
        return None, record
    extractor = FeatureExtractor.from_config(extractor_config_of(store, extractor_config))
    path = Path(cache) if cache is not None else default_cache_path(store.source)
    build_sensitivity_store(path, [ids[k] for k in keep], [store.paths[originals[k]] for k in keep], extractor, config)
    record.update(status="on", cache=str(path.resolve()))
    return path, record


def train_from_store(features: PathLike, out: PathLike, *, selection: PathLike | None = None,
                     labels: LabelTable | None = None, label_rule: Mapping[str, Any] | None = None,
                     fc_config: FCConfig = FCConfig(), branches: Sequence[str] | None = None,
                     extractor_config: Mapping[str, Any] | None = None,
                     sensitivity: SensitivityConfig | None = SensitivityConfig(),
                     sensitivity_cache: PathLike | None = None) -> tuple[AestheticModel, FCResult]:
    """Train the FC on the labelled, extracted rows of ``features`` and write a full bundle to ``out``.

    ``selection``: a saved selector (PCA or GA); without it all features of ``branches``
    (default: every branch of the store). ``label_rule`` is recorded in the bundle.
    ``sensitivity`` (on by default; None turns it off): degraded copies, geometry crops and
    synthetic frames of :mod:`aesthetic.sensitivity` join the training rows when the aesthetic
    photos' files are readable; their features are cached in ``sensitivity_cache`` (default
    ``<features>.sensitivity.h5``). The threshold and calibration are chosen on the store's own
    photos only. ``model.config["sensitivity"]["status"]`` says whether it ran.
    """
    with FeatureStore.open(features) as store:
        y_all = store_labels(store, labels)
        rows = np.flatnonzero(store.ok & ~np.isnan(y_all))
        if len(rows) == 0:
            raise ValueError(f"{features}: no extracted rows with a label to train on")
        selector = _selector_for(store, selection, branches)
        x = selector.transform_store(store, rows)
        y = y_all[rows]
        groups = source_ids(store.ids[rows])
        record: dict[str, Any] = {"status": "off: not asked for"}
        n_real = len(rows)
        if sensitivity is not None:
            cache, record = sensitivity_rows(store, y_all, rows, sensitivity, sensitivity_cache, extractor_config)
            if cache is not None:
                with FeatureStore.open(cache) as extra_store:
                    x = np.concatenate([x, selector.transform_store(extra_store, np.arange(len(extra_store)))])
                    y = np.concatenate([y, extra_store.labels.astype(np.float32)])
                    groups = np.concatenate([groups, source_ids(extra_store.ids)])
                    kinds = row_kinds(extra_store.ids)
                    record["rows"] = {str(k): int((kinds == k).sum()) for k in sorted(set(kinds))}
        real = np.arange(len(y)) < n_real
        result = train_fc(x, y, groups, fc_config, threshold_rows=real)
        extra = {
            "threshold_metric": fc_config.threshold_metric, "fc": fc_config.model_dump(mode="json"),
            "label_rule": dict(label_rule or {"source": "store labels"}),
            "training": _provenance(store, rows, result),
            "selection_source": None if selection is None else str(Path(selection).resolve()),
            "sensitivity": record, "calibration": result.calibration,
        }
        save_full_bundle(out, fc_model=result.model, selector=selector,
                         extractor_config=extractor_config_of(store, extractor_config),
                         threshold=result.threshold, metrics=result.metrics, extra_config=extra)
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
    with FeatureStore.open(training_features_of(teacher, features)) as store:
        rows = np.flatnonzero(store.ok)
        z_t = teacher_logits(members, store, rows)
        selector = teacher.selector if selection is None else _selector_for(store, selection, None)
        x = selector.transform_store(store, rows)
        y = store_labels(store, labels)[rows]
        result = distill_fc(x, y, z_t, source_ids(store.ids[rows]), config, teacher.network_threshold)
        base = dict(store.metadata.get("extractor") or teacher.config["extractor"])
        extra = {
            "threshold_metric": config.threshold_metric, "fc": config.fc_config().model_dump(mode="json"),
            "label_rule": teacher.config.get("label_rule", {}), "training": _provenance(store, rows, result),
            "distilled_from": [str(Path(m.path).resolve()) for m in members],
            "distillation": config.model_dump(mode="json"),
        }
        save_full_bundle(out, fc_model=result.model, selector=selector, extractor_config=base,
                         threshold=result.threshold, metrics=result.metrics, extra_config=extra)
    return load_model(out), result
