"""Test-time transformations for robustness checks: does the score survive a photo's handling?

Each transformation is a small pure function of an ``(H, W, 3) uint8`` RGB image
returning a new ``uint8`` RGB image; a pydantic spec per kind (``Blur``, ``Noise``,
``Jpeg``, ``Exposure``, ``CenterCrop``, ``Rotate``) names its parameters so a suite
file can list them and a report can say exactly what was done::

    [robustness]
    set = "Curated_vs_Snapshot"
    transforms = [{kind = "blur", sigma = 2.0}, {kind = "jpeg", quality = 20}]

A model that reads "aesthetic" from orientation or framing rather than from the
photograph shows it under ``center_crop`` (every image becomes square) and ``rotate``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


def _check_image(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    return image


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels, kernel radius ``round(4 sigma)``,
    mirrored borders (``BORDER_REFLECT_101``)."""
    _check_image(image)
    if sigma <= 0:
        raise ValueError(f"blur sigma must be > 0 pixels, got {sigma}")
    radius = int(4.0 * sigma + 0.5)
    k = 2 * radius + 1
    return cv2.GaussianBlur(image, (k, k), sigmaX=sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT_101)


def gaussian_noise(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Add i.i.d. Gaussian noise of ``sigma`` grey levels per sample, round and clip to [0, 255].

    The noise field depends only on ``seed`` and the image shape, so a run is
    reproducible whatever order images are processed in.
    """
    _check_image(image)
    if sigma <= 0:
        raise ValueError(f"noise sigma must be > 0 grey levels, got {sigma}")
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=image.shape)
    return np.clip(np.rint(image.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG of the image at libjpeg ``quality`` (1..100, IJG scaling, 4:2:0)."""
    _check_image(image)
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"OpenCV could not JPEG-encode a {image.shape} image")
    return buf.tobytes()


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after one JPEG encode at ``quality`` and decode."""
    decoded = cv2.imdecode(np.frombuffer(jpeg_bytes(image, quality), np.uint8), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(decoded[:, :, ::-1])


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def exposure(image: np.ndarray, ev: float) -> np.ndarray:
    """Change exposure by ``ev`` stops: multiply *linear* light by ``2**ev`` and clip.

    Values are sRGB-decoded, scaled, clipped to 1 and re-encoded, as a camera
    exposure change would be; scaling the 8-bit codes directly would brighten
    shadows far less than one stop. Applied through a 256-entry lookup table.
    """
    _check_image(image)
    codes = np.arange(256, dtype=np.float64) / 255.0
    linear = np.clip(_srgb_to_linear(codes) * (2.0 ** ev), 0.0, 1.0)
    lut = np.clip(np.rint(_linear_to_srgb(linear) * 255.0), 0, 255).astype(np.uint8)
    return lut[image]


def center_crop_square(image: np.ndarray) -> np.ndarray:
    """The centred ``min(H, W)`` square (extra row/column, if odd, is dropped at the bottom/right)."""
    _check_image(image)
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(image[top:top + side, left:left + side])


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate counter-clockwise by ``degrees`` about the image centre, same size, bilinear,
    corners filled by mirroring (``BORDER_REFLECT_101``) rather than black, which a model
    could otherwise react to."""
    _check_image(image)
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(degrees), 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def down_up(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by ``factor`` (area averaging) and enlarge back to the original size (bilinear):
    the look of a thumbnail blown up, or of a heavily resampled upload."""
    _check_image(image)
    if factor < 1:
        raise ValueError(f"down-up factor must be >= 1, got {factor}")
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, int(round(w / factor))), max(1, int(round(h / factor)))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def horizontal_flip(image: np.ndarray) -> np.ndarray:
    """The mirror image (left and right swapped): a label-preserving change."""
    _check_image(image)
    return np.ascontiguousarray(image[:, ::-1])


def center_crop_fraction(image: np.ndarray, fraction: float) -> np.ndarray:
    """The centred window keeping ``fraction`` of each side (0.9 trims 5% off every edge)."""
    _check_image(image)
    if not 0 < fraction <= 1:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    h, w = image.shape[:2]
    ch, cw = max(1, int(round(h * fraction))), max(1, int(round(w * fraction)))
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(image[top:top + ch, left:left + cw])


def rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize by ``factor`` (area when shrinking, bilinear when enlarging); the result keeps its new size."""
    _check_image(image)
    if factor <= 0:
        raise ValueError(f"rescale factor must be > 0, got {factor}")
    h, w = image.shape[:2]
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


def bad_crop(image: np.ndarray, keep: float, corner: int = 0) -> np.ndarray:
    """A badly framed photo: a window of ``keep`` of each side pushed into one corner
    (``corner`` 0..3: top-left, top-right, bottom-left, bottom-right), so the subject is cut
    and the frame is off balance; enlarged back to the original size."""
    _check_image(image)
    if not 0 < keep < 1:
        raise ValueError(f"bad-crop keep fraction must be in (0, 1), got {keep}")
    h, w = image.shape[:2]
    ch, cw = max(1, int(round(h * keep))), max(1, int(round(w * keep)))
    top = 0 if corner in (0, 1) else h - ch
    left = 0 if corner in (0, 2) else w - cw
    window = np.ascontiguousarray(image[top:top + ch, left:left + cw])
    return cv2.resize(window, (w, h), interpolation=cv2.INTER_LINEAR)


def tilt(image: np.ndarray, degrees: float) -> np.ndarray:
    """A crooked horizon: rotate by ``degrees`` and crop to the largest centred window with the
    original aspect ratio that holds no filled-in corner, enlarged back to the original size."""
    _check_image(image)
    h, w = image.shape[:2]
    a = np.deg2rad(abs(float(degrees)) % 180.0)
    a = min(a, np.pi - a)
    cos, sin = np.cos(a), np.sin(a)
    # largest axis-aligned window of aspect w:h inside the rotated w x h rectangle
    scale = min(w / (w * cos + h * sin), h / (w * sin + h * cos))
    rotated = rotate(image, degrees)
    return center_crop_fraction_resized(rotated, float(scale))


def center_crop_fraction_resized(image: np.ndarray, fraction: float) -> np.ndarray:
    """:func:`center_crop_fraction`, enlarged back to the input size."""
    h, w = image.shape[:2]
    return cv2.resize(center_crop_fraction(image, fraction), (w, h), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- synthetic near-empty frames

def flat_frame(height: int, width: int, rgb: tuple[int, int, int]) -> np.ndarray:
    """A uniform frame of one colour."""
    return np.broadcast_to(np.asarray(rgb, np.uint8), (height, width, 3)).copy()


def gradient_frame(height: int, width: int, start: tuple[int, int, int], end: tuple[int, int, int],
                   angle: float = 0.0) -> np.ndarray:
    """A smooth linear gradient from ``start`` to ``end`` along direction ``angle`` (degrees,
    0 = left to right), dithered by rounding only."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    d = np.cos(np.deg2rad(angle)) * xx + np.sin(np.deg2rad(angle)) * yy
    t = (d - d.min()) / max(d.max() - d.min(), 1e-9)
    a, b = np.asarray(start, np.float64), np.asarray(end, np.float64)
    return np.clip(np.rint(a + t[..., None] * (b - a)), 0, 255).astype(np.uint8)


def synthetic_frames(count: int, seed: int = 0, size: tuple[int, int] = (375, 500)) -> list[np.ndarray]:
    """``count`` near-empty frames, the same for the same ``seed``: flat colours, smooth two-colour
    gradients and heavily blurred random blobs (sigma 12% of the short side), in that rotation,
    each in a random landscape, portrait or square shape around ``size`` (height, width)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        h, w = size
        shape = rng.integers(0, 3)
        if shape == 1:
            h, w = w, h
        elif shape == 2:
            h = w = min(h, w)
        kind = k % 3
        c1 = tuple(int(v) for v in rng.integers(0, 256, 3))
        if kind == 0:
            frames.append(flat_frame(h, w, c1))
        elif kind == 1:
            c2 = tuple(int(v) for v in rng.integers(0, 256, 3))
            frames.append(gradient_frame(h, w, c1, c2, float(rng.uniform(0, 360))))
        else:
            blobs = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
            big = cv2.resize(blobs, (w, h), interpolation=cv2.INTER_LINEAR)
            frames.append(gaussian_blur(big, 0.12 * min(h, w)))
    return frames


# --------------------------------------------------------------------------- specs

class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Blur(_Spec):
    kind: Literal["blur"] = "blur"
    sigma: float = Field(2.0, gt=0)

    def apply(self, image: np.ndarray) -> np.ndarray:
        return gaussian_blur(image, self.sigma)

    def describe(self) -> str:
        return f"blur(sigma={self.sigma:g}px)"


class Noise(_Spec):
    kind: Literal["noise"] = "noise"
    sigma: float = Field(10.0, gt=0)
    seed: int = 0

    def apply(self, image: np.ndarray) -> np.ndarray:
        return gaussian_noise(image, self.sigma, self.seed)

    def describe(self) -> str:
        return f"noise(sigma={self.sigma:g})"


class Jpeg(_Spec):
    kind: Literal["jpeg"] = "jpeg"
    quality: int = Field(20, ge=1, le=100)

    def apply(self, image: np.ndarray) -> np.ndarray:
        return jpeg_roundtrip(image, self.quality)

    def describe(self) -> str:
        return f"jpeg(q={self.quality})"


class Exposure(_Spec):
    kind: Literal["exposure"] = "exposure"
    ev: float = Field(1.0, ge=-8, le=8)

    def apply(self, image: np.ndarray) -> np.ndarray:
        return exposure(image, self.ev)

    def describe(self) -> str:
        return f"exposure({self.ev:+g} EV)"


class CenterCrop(_Spec):
    kind: Literal["center_crop"] = "center_crop"

    def apply(self, image: np.ndarray) -> np.ndarray:
        return center_crop_square(image)

    def describe(self) -> str:
        return "center_crop(square)"


class Rotate(_Spec):
    kind: Literal["rotate"] = "rotate"
    degrees: float = 10.0

    def apply(self, image: np.ndarray) -> np.ndarray:
        return rotate(image, self.degrees)

    def describe(self) -> str:
        return f"rotate({self.degrees:g} deg)"


Transform = Annotated[Union[Blur, Noise, Jpeg, Exposure, CenterCrop, Rotate],
                      Field(discriminator="kind")]


def default_transforms() -> list[Transform]:
    """The set a report runs when a suite names none: one or two strengths of each kind."""
    return [Blur(sigma=1.0), Blur(sigma=3.0), Noise(sigma=8.0), Noise(sigma=20.0),
            Jpeg(quality=30), Jpeg(quality=10), Exposure(ev=-1.0), Exposure(ev=1.0),
            CenterCrop(), Rotate(degrees=10.0)]
