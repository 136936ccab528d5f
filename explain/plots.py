"""Pictures of an explanation: the photo with helping/hurting superpixels, and SHAP's bar chart.

Convention for every method: **green** = the superpixel raised P(aesthetic), **red** = it lowered
it; colour strength is ``|weight| / max |weight|``. The overlay is drawn with numpy blending and
OpenCV text, so its PNG has exactly the pixel size of the image it is drawn on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from aesthetic.explain.explanation import Explanation, verdict
from aesthetic.explain.superpixels import _check_image, resize_segments, superpixel_stats
from aesthetic.fileio import atomic_path

RAISED_RGB = np.array([0, 200, 60], dtype=np.float32)
LOWERED_RGB = np.array([230, 30, 30], dtype=np.float32)
MAX_ALPHA = 0.6  # opacity of the strongest superpixel's tint
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an ``(H, W, 3) uint8`` RGB array as PNG, atomically."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} image as PNG for {path}")
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(encoded.tobytes())
    return path


def _boundaries(segments: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels whose right or lower neighbour is in another superpixel."""
    edge = np.zeros(segments.shape, dtype=bool)
    edge[:, :-1] |= segments[:, :-1] != segments[:, 1:]
    edge[:-1, :] |= segments[:-1, :] != segments[1:, :]
    return edge


Span = tuple[str, tuple[int, int, int]]  # text and its RGB colour


def _fit_line(spans: list[Span], width: int, height: int, max_scale: float) -> tuple[float, int]:
    """(font scale, thickness) at which a line of ``spans`` fits ``width`` (with margins) and ``height``."""
    text = "".join(t for t, _ in spans)
    scale = max_scale
    while True:
        thickness = max(1, int(round(scale * 2)))
        (w, h), _ = cv2.getTextSize(text, _FONT, scale, thickness)
        if (w <= width - 8 and h <= height) or scale <= 0.2:
            return scale, thickness
        scale *= 0.85


def _caption(canvas: np.ndarray, lines: list[list[Span]]) -> None:
    """Draw lines of coloured spans on a darkened band across the top of ``canvas`` (in place, RGB)."""
    height, width = canvas.shape[:2]
    line_height = int(np.clip(width / 22, 10, 40))
    band = min(height // 3, line_height * len(lines) + line_height // 3)
    canvas[:band] = (canvas[:band].astype(np.float32) * 0.35).astype(np.uint8)
    y = 0
    for spans in lines:
        scale, thickness = _fit_line(spans, width, line_height - 2, max_scale=line_height / 30)
        y += line_height
        if y > band:
            break
        x = 4
        for text, colour in spans:
            (w, h), _ = cv2.getTextSize(text, _FONT, scale, thickness)
            cv2.putText(canvas, text, (x, y - (line_height - h) // 2), _FONT, scale, colour, thickness, cv2.LINE_AA)
            x += w


def overlay(image: np.ndarray, explanation: Explanation, annotate_top: int = 8) -> np.ndarray:
    """The photo tinted by superpixel weight, same size as ``image``: ``(H, W, 3) uint8`` RGB.

    ``image`` may be larger than the explained image (the explanation ran on a downscaled copy):
    the label map is resized to it. The ``annotate_top`` strongest superpixels are numbered at their
    centroids so the JSON and the SHAP bar chart can be read against the picture.
    """
    _check_image(image)
    height, width = image.shape[:2]
    segments = resize_segments(explanation.segments, height, width)
    weights = explanation.weights
    peak = float(np.abs(weights).max())
    strength = np.abs(weights) / peak if peak > 0 else np.zeros_like(weights)
    colours = np.where((weights >= 0)[:, None], RAISED_RGB, LOWERED_RGB)  # (k, 3)
    alpha = (MAX_ALPHA * strength)[segments][..., None]  # (H, W, 1)
    tinted = image.astype(np.float32) * (1 - alpha) + colours[segments] * alpha
    edge = _boundaries(segments)
    tinted[edge] = tinted[edge] * 0.5 + 255 * 0.5
    canvas = np.clip(tinted.round(), 0, 255).astype(np.uint8)

    stats = superpixel_stats(segments)
    marker = float(np.clip(width / 900, 0.3, 1.0))
    for sid in explanation.top(annotate_top):
        if strength[sid] == 0:
            continue
        cx, cy = (int(v) for v in stats[sid]["centroid_xy"])
        thick = max(1, int(round(marker * 2)))
        cv2.putText(canvas, str(sid), (cx, cy), _FONT, marker, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(canvas, str(sid), (cx, cy), _FONT, marker, (255, 255, 255), thick, cv2.LINE_AA)

    label, confidence = verdict(explanation.prediction, explanation.threshold)
    white, green, red = (255, 255, 255), tuple(int(c) for c in RAISED_RGB), tuple(int(c) for c in LOWERED_RGB)
    _caption(canvas, [
        [(f"{explanation.method.upper()}: {label} ({100 * confidence:.0f}% confident, "
          f"P={explanation.prediction:.3f})", white)],
        [("green", green), (" raised P(aesthetic), ", white), ("red", red), (" lowered it", white)],
    ])
    return canvas


def save_overlay(path: str | Path, image: np.ndarray, explanation: Explanation, annotate_top: int = 8) -> Path:
    """Write :func:`overlay` as a PNG the size of ``image``."""
    return write_png(path, overlay(image, explanation, annotate_top))


def save_bar_chart(path: str | Path, explanation: Explanation, top: int = 15,
                   width_in: float = 7.0, dpi: int = 100) -> Path:
    """Horizontal bars of the ``top`` superpixels by ``|weight|``, green raised / red lowered.

    The PNG is ``width_in * dpi`` pixels wide and ``(1.6 + 0.32 * bars) * dpi`` tall.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global figure state, safe in threads

    ids = explanation.top(top)
    values = explanation.weights[ids]
    stats = superpixel_stats(explanation.segments)
    labels = [f"#{i} at ({stats[i]['centroid_xy'][0]:.0f}, {stats[i]['centroid_xy'][1]:.0f})" for i in ids]
    height_in = 1.6 + 0.32 * len(ids)
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    fig.subplots_adjust(left=0.3, right=0.95, top=1 - 0.75 / height_in, bottom=0.55 / height_in)
    ax = fig.add_subplot()
    colours = [RAISED_RGB / 255 if v >= 0 else LOWERED_RGB / 255 for v in values]
    positions = np.arange(len(ids))[::-1]
    ax.barh(positions, values, color=colours)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to P(aesthetic)  (green raised, red lowered)", fontsize=9)
    label, confidence = verdict(explanation.prediction, explanation.threshold)
    if explanation.method == "shap":
        total = (f"base {explanation.base_value:.3f} + sum {explanation.weights.sum():+.3f} = "
                 f"P {explanation.prediction:.3f}")
    else:
        total = f"P {explanation.prediction:.3f}"
    fig.suptitle(f"{explanation.method.upper()}: top {len(ids)} of {explanation.n_superpixels} superpixels\n"
                 f"{total}: {label}, {100 * confidence:.0f}% confident", fontsize=10)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path
