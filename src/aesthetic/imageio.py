"""Image decoding, the one decode loop with its one bad-file policy, and the input policies.

Reading a file (:func:`read_image`, and the loop :func:`decode_batches` over many):

- only regular files are read: a FIFO named ``x.jpg`` or ``/dev/zero`` listed in a CSV is
  refused from ``fstat`` after a non-blocking open, before a byte is read;
- a file larger than :attr:`ReadPolicy.max_file_bytes` (default 256 MiB) is refused;
- the decoded size is computed from the header before any pixel is decoded, in bytes
  (``width x height x channels x bytes per sample``, plus the RGB copy handed back), and is
  drawn from one :class:`DecodeBudget` shared by every thread of the process (default 1 GiB),
  so N decode threads wait for each other instead of each taking the whole budget; an image
  that alone exceeds the budget is refused (a decompression bomb), as is one over ``max_pixels``;
- a decoder warning is a failure: JPEGs are decoded by libjpeg-turbo through ``simplejpeg`` in
  strict mode, which turns "premature end of data segment" (a file cut short, even with an
  end marker appended) and corrupt entropy-coded data into an error. OpenCV pads such files
  with grey and says nothing; it decodes the other formats (it releases the GIL, so threads
  decode in parallel);
- a bad file is never an exception out of the loop: :func:`read_one` returns
  ``(None, reason)`` and the loop goes on. The reason is what stores and CSVs record.

Every decoded image comes out as ``(height, width, 3) uint8`` RGB whatever the file held:
grayscale is replicated, alpha is composited over white, 16-bit and float samples are
scaled to 8 bits.
"""

from __future__ import annotations

import errno
import io
import logging
import math
import os
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence, Union

import cv2
import numpy as np
import simplejpeg
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

#: Default refusal threshold for decompression bombs (pixels), about 20k x 20k.
DEFAULT_MAX_PIXELS = 400_000_000
#: Default cap on the size of an image file (bytes): larger files are refused unread.
DEFAULT_MAX_FILE_BYTES = 256 * 2**20
#: Default decode budget (bytes of decoded pixels in flight at once, over all threads).
DEFAULT_MAX_DECODE_BYTES = 2**30

SUPPORTED_FORMATS = ("JPEG", "PNG", "WebP", "BMP", "TIFF")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

_EXIF_ORIENTATION_TAG = 0x0112
_ROWS_PER_BLOCK_ELEMENTS = 1 << 22  # conversion to RGB works on blocks of rows of about 4M samples


class ImageReadError(ValueError):
    """An image that cannot be used; names the file and the problem."""

    def __init__(self, path: Union[str, Path], reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ReadPolicy(BaseModel):
    """Limits every image read obeys (see the module docstring)."""

    model_config = ConfigDict(frozen=True)
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, gt=0,
                                description="Largest image file read, in bytes; a larger one is refused unread.")
    max_decode_bytes: int = Field(DEFAULT_MAX_DECODE_BYTES, gt=0,
                                  description="Decoded bytes in flight at once over all decode threads; an image "
                                              "needing more alone is refused (a decompression bomb).")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0,
                            description="Largest image, in pixels; a larger one is refused before decoding.")

    def capped(self, max_pixels: int) -> "ReadPolicy":
        """This policy with ``max_pixels`` no larger than ``max_pixels``."""
        return self if self.max_pixels <= max_pixels else self.model_copy(update={"max_pixels": int(max_pixels)})


_read_policy = ReadPolicy()


def default_read_policy() -> ReadPolicy:
    """The limits a read obeys when its caller passes none: :class:`ReadPolicy`'s defaults, or those a
    command set with :func:`reading_with` (``--max-file-bytes``, ``--max-decode-bytes``, ``--max-pixels``)."""
    return _read_policy


@contextmanager
def reading_with(policy: ReadPolicy) -> Iterator[ReadPolicy]:
    """Every read in this process (all threads) obeys ``policy`` while inside; restored on exit."""
    global _read_policy
    before, _read_policy = _read_policy, policy
    try:
        yield policy
    finally:
        _read_policy = before


class DecodeBudget:
    """Bytes of decoded pixels that may exist at once, shared by all threads that decode.

    :meth:`hold` blocks until the bytes are free, so two threads decoding two large images
    take turns; a request larger than the whole budget is refused at once.
    """

    def __init__(self, limit: int):
        self.limit = int(limit)
        self.in_use = 0
        self.peak = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int, source: Union[str, Path]) -> Iterator[None]:
        if nbytes > self.limit:
            raise ImageReadError(source, f"decoding needs {_mib(nbytes)}, over the decode budget of "
                                         f"{_mib(self.limit)} (possible decompression bomb; raise "
                                         f"max_decode_bytes to allow it)")
        with self._cond:
            while self.in_use + nbytes > self.limit:
                self._cond.wait()
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= nbytes
                self._cond.notify_all()


_BUDGETS: dict[int, DecodeBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def decode_budget(limit: int = DEFAULT_MAX_DECODE_BYTES) -> DecodeBudget:
    """The process-wide budget of ``limit`` bytes (one per limit, shared by every caller)."""
    with _BUDGETS_LOCK:
        return _BUDGETS.setdefault(int(limit), DecodeBudget(limit))


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.0f} MiB" if nbytes >= 2**20 else f"{nbytes} bytes"


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


#: PNG colour type -> channels OpenCV decodes it to (a palette may carry transparency: 4)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}


def _samples(fmt: str, data: bytes, im: Image.Image) -> tuple[int, int]:
    """(channels, bytes per sample) the decoder will produce, read from the header."""
    if fmt == "PNG" and len(data) >= 26:  # IHDR: bit depth at byte 24, colour type at 25
        return _PNG_CHANNELS.get(data[25], 4), 2 if data[24] == 16 else 1
    bands = len(im.getbands())
    if im.mode in ("I", "F"):
        return bands, 4
    if im.mode.startswith("I;16"):
        return bands, 2
    if fmt == "TIFF":
        bits = im.tag_v2.get(258, (8,)) if hasattr(im, "tag_v2") else (8,)
        bits = bits if isinstance(bits, (tuple, list)) else (bits,)
        return max(bands, len(bits)), max(1, int(max(bits)) // 8)
    return bands, 1


def _header(fmt: str, data: bytes) -> tuple[int, int, int, int, int]:
    """(width, height, EXIF orientation, channels, bytes per sample), without decoding pixels."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with our own message
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            channels, depth = _samples(fmt, data, im)
            try:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION_TAG, 1))
            except Exception:  # a broken EXIF block must not lose the image
                orientation = 1
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return width, height, orientation if 1 <= orientation <= 8 else 1, channels, depth


def decoded_bytes(width: int, height: int, channels: int, depth: int) -> int:
    """Memory a decode takes: the decoder's array plus the RGB uint8 copy handed back."""
    native = width * height * channels * depth
    return native if (channels, depth) == (3, 1) else native + width * height * 3


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


def _block_to_rgb8(img: np.ndarray) -> np.ndarray:
    """A block of rows of OpenCV's BGR(A)/gray at any depth, as RGB uint8."""
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        peak = 1.0 if float(np.nanmax(img)) <= 1.0 else 255.0
        img = np.clip(np.nan_to_num(img) * (255.0 / peak), 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise TypeError(f"unsupported sample type {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    if channels in (2, 4):  # composite over white so transparent areas do not turn black
        img = _over_white(img[:, :, :channels - 1], img[:, :, channels - 1:])
        if channels == 2:
            return np.repeat(img, 3, axis=2)
    return img[:, :, 2::-1]


def _over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``round(colour * a / 255 + 255 * (1 - a / 255))`` in exact integer arithmetic (uint8 in and out)."""
    a = alpha.astype(np.uint32)
    return ((colour.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def _to_rgb8(decoded: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A)/gray at any depth to RGB uint8, a block of rows at a time.

    Working in blocks keeps the float temporaries of alpha compositing small: a
    10000 x 10000 RGBA PNG needs its decoded array and the result, not ten times that.
    """
    if decoded.dtype in (np.float32, np.float64):  # one peak for the whole image, as before
        peak = float(np.nanmax(decoded))
        decoded = decoded if peak <= 1.0 else decoded / 255.0
        decoded = np.clip(np.nan_to_num(decoded), 0.0, 1.0).astype(np.float32)
    height, width = decoded.shape[:2]
    per_row = width * (decoded.shape[2] if decoded.ndim == 3 else 1)
    step = max(1, _ROWS_PER_BLOCK_ELEMENTS // max(1, per_row))
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, step):
        out[top:top + step] = _block_to_rgb8(decoded[top:top + step])
    return out


def _decode_jpeg(data: bytes, source: Union[str, Path]) -> np.ndarray:
    """Strict libjpeg-turbo decode to RGB: any decoder warning (data cut short, corrupt
    entropy-coded segment, extraneous bytes) is an error, never a grey-padded image."""
    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
        if colorspace in ("CMYK", "YCCK"):  # check the stream strictly, convert with OpenCV
            simplejpeg.decode_jpeg(data, colorspace="CMYK", min_factor=8, strict=True)
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
            return _to_rgb8(decoded)
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as exc:
        raise ImageReadError(source, f"corrupt JPEG data ({str(exc).rstrip('.')})") from None


def decode_image(data: bytes, source: Union[str, Path] = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS,
                 budget: DecodeBudget | None = None) -> np.ndarray:
    """Decode encoded bytes to an upright ``(H, W, 3) uint8`` RGB array.

    Raises ImageReadError naming ``source`` for empty, unknown, truncated, corrupt,
    oversized or undecodable data. The decoded bytes are drawn from ``budget``
    (default: the process-wide budget of ``DEFAULT_MAX_DECODE_BYTES``).
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
        width, height, orientation, channels, depth = _header(fmt, data)
    except Exception as exc:
        raise ImageReadError(source, f"unreadable {fmt} header ({exc})") from None
    if width * height > max_pixels:
        raise ImageReadError(
            source, f"{width}x{height} = {width * height} pixels exceeds the limit of "
                    f"{max_pixels} (possible decompression bomb; raise max_pixels to allow it)")
    with (budget or decode_budget()).hold(decoded_bytes(width, height, channels, depth), source):
        if fmt == "JPEG":
            rgb = _decode_jpeg(data, source)
        else:
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
            if decoded is None or decoded.size == 0:
                raise ImageReadError(source, f"corrupt {fmt} data (decoder returned nothing)")
            try:
                rgb = _to_rgb8(decoded)
            except TypeError as exc:
                raise ImageReadError(source, str(exc)) from None
            del decoded
    return np.ascontiguousarray(apply_exif_orientation(rgb, orientation))


_FILE_KINDS = ((stat.S_ISDIR, "is a directory, not an image"), (stat.S_ISFIFO, "is a FIFO (named pipe), not an image file"),
               (stat.S_ISCHR, "is a character device, not an image file"),
               (stat.S_ISBLK, "is a block device, not an image file"), (stat.S_ISSOCK, "is a socket, not an image file"))


def read_file_bytes(path: Union[str, Path], max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; anything else raises ImageReadError.

    The file is opened without blocking (a FIFO with no writer opens at once) and checked
    with ``fstat`` on the open descriptor, so what is checked is what is read.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageReadError(p, "dangling symlink" if os.path.islink(p) else "file not found") from None
    except OSError as exc:
        reason = "symlink loop" if exc.errno == errno.ELOOP else f"cannot read ({exc.strerror or exc})"
        raise ImageReadError(p, reason) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ImageReadError(p, next((r for test, r in _FILE_KINDS if test(info.st_mode)),
                                         "not a regular file"))
        if info.st_size > max_bytes:
            raise ImageReadError(p, f"file is {_mib(info.st_size)}, over the limit of {_mib(max_bytes)} "
                                    f"(raise max_file_bytes to allow it)")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise ImageReadError(p, f"cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise ImageReadError(p, f"file grew past the limit of {_mib(max_bytes)} while being read")
    return data


def read_image(path: Union[str, Path], max_pixels: int = DEFAULT_MAX_PIXELS,
               policy: ReadPolicy | None = None) -> np.ndarray:
    """Read a file to an upright ``(H, W, 3) uint8`` RGB array under ``policy`` (see the module)."""
    policy = policy or default_read_policy()
    data = read_file_bytes(path, policy.max_file_bytes)
    return decode_image(data, path, min(max_pixels, policy.max_pixels), decode_budget(policy.max_decode_bytes))


# --------------------------------------------------------------------------- the decode loop

Loaded = tuple[Any, str]  # (decoded or prepared item, '') or (None, reason)


def read_one(path: Union[str, Path], prepare: Callable[..., Any] | None = None,
             policy: ReadPolicy | None = None, with_bytes: bool = False) -> Loaded:
    """The one bad-file policy: ``(prepare(image), '')``, or ``(None, reason)`` for a file that
    cannot be used. Never raises for a bad file; a crash inside a decoder is a reason too.

    ``with_bytes``: ``prepare(image, data)`` also gets the file's bytes (hashes, EXIF); for a
    file that was read but does not decode it is called as ``prepare(None, data)`` and its
    result comes back with the reason (an audit still hashes a broken file).
    """
    policy = policy or default_read_policy()
    data = None
    try:
        data = read_file_bytes(path, policy.max_file_bytes)
        image = decode_image(data, path, policy.max_pixels, decode_budget(policy.max_decode_bytes))
        if prepare is None:
            return image, ""
        return (prepare(image, data) if with_bytes else prepare(image)), ""
    except ImageReadError as exc:
        log.warning("skipping %s: %s", exc.path, exc.reason)
        return (prepare(None, data) if with_bytes and data is not None else None), exc.reason
    except Exception as exc:  # a decoder crash on one file must not stop a run
        log.warning("skipping %s: %s", path, type(exc).__name__)
        return None, f"cannot decode ({type(exc).__name__}: {exc})"


def decode_groups(paths: Sequence[Union[str, Path]], groups: Sequence[Sequence[int]],
                  load: Callable[[str], Loaded] = read_one, workers: int = 4
                  ) -> Iterator[tuple[Sequence[int], list[Loaded]]]:
    """The one decode loop: for each group of row indices, ``(group, [load(path) per row])``.

    Files decode in ``workers`` threads, in order; the next group is decoded while the caller
    works on the current one. ``load`` is :func:`read_one` or a partial of it.
    """
    if not groups:
        return
    with ThreadPoolExecutor(max(1, workers)) as pool:
        submit = lambda rows: [pool.submit(load, str(paths[i])) for i in rows]  # noqa: E731
        pending: list[Future] = submit(groups[0])
        for pos, rows in enumerate(groups):
            loaded = [f.result() for f in pending]
            pending = submit(groups[pos + 1]) if pos + 1 < len(groups) else []
            yield rows, loaded


def decode_batches(paths: Sequence[Union[str, Path]], batch_size: int, load: Callable[[str], Loaded] = read_one,
                   workers: int = 4) -> Iterator[tuple[Sequence[int], list[Loaded]]]:
    """:func:`decode_groups` over consecutive batches of ``batch_size`` paths."""
    groups = [range(s, min(s + batch_size, len(paths))) for s in range(0, len(paths), max(1, batch_size))]
    return decode_groups(paths, groups, load, workers)


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
    """Squash to a fixed ``height x width`` (how NIMA was trained, at 224 x 224).

    ``interpolation``: ``"area"`` (pixel-area averaging when shrinking, bilinear when enlarging) or
    ``"nearest"``: PIL's nearest neighbour (``cv2.INTER_NEAREST_EXACT`` is bit-exact with it), which is
    ``keras.utils.load_img``'s default and so what idealo's NIMA was trained and evaluated on; the
    NIMA file scores AVA photos up to a rating point lower, and in another order, with area averaging.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["resize"] = "resize"
    height: int = Field(224, gt=0)
    width: int = Field(224, gt=0)
    interpolation: Literal["area", "nearest"] = Field(
        "area", description="area: pixel-area average when shrinking, bilinear when enlarging; nearest: PIL's "
                            "nearest neighbour, as keras load_img (NIMA's input)")

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        return self.height, self.width

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.interpolation == "nearest":
            if image.shape[:2] == (self.height, self.width):
                return image
            return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_NEAREST_EXACT)
        return _resize(image, self.height, self.width)

    def describe(self) -> str:
        how = "" if self.interpolation == "area" else f", {self.interpolation}"
        return f"resize({self.height}x{self.width}{how})"


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
