"""The NIMA peer: MobileNet v1 trained on AVA rating distributions (idealo's Keras file).

Scores an image with a 10-bin distribution over ratings 1..10; its mean score > 5 is
AVA's "aesthetic" rule. Used as the peer baseline beside the project's models and
as real pretrained weights for the mobilenet branch and the end-to-end student. It lives
with the mobilenet branch, whose backbone and data settings (nearest-neighbour squash to
224 x 224, pixels to [-1, 1]) it shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Union

import numpy as np

from aesthetic.backend import to_numpy
from aesthetic.shared import nima_weights_path

from .branches.base import DataConfig
from .branches.mobilenet import NIMA_WEIGHTS, MobileNetBranch, build_nima
from .weights import resolve_weights

#: NIMA's trained geometry and scaling: the mobilenet branch's.
NIMA_DATA: DataConfig = MobileNetBranch.data_config
RATINGS = np.arange(1, 11, dtype=np.float64)


def default_weights_path() -> Path | None:
    """The NIMA file: ``../shared/weights`` beside the checkout when present, else the package's copy."""
    return nima_weights_path()


def mean_score(distribution: np.ndarray) -> np.ndarray:
    """Mean rating sum(i * p_i) of ``(n, 10)`` distributions (normalised first)."""
    d = np.asarray(distribution, dtype=np.float64)
    return (d / d.sum(axis=-1, keepdims=True)) @ RATINGS


class NimaScorer:
    """NIMA at its trained geometry (:data:`NIMA_DATA`: nearest-neighbour squash to 224x224, inputs in [-1, 1])."""

    name = "NIMA (MobileNet, AVA)"

    def __init__(self, weights_path: Union[str, Path, None] = None, batch_size: int = 32):
        path = weights_path or default_weights_path()
        if path is None:
            raise FileNotFoundError(f"NIMA weights not found; pass the path to {NIMA_WEIGHTS.filename}")
        self.weights = resolve_weights(str(path), "nima", (NIMA_WEIGHTS,))
        self.backbone_weights_path = self.weights.path
        self.batch_size = batch_size
        self.model, self.backbone = build_nima(self.weights.path)

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return NIMA_DATA.normalize(np.stack([NIMA_DATA.prepare(im) for im in images]))

    def predict_images(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(distributions (n, 10), mean scores (n,)) of uint8 RGB images."""
        dists = []
        for s in range(0, len(images), self.batch_size):
            x = self.preprocess(images[s:s + self.batch_size])
            dists.append(to_numpy(self.model(x, training=False)).astype(np.float64))
        dist = np.concatenate(dists) if dists else np.zeros((0, 10))
        return dist, mean_score(dist) if len(dist) else np.zeros(0)

    def head(self) -> tuple[np.ndarray, np.ndarray]:
        """NIMA's dense head (kernel (1024, 10), bias (10,)) that maps pooled features to the distribution."""
        dense = self.model.layers[-1]
        kernel, bias = dense.get_weights()
        return kernel, bias
