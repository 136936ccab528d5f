"""What training on a feature store needs: each row's label and the features a selector picks.

Labels come from the store's label column, or from a label file (any format of
:mod:`aesthetic.data`) joined on the store ids; augmented rows (``x.jpg#aug1``)
take their source image's label. Writing the trained model as a bundle is
:mod:`aesthetic.bundles.build`.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from aesthetic.classifier.fc import AUG_SEPARATOR, source_ids
from aesthetic.feature_store import FeatureStore
from aesthetic.fileio import PathLike
from aesthetic.genetic_selection.base import AllFeatures
from aesthetic.genetic_selection.io import load_selector
from aesthetic.data import LabelTable

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
    return labels.join(source_ids(store.ids))


def selector_for(store: FeatureStore, selection: PathLike | None, branches: Sequence[str] | None):
    """The saved selector at ``selection`` checked against ``store``, or all features of ``branches``."""
    if selection is None:
        return AllFeatures().fit_store(store, list(branches) if branches else None)
    selector = load_selector(selection)
    selector.check_store(store)
    return selector


