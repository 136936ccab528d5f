"""CPU-friendly branch with real weights offline: MobileNet v1, multi-level GAP.

GAP of the output of each of the 13 depthwise-separable blocks (``conv_pw_{i}_relu``),
concatenated: 64+128+128+256+256+5*512+2*1024 = 5952 features. The last 1024 are
exactly NIMA's pooled features, so with the NIMA file they go through NIMA's
dense head unchanged. Input policy is NIMA's own: nearest-neighbour squash to 224x224.
"""

from __future__ import annotations

from aesthetic.imageio import Resize
from ..weights import KnownWeights, ResolvedWeights
from .registry import register_branch
from .base import Branch, DataConfig
from .multigap import _gap_concat

NIMA_WEIGHTS = KnownWeights(
    "nima_mobilenet_aesthetic.hdf5", 13_174_216,
    "e563ad91b3d47410e45f7238f07ab8f6abd1bd0c4b18a4b0af9c681a21a91cb2",
    "NIMA MobileNet v1 fine-tuned on AVA (idealo), Keras 2.1.6 HDF5", builtin="nima")


def build_nima(weights_path=None):
    """NIMA as trained: MobileNet -> GAP -> Dropout(0.75) -> Dense(10, softmax)."""
    import keras

    base = keras.applications.MobileNet(input_shape=(None, None, 3), include_top=False,
                                        pooling="avg", weights=None)
    x = keras.layers.Dropout(0.75)(base.output)
    out = keras.layers.Dense(10, activation="softmax")(x)
    nima = keras.Model(base.input, out, name="nima")
    if weights_path is not None:
        nima.load_weights(str(weights_path))
    return nima, base


@register_branch
class MobileNetBranch(Branch):
    name = "mobilenet"
    width = 5952
    # NIMA's own input: nearest-neighbour squash to 224 x 224 (keras load_img's default, which its training
    # and evaluation used), then MobileNet's preprocess_input (pixels / 127.5 - 1, i.e. [-1, 1]).
    data_config = DataConfig(policy=Resize(height=224, width=224, interpolation="nearest"), divisor=127.5,
                             offset=-1.0)
    description = "MobileNet v1, GAP of the 13 depthwise-separable blocks; NIMA (AVA) weights offline"
    known_weights = (NIMA_WEIGHTS,)

    def _backbone(self, weights: ResolvedWeights):
        import keras

        if weights.kind == "imagenet":
            base = keras.applications.MobileNet(input_shape=(224, 224, 3), include_top=False,
                                                weights="imagenet")
        elif weights.kind == "file" and weights.known is not NIMA_WEIGHTS and self._is_plain_mobilenet(weights.path):
            base = keras.applications.MobileNet(input_shape=(None, None, 3), include_top=False, weights=None)
            base.load_weights(str(weights.path))
        else:
            _, base = build_nima(weights.path if weights.kind == "file" else None)
        layers = [f"conv_pw_{i}_relu" for i in range(1, 14)]
        return _gap_concat(base, layers, "mobilenet"), layers

    @staticmethod
    def _is_plain_mobilenet(path) -> bool:
        """A bare MobileNet file (no NIMA dense head) loads straight into the backbone."""
        import h5py

        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            return not any(name.startswith("dense") for name in group.keys())
