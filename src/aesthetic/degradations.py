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
