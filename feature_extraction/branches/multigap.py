"""Branch 1, MultiGAP/MLSP: InceptionResNetV2, GAP of every layer whose name contains 'mixed'.

43 layers (mixed_5b, block35_1..10_mixed, mixed_6a, block17_1..20_mixed, mixed_7a,
block8_1..10_mixed) concatenated in layer order give 16928 features per image.
Input: max side 996 with aspect kept, so batches are grouped by shape.
"""

from __future__ import annotations

from aesthetic.imageio import MaxSide
from ..weights import KnownWeights, ResolvedWeights
from .registry import register_branch
from .base import Branch, DataConfig


def _gap_concat(base, layer_names, name):
    import keras

    pooled = [keras.layers.GlobalAveragePooling2D(name=f"gap_{n}")(base.get_layer(n).output) for n in layer_names]
    out = keras.layers.Concatenate(name="features")(pooled) if len(pooled) > 1 else pooled[0]
    return keras.Model(base.input, out, name=name)


@register_branch
class MultiGap(Branch):
    name = "multigap"
    width = 16928
    data_config = DataConfig(policy=MaxSide(side=996, upscale=True), divisor=127.5, offset=-1.0, min_side=75)
    description = "InceptionResNetV2, GAP of the 43 'mixed' layers (MLSP), max side 996"
    known_weights = (KnownWeights(
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5", 219_055_592,
        "937fb087127afa1d6d09f5eed7e560fc9ef20d3c6583b54653141c922a6dee0f",
        "Keras ImageNet InceptionResNetV2 (no top)"),)

    def _backbone(self, weights: ResolvedWeights):
        import keras

        base = keras.applications.InceptionResNetV2(
            include_top=False, weights="imagenet" if weights.kind == "imagenet" else None,
            input_shape=(None, None, 3))
        if weights.kind == "file":
            base.load_weights(str(weights.path))
        layers = [layer.name for layer in base.layers if "mixed" in layer.name]
        return _gap_concat(base, layers, "multigap"), layers
