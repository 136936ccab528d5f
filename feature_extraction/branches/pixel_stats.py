"""A weightless branch of pixel statistics: where the light sits and how sharp the sharpest detail is,
two things a CNN's globally pooled features blur.

Global average pooling reports *mean* responses, so two failure modes of the quality head follow:

- a photo darkened by 2 EV and a photo of a dark scene look alike (P of -2 EV copies overlapped the clean
  photos' on the shared suite). The luminance distribution tells them apart: a real dark photo keeps its
  highlights, a darkened one loses them: -2 EV maps white to about 0.54, so nothing brighter survives
  (ROC-AUC on the 48 held-out aesthetic photos against their -2 EV copies: the brightest pixel at 512 px
  0.992, the 99th percentile 0.974, the mean only 0.82);
- a photo with a shallow depth of field (a sharp subject on a smooth background) and a blurred copy look
  alike at a 224-pixel input, and the quality head called such clean photos degraded. The upper
  percentiles of the local gradient at 512 pixels tell them apart: the subject stays sharp (the 99.9th
  percentile of the Sobel magnitude separated the 48 aesthetic training photos from their blur and 8x
  down-up copies with ROC-AUC 0.998 and 1.0).

28 features per photo, computed in float32 whatever the precision, from the photo scaled to a longest side
of 512 (pixel-area averaging, aspect kept):

- tone (luminance, Rec. 709 of the sRGB values / 255): percentiles 1, 5, 10, 25, 50, 75, 90, 95, 99; mean;
  standard deviation; share of near-black (< 0.02) and near-white (> 0.98) pixels; the 99-1 percentile
  spread; mean saturation ((max - min) / max of the channels); Hasler and Suesstrunk's colourfulness / 255;
  the highlights: the 99.9th percentile and the maximum of the luminance;
- sharpness (of the luminance): Sobel gradient magnitude percentiles 50, 90, 99, 99.9; absolute Laplacian
  percentiles 90, 99, 99.9; the 99.9th gradient percentile over the 99-1 luminance spread (sharpness
  whatever the contrast); mean gradient magnitude; and the share of pixels whose gradient exceeds 0.1.
"""

from __future__ import annotations

from functools import lru_cache

from aesthetic.imageio import MaxSide
from ..weights import ResolvedWeights
from .base import Branch, DataConfig
from .registry import register_branch

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
GRADIENT_PERCENTILES = (50, 90, 99, 99.9)
LAPLACIAN_PERCENTILES = (90, 99, 99.9)
TONE_NAMES = tuple(f"luma_p{p:02d}" for p in PERCENTILES) + (
    "luma_mean", "luma_std", "share_black", "share_white", "luma_spread_99_1", "saturation_mean", "colourfulness",
    "luma_p99.9", "luma_max")
SHARPNESS_NAMES = tuple(f"gradient_p{p:g}" for p in GRADIENT_PERCENTILES) + tuple(
    f"laplacian_p{p:g}" for p in LAPLACIAN_PERCENTILES) + (
    "gradient_p99.9_over_spread", "gradient_mean", "share_edges")
FEATURE_NAMES = TONE_NAMES + SHARPNESS_NAMES
#: Luminance under which a pixel counts as black, and over which as white (of 1).
BLACK, WHITE = 0.02, 0.98
#: Sobel magnitude (of luminance in [0, 1]) over which a pixel counts as an edge.
EDGE = 0.1
SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


@lru_cache(maxsize=1)
def _stats_layer():
    """The layer class, defined (and registered with Keras) once, on first use: importing the branch
    registry must not import Keras."""
    import keras
    import numpy as np
    from keras import ops

    sobel_x = np.array(SOBEL_X, np.float32)
    kernels = np.stack([sobel_x, sobel_x.T, np.array(LAPLACIAN, np.float32)], axis=-1)[:, :, None, :]  # (3, 3, 1, 3)

    @keras.saving.register_keras_serializable(package="aesthetic")
    class PixelStatistics(keras.layers.Layer):
        """``(n, h, w, 3)`` pixels 0..255 -> ``(n, 28)`` pixel statistics (see the module docstring)."""

        def call(self, pixels):
            x = ops.cast(pixels, "float32") / 255.0
            r, g, b = x[..., 0], x[..., 1], x[..., 2]
            n = ops.shape(x)[0]
            luma_map = 0.2126 * r + 0.7152 * g + 0.0722 * b
            luma = ops.reshape(luma_map, (n, -1))
            q = ops.transpose(ops.quantile(luma, [p / 100.0 for p in PERCENTILES], axis=1))  # (n, 9)
            hi, lo = ops.max(x, axis=-1), ops.min(x, axis=-1)
            saturation = ops.reshape(ops.where(hi > 0, (hi - lo) / ops.maximum(hi, 1e-6), 0.0), (n, -1))
            rg = ops.reshape(r - g, (n, -1))
            yb = ops.reshape(0.5 * (r + g) - b, (n, -1))
            colourfulness = (ops.sqrt(ops.var(rg, axis=1) + ops.var(yb, axis=1))
                             + 0.3 * ops.sqrt(ops.mean(rg, axis=1) ** 2 + ops.mean(yb, axis=1) ** 2))
            spread = q[:, -1] - q[:, 0]
            tone = ops.stack([
                ops.mean(luma, axis=1), ops.std(luma, axis=1),
                ops.mean(ops.cast(luma < BLACK, "float32"), axis=1),
                ops.mean(ops.cast(luma > WHITE, "float32"), axis=1),
                spread, ops.mean(saturation, axis=1), colourfulness,
                ops.quantile(luma, 0.999, axis=1), ops.max(luma, axis=1)], axis=1)
            # sharpness: 3x3 Sobel and Laplacian of the luminance, inside the frame only ("valid")
            filtered = ops.conv(luma_map[..., None], ops.convert_to_tensor(kernels), padding="valid")
            gradient = ops.reshape(ops.sqrt(filtered[..., 0] ** 2 + filtered[..., 1] ** 2), (n, -1))
            laplacian = ops.reshape(ops.abs(filtered[..., 2]), (n, -1))
            gq = ops.transpose(ops.quantile(gradient, [p / 100.0 for p in GRADIENT_PERCENTILES], axis=1))
            lq = ops.transpose(ops.quantile(laplacian, [p / 100.0 for p in LAPLACIAN_PERCENTILES], axis=1))
            sharp = ops.stack([gq[:, -1] / ops.maximum(spread, 0.05), ops.mean(gradient, axis=1),
                               ops.mean(ops.cast(gradient > EDGE, "float32"), axis=1)], axis=1)
            return ops.concatenate([q, tone, gq, lq, sharp], axis=1)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], len(FEATURE_NAMES))

    return PixelStatistics


@register_branch
class PixelStatsBranch(Branch):
    name = "pixel_stats"
    width = len(FEATURE_NAMES)
    # the pixels themselves (0..255): statistics of the photo, not of a network's input scaling; 512 px so
    # that a sharp subject on a smooth background still shows sharp edges
    data_config = DataConfig(policy=MaxSide(side=512), divisor=1.0, offset=0.0)
    description = ("tone (luminance percentiles, clipping, saturation, colourfulness) and sharpness "
                   "(gradient and Laplacian percentiles) at 512 px; no weights")
    weightless = True
    version = 2  # 2: + luma_p99.9 and luma_max (28 statistics; version 1 had 26)

    def _backbone(self, weights: ResolvedWeights):
        import keras

        inputs = keras.Input((None, None, 3), name="pixels")
        # float32 whatever the global policy: percentiles of bf16 values would be coarse steps
        outputs = _stats_layer()(dtype="float32", name="pixel_statistics")(inputs)
        return keras.Model(inputs, outputs, name="pixel_stats"), list(FEATURE_NAMES)
