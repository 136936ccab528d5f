"""Superpixel segmentation: the one place that turns a photo into the regions an explanation scores.

Every explainer in this package works on a label map ``segments`` of shape ``(H, W)`` int32 whose
labels are exactly ``0 .. n_superpixels - 1`` (contiguous), so a superpixel id is also a column of
the binary on/off mask the explainers sample.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Method = Literal["slic", "quickshift", "grid"]


class SegmentationConfig(BaseModel):
    """How to cut an image into superpixels; saved next to every explanation it produced.

    - ``slic``: k-means in (Lab colour, x, y); ``n_segments`` is the target count, ``compactness``
      trades colour adherence (low) for square shapes (high).
    - ``quickshift``: mode seeking, LIME's own default (``kernel_size=4, max_dist=200, ratio=0.2``);
      the count follows the image content, often a few hundred on a 500-px photo.
    - ``grid``: ``grid_rows x grid_cols`` equal rectangles; content-blind but exact, for tests
      and for comparing explanations across images.
    """

    model_config = ConfigDict(frozen=True)
    method: Method = "slic"
    n_segments: int = Field(50, gt=0, description="slic: target number of superpixels")
    compactness: float = Field(10.0, gt=0, description="slic: colour vs space weight")
    sigma: float = Field(1.0, ge=0, description="slic: Gaussian pre-smoothing (pixels)")
    kernel_size: float = Field(4.0, gt=0, description="quickshift: density kernel width")
    max_dist: float = Field(200.0, gt=0, description="quickshift: cut-off distance")
    ratio: float = Field(0.2, ge=0, le=1, description="quickshift: colour vs space balance")
    grid_rows: int = Field(4, gt=0)
    grid_cols: int = Field(4, gt=0)
    seed: int = 0

    def describe(self) -> str:
        if self.method == "slic":
            return f"slic(n_segments={self.n_segments}, compactness={self.compactness}, sigma={self.sigma})"
        if self.method == "quickshift":
            return f"quickshift(kernel_size={self.kernel_size}, max_dist={self.max_dist}, ratio={self.ratio})"
        return f"grid({self.grid_rows}x{self.grid_cols})"


def _check_image(image: np.ndarray, name: str = "image") -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"{name} is too small to segment: {image.shape[1]}x{image.shape[0]} pixels")


def relabel(segments: np.ndarray) -> np.ndarray:
    """Map any integer label map to contiguous labels ``0..k-1`` (order of first label value)."""
    _, inverse = np.unique(segments, return_inverse=True)
    return inverse.reshape(segments.shape).astype(np.int32)


def grid_segments(height: int, width: int, rows: int, cols: int) -> np.ndarray:
    """``(height, width)`` int32 labels of a ``rows x cols`` grid, numbered row-major from the top left."""
    if rows > height or cols > width:
        raise ValueError(f"a {rows}x{cols} grid does not fit a {width}x{height} image")
    row_of = (np.arange(height) * rows) // height
    col_of = (np.arange(width) * cols) // width
    return (row_of[:, None] * cols + col_of[None, :]).astype(np.int32)


def segment(image: np.ndarray, config: SegmentationConfig | None = None, **overrides: Any) -> np.ndarray:
    """Superpixels of ``image`` ``(H, W, 3) uint8``: ``(H, W)`` int32 labels ``0..k-1``.

    ``overrides`` replace fields of ``config`` (e.g. ``segment(img, method="quickshift")``).
    """
    _check_image(image)
    config = config or SegmentationConfig()
    if overrides:  # rebuilt, not model_copy'd, so the overridden values are validated too
        config = SegmentationConfig(**{**config.model_dump(), **overrides})
    height, width = image.shape[:2]
    if config.method == "grid":
        return grid_segments(height, width, config.grid_rows, config.grid_cols)
    from skimage.segmentation import quickshift, slic  # heavy import, only when segmenting

    if config.method == "slic":
        labels = slic(image, n_segments=config.n_segments, compactness=config.compactness,
                      sigma=config.sigma, start_label=0, channel_axis=-1)
    else:
        labels = quickshift(image, kernel_size=config.kernel_size, max_dist=config.max_dist,
                            ratio=config.ratio, rng=config.seed)
    return relabel(labels)


def check_segments(segments: np.ndarray, image_shape: tuple[int, ...]) -> int:
    """Validate a label map against an image; return the number of superpixels."""
    if not isinstance(segments, np.ndarray) or segments.shape != tuple(image_shape[:2]):
        shape = getattr(segments, "shape", type(segments).__name__)
        raise ValueError(f"segments must be an (H, W) label map matching the image {tuple(image_shape[:2])}, "
                         f"got shape {shape}")
    if not np.issubdtype(segments.dtype, np.integer):
        raise ValueError(f"segments must hold integer labels, got {segments.dtype}")
    n = int(segments.max()) + 1 if segments.size else 0
    if segments.min() < 0 or np.unique(segments).size != n:
        raise ValueError("segments labels must be contiguous 0..k-1 (use explain.superpixels.relabel)")
    if n < 2:
        raise ValueError(f"segments has {n} superpixel; an explanation needs at least 2")
    return n


def resize_segments(segments: np.ndarray, height: int, width: int) -> np.ndarray:
    """The label map at another size (nearest neighbour), to draw an explanation on the full photo."""
    if segments.shape == (height, width):
        return segments
    return cv2.resize(segments.astype(np.int32), (width, height), interpolation=cv2.INTER_NEAREST)


def superpixel_stats(segments: np.ndarray) -> list[dict[str, Any]]:
    """Per superpixel: area (pixels), centroid ``(x, y)`` and bounding box ``[x0, y0, x1, y1)``."""
    n = int(segments.max()) + 1
    ys, xs = np.indices(segments.shape)
    flat = segments.ravel()
    area = np.bincount(flat, minlength=n)
    cx = np.bincount(flat, weights=xs.ravel(), minlength=n) / np.maximum(area, 1)
    cy = np.bincount(flat, weights=ys.ravel(), minlength=n) / np.maximum(area, 1)
    x0 = np.full(n, segments.shape[1]); y0 = np.full(n, segments.shape[0])
    x1 = np.zeros(n, int); y1 = np.zeros(n, int)
    np.minimum.at(x0, flat, xs.ravel()); np.minimum.at(y0, flat, ys.ravel())
    np.maximum.at(x1, flat, xs.ravel() + 1); np.maximum.at(y1, flat, ys.ravel() + 1)
    return [{"id": i, "area_px": int(area[i]), "centroid_xy": [round(float(cx[i]), 1), round(float(cy[i]), 1)],
             "bbox_xyxy": [int(x0[i]), int(y0[i]), int(x1[i]), int(y1[i])]} for i in range(n)]
