"""Branch 2: EfficientNetB7 without top, global average pooled (2560 features), letterbox 600x600."""

from __future__ import annotations

import numpy as np

from aesthetic.imageio import Letterbox
from ..weights import KnownWeights, ResolvedWeights
from .registry import register_branch
from .base import Branch, DataConfig

# Keras adds a Rescaling(1/sqrt(std)) after its Normalization layer only when
# weights == "imagenet"; a local copy of the same file must get the same graph.
_IMAGENET_STDDEV_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@register_branch
class EfficientNet(Branch):
    name = "efficientnet"
    width = 2560
    data_config = DataConfig(policy=Letterbox(size=600))  # pixels as they are: the model normalises inside
    description = "EfficientNetB7, global average pooled, letterbox 600x600"
    known_weights = (KnownWeights(
        "efficientnetb7_notop.h5", 258_076_736,
        "69c0b6daa325aed69eb93af7c04c19fd04a5af45783ba0756ad2307143acdc5f",
        "Keras ImageNet EfficientNetB7 (no top)"),)

    def _backbone(self, weights: ResolvedWeights):
        import keras

        model = keras.applications.EfficientNetB7(
            include_top=False, weights="imagenet" if weights.kind == "imagenet" else None,
            pooling="avg", input_shape=(None, None, 3))
        if weights.kind == "file":
            model.load_weights(str(weights.path))
            norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
            # (x - mean) / sqrt(var) * (1/sqrt(std)) == (x - mean) / sqrt(var * std)
            norm.variance.assign(keras.ops.convert_to_numpy(norm.variance) * _IMAGENET_STDDEV_RGB.reshape(norm.variance.shape))
        return model, [model.layers[-1].name]
