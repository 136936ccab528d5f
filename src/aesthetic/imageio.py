"""Image decoding and the input policies every branch resizes with.

Decoding is OpenCV on the raw bytes (it releases the GIL, so a thread pool
decodes in parallel). Pillow only reads the header: the pixel count, checked
against a limit *before* any pixels are decoded, and the EXIF orientation.

Every decoded image comes out as ``(height, width, 3) uint8`` RGB whatever the
file held: grayscale is replicated, alpha is composited over white, 16-bit and
float samples are scaled to 8 bits.
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Literal, Union

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

#: Default refusal threshold for decompression bombs (pixels), about 20k x 20k.
DEFAULT_MAX_PIXELS = 400_000_000

SUPPORTED_FORMATS = ("JPEG", "PNG", "WebP", "BMP", "TIFF")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

_EXIF_ORIENTATION_TAG = 0x0112


class ImageReadError(ValueError):
    """An image that cannot be used; names the file and the problem."""

    def __init__(self, path: Union[str, Path], reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def sniff_format(head: bytes) -> str | None:
    """Container format from the first bytes, or None when it is not one we read."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


#: Signatures of common files that are not images we read: named in errors instead of echoing
#: bytes, which could be anything the path points at (a key, an environment block).
_OTHER_SIGNATURES = (
    (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip archive"), (b"\x7fELF", "an ELF executable"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"), (b"\x00\x00\x01\x00", "an ICO icon"), (b"8BPS", "a Photoshop file"),
    (b"\xff\x0a", "a JPEG XL image"), (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
)


def describe_unsupported(head: bytes) -> str:
    """What the data looks like ("looks like a GIF image", "unknown format"), never its content."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        kind = ("a HEIC/HEIF image" if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc")
                else "an AVIF image" if brand in (b"avif", b"avis") else "an MP4/QuickTime video")
        return f"looks like {kind}"
    for signature, kind in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return f"looks like {kind}"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown format"
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "looks like a text file"
    return "unknown format"


def _looks_truncated(fmt: str, data: bytes) -> bool:
    """Cheap end-of-stream checks: OpenCV silently pads a cut-off JPEG or PNG with grey."""
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-4096:]
    if fmt == "PNG":
        return b"IEND" not in data[-64:]
    return False


def _header(data: bytes) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) from the header, without decoding pixels."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with our own message
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            try:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION_TAG, 1))
            except Exception:  # a broken EXIF block must not lose the image
                orientation = 1
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return width, height, orientation if 1 <= orientation <= 8 else 1


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip so the image displays upright (EXIF tag 0x0112 values 1..8)."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(image, k=-1)
    if orientation == 7:
        return image.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(image, k=1)
    return image


def _to_rgb8(decoded: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A)/gray at any depth to RGB uint8."""
    img = decoded
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        peak = 1.0 if float(np.nanmax(img)) <= 1.0 else 255.0
        img = np.clip(np.nan_to_num(img) * (255.0 / peak), 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise TypeError(f"unsupported sample type {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    channels = img.shape[2]
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    if channels == 2:  # gray + alpha
        gray, alpha = img[:, :, :1].astype(np.float32), img[:, :, 1:2].astype(np.float32) / 255.0
        out = gray * alpha + 255.0 * (1.0 - alpha)
        return np.repeat(out.round().astype(np.uint8), 3, axis=2)
    if channels == 4:  # composite over white so transparent areas do not turn black
        bgr, alpha = img[:, :, :3].astype(np.float32), img[:, :, 3:4].astype(np.float32) / 255.0
        img = (bgr * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(img[:, :, 2::-1])


def decode_image(data: bytes, source: Union[str, Path] = "<bytes>",
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded bytes to an upright ``(H, W, 3) uint8`` RGB array.

    Raises ImageReadError naming ``source`` for empty, unknown, truncated,
    oversized or undecodable data.
    """
    if len(data) == 0:
        raise ImageReadError(source, "empty file (0 bytes)")
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise ImageReadError(
            source, f"not a supported image ({', '.join(SUPPORTED_FORMATS)}); {describe_unsupported(data[:64])}")
    if _looks_truncated(fmt, data):
        raise ImageReadError(source, f"truncated {fmt} (end-of-image marker missing)")
    try:
        width, height, orientation = _header(data)
    except Exception as exc:
        raise ImageReadError(source, f"unreadable {fmt} header ({exc})") from None
    if width * height > max_pixels:
        raise ImageReadError(
            source, f"{width}x{height} = {width * height} pixels exceeds the limit of "
                    f"{max_pixels} (possible decompression bomb; raise max_pixels to allow it)")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8),
                           cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None or decoded.size == 0:
        raise ImageReadError(source, f"corrupt {fmt} data (decoder returned nothing)")
    try:
        rgb = _to_rgb8(decoded)
    except TypeError as exc:
        raise ImageReadError(source, str(exc)) from None
    return np.ascontiguousarray(apply_exif_orientation(rgb, orientation))


def read_image(path: Union[str, Path], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a file to an upright ``(H, W, 3) uint8`` RGB array (see decode_image)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(p, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(p, "is a directory, not an image") from None
    except OSError as exc:
        raise ImageReadError(p, f"cannot read ({exc.strerror or exc})") from None
    return decode_image(data, p, max_pixels)


# --------------------------------------------------------------------------- policies

def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


class MaxSide(BaseModel):
    """Scale so the longer side equals ``side``, keeping the aspect ratio.

    With ``upscale=True`` (the default, as the original MLSP features were computed
    at a fixed scale) smaller images are enlarged too; with ``upscale=False`` they
    keep their size, which is faster but makes features depend on the source size.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["max_side"] = "max_side"
    side: int = Field(996, gt=0)
    upscale: bool = True

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        longest = max(height, width)
        if longest <= self.side and not self.upscale:
            return height, width
        scale = self.side / longest
        return max(1, int(round(height * scale))), max(1, int(round(width * scale)))

    def apply(self, image: np.ndarray) -> np.ndarray:
        return _resize(image, *self.output_shape(*image.shape[:2]))

    def describe(self) -> str:
        return f"max_side({self.side}, upscale={self.upscale})"


class Letterbox(BaseModel):
    """Scale the longer side to ``size`` and pad the rest to a centred ``size x size`` square."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["letterbox"] = "letterbox"
    size: int = Field(600, gt=0)
    fill: int = Field(0, ge=0, le=255)

    def placement(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, scaled height, scaled width) of the image inside the square."""
        scale = self.size / max(height, width)
        h = min(self.size, max(1, int(round(height * scale))))
        w = min(self.size, max(1, int(round(width * scale))))
        return (self.size - h) // 2, (self.size - w) // 2, h, w

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        return self.size, self.size

    def apply(self, image: np.ndarray) -> np.ndarray:
        top, left, h, w = self.placement(*image.shape[:2])
        canvas = np.full((self.size, self.size, image.shape[2]), self.fill, dtype=image.dtype)
        canvas[top:top + h, left:left + w] = _resize(image, h, w)
        return canvas

    def describe(self) -> str:
        return f"letterbox({self.size}, fill={self.fill})"


class Resize(BaseModel):
    """Squash to a fixed ``height x width`` (how NIMA was trained, at 224 x 224)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["resize"] = "resize"
    height: int = Field(224, gt=0)
    width: int = Field(224, gt=0)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        return self.height, self.width

    def apply(self, image: np.ndarray) -> np.ndarray:
        return _resize(image, self.height, self.width)

    def describe(self) -> str:
        return f"resize({self.height}x{self.width})"


InputPolicy = Union[MaxSide, Letterbox, Resize]


def scale_policy(policy: InputPolicy, factor: float) -> InputPolicy:
    """The same policy at ``factor`` times its size (benchmarks and tests use small inputs)."""
    if factor == 1:
        return policy
    if isinstance(policy, MaxSide):
        return policy.model_copy(update={"side": max(8, int(math.ceil(policy.side * factor)))})
    if isinstance(policy, Letterbox):
        return policy.model_copy(update={"size": max(8, int(math.ceil(policy.size * factor)))})
    return policy.model_copy(update={"height": max(8, int(math.ceil(policy.height * factor))),
                                     "width": max(8, int(math.ceil(policy.width * factor)))})


def pad_to_min_side(image: np.ndarray, min_side: int, fill: int = 0) -> np.ndarray:
    """Centre-pad so both sides are at least ``min_side``.

    Deep backbones need a minimum input (InceptionResNetV2: 75 px) or their last
    feature maps are empty; a very wide panorama at max side 996 can fall below it.
    """
    h, w = image.shape[:2]
    if h >= min_side and w >= min_side:
        return image
    H, W = max(h, min_side), max(w, min_side)
    canvas = np.full((H, W) + image.shape[2:], fill, dtype=image.dtype)
    top, left = (H - h) // 2, (W - w) // 2
    canvas[top:top + h, left:left + w] = image
    return canvas
