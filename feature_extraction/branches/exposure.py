"""A weightless branch of tonal statistics: where the photo's light sits, which a CNN's pooled features blur.

Global average pooling reports the *mean* response of each channel, so a photo darkened by 2 EV and a
photo of a dark scene look alike to the FC on top (measured on the shared suite: P(aesthetic) of -2 EV
copies overlapped the clean photos'). The distribution of luminance tells them apart: a real dark photo
keeps its highlights, a darkened one loses them (the 99th luminance percentile alone separates the 48
held-out aesthetic photos from their -2 EV copies with ROC-AUC 0.974; the mean only 0.82).

16 features per photo, all in [0, 1] and computed in float32 whatever the precision:
luminance (Rec. 709, of the sRGB values / 255) percentiles 1, 5, 10, 25, 50, 75, 90, 95, 99; its mean and
standard deviation; the share of near-black (< 0.02) and near-white (> 0.98) pixels; the 99-1 percentile
spread; mean saturation ((max - min) / max of the channels); and Hasler and Suesstrunk's colourfulness / 255.
The photo is first squashed to 224 x 224 by nearest neighbour, which keeps the pixel values themselves
(clipped highlights stay clipped) and samples the whole frame.
"""

from __future__ import annotations

from functools import lru_cache

from aesthetic.imageio import Resize
from ..weights import ResolvedWeights
from .base import Branch, DataConfig
from .registry import register_branch

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
FEATURE_NAMES = tuple(f"luma_p{p:02d}" for p in PERCENTILES) + (
    "luma_mean", "luma_std", "share_black", "share_white", "luma_spread_99_1", "saturation_mean", "colourfulness")
#: Luminance under which a pixel counts as black, and over which as white (of 1).
BLACK, WHITE = 0.02, 0.98


@lru_cache(maxsize=1)
def _stats_layer():
    """The layer class, defined (and registered with Keras) once, on first use: importing the branch
    registry must not import Keras."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="aesthetic")
    class ToneStatistics(keras.layers.Layer):
        """``(n, h, w, 3)`` pixels 0..255 -> ``(n, 16)`` tonal statistics (see the module docstring)."""

        def call(self, pixels):
            x = ops.cast(pixels, "float32") / 255.0
            r, g, b = x[..., 0], x[..., 1], x[..., 2]
            n = ops.shape(x)[0]
            luma = ops.reshape(0.2126 * r + 0.7152 * g + 0.0722 * b, (n, -1))
            q = ops.quantile(luma, [p / 100.0 for p in PERCENTILES], axis=1)  # (9, n)
            q = ops.transpose(q)
            hi, lo = ops.max(x, axis=-1), ops.min(x, axis=-1)
            saturation = ops.reshape(ops.where(hi > 0, (hi - lo) / ops.maximum(hi, 1e-6), 0.0), (n, -1))
            rg = ops.reshape(r - g, (n, -1))
            yb = ops.reshape(0.5 * (r + g) - b, (n, -1))
            colourfulness = (ops.sqrt(ops.var(rg, axis=1) + ops.var(yb, axis=1))
                             + 0.3 * ops.sqrt(ops.mean(rg, axis=1) ** 2 + ops.mean(yb, axis=1) ** 2))
            extra = ops.stack([
                ops.mean(luma, axis=1), ops.std(luma, axis=1),
                ops.mean(ops.cast(luma < BLACK, "float32"), axis=1),
                ops.mean(ops.cast(luma > WHITE, "float32"), axis=1),
                q[:, -1] - q[:, 0], ops.mean(saturation, axis=1), colourfulness], axis=1)
            return ops.concatenate([q, extra], axis=1)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], len(FEATURE_NAMES))

    return ToneStatistics


@register_branch
class ExposureBranch(Branch):
    name = "exposure"
    width = len(FEATURE_NAMES)
    # the pixels themselves (0..255): the statistics are of the photo, not of a network's input scaling
    data_config = DataConfig(policy=Resize(height=224, width=224, interpolation="nearest"), divisor=1.0, offset=0.0)
    description = "tonal statistics (luminance percentiles, clipping, saturation, colourfulness); no weights"
    #: Takes no weights: any weights setting given for all branches is ignored for this one.
    weightless = True

    def _backbone(self, weights: ResolvedWeights):
        import keras

        inputs = keras.Input((None, None, 3), name="pixels")
        # float32 whatever the global policy: percentiles of bf16 values would be coarse steps
        outputs = _stats_layer()(dtype="float32", name="tone_statistics")(inputs)
        return keras.Model(inputs, outputs, name="exposure"), list(FEATURE_NAMES)
