"""Decoding to upright 8-bit RGB, refusals with reasons, and the resize/letterbox geometry."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from aesthetic.imageio import (ImageReadError, Letterbox, MaxSide, Resize, decode_image, pad_to_min_side,
                               read_image, scale_policy)


def _encode(rgb: np.ndarray, ext: str, params: dict | None = None) -> bytes:
    bgr = rgb[:, :, ::-1] if rgb.ndim == 3 and rgb.shape[2] == 3 else rgb
    ok, buf = cv2.imencode(ext, bgr, [v for kv in (params or {}).items() for v in kv])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_formats_decode_to_the_same_rgb(astronaut, ext):
    extra = {cv2.IMWRITE_WEBP_QUALITY: 101} if ext == ".webp" else {}
    out = decode_image(_encode(astronaut, ext, extra), f"x{ext}")
    assert out.dtype == np.uint8 and out.shape == astronaut.shape
    np.testing.assert_array_equal(out, astronaut)


def test_jpeg_decodes_close_to_source(astronaut):
    out = decode_image(_encode(astronaut, ".jpg", {cv2.IMWRITE_JPEG_QUALITY: 95}))
    assert out.shape == astronaut.shape
    assert np.abs(out.astype(int) - astronaut).mean() < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(astronaut, orientation):
    src = Image.fromarray(astronaut[:, :384])  # non-square so rotations change the shape
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    src.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))).convert("RGB"))
    out = decode_image(buf.getvalue())
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 2


def test_grayscale_becomes_three_equal_channels(astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    out = decode_image(_encode(gray, ".png"))
    assert out.shape == gray.shape + (3,)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_sixteen_bit_png_scales_to_eight_bits():
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    out = decode_image(_encode(values, ".png"))
    np.testing.assert_array_equal(out[0, :, 0], np.round(values[0] / 257).astype(np.uint8))


def test_alpha_is_composited_over_white():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200  # red in RGB order
    rgba[0, 0, 3], rgba[0, 1, 3], rgba[1, :, 3] = 255, 0, 128
    bgra = rgba[:, :, [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", bgra)
    out = decode_image(buf.tobytes()).astype(int)
    alpha = rgba[..., 3:4] / 255.0
    expected = np.round(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(int)
    np.testing.assert_allclose(out, expected, atol=1)


def test_refusals_name_the_file_and_the_reason(tmp_path, astronaut):
    cases = {
        "empty.jpg": b"",
        "text.jpg": b"hello, not an image",
        "trunc.jpg": _encode(astronaut, ".jpg")[:5000],
        "trunc.png": _encode(astronaut, ".png")[:5000],
    }
    reasons = {"empty.jpg": "empty", "text.jpg": "not a supported image", "trunc.jpg": "truncated",
               "trunc.png": "truncated"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageReadError) as err:
            read_image(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
        assert reasons[name] in err.value.reason
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "missing.png")


def test_decompression_bomb_refused_before_decoding(tmp_path):
    big = np.zeros((300, 400, 3), np.uint8)
    (tmp_path / "big.png").write_bytes(_encode(big, ".png"))
    with pytest.raises(ImageReadError, match="exceeds the limit"):
        read_image(tmp_path / "big.png", max_pixels=100_000)
    assert read_image(tmp_path / "big.png", max_pixels=120_000).shape == (300, 400, 3)


@pytest.mark.parametrize("h,w", [(747, 996), (1000, 500), (333, 1201), (996, 996), (10, 3000)])
def test_max_side_keeps_aspect(h, w):
    policy = MaxSide(side=996)
    scale = 996 / max(h, w)
    assert policy.output_shape(h, w) == (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    img = np.zeros((h, w, 3), np.uint8)
    assert policy.apply(img).shape[:2] == policy.output_shape(h, w)


def test_max_side_upscale_is_a_setting():
    assert MaxSide(side=996, upscale=True).output_shape(300, 400) == (747, 996)
    assert MaxSide(side=996, upscale=False).output_shape(300, 400) == (300, 400)
    assert MaxSide(side=996, upscale=False).output_shape(1500, 2000) == (747, 996)


@pytest.mark.parametrize("h,w", [(300, 400), (400, 300), (600, 600), (100, 900)])
def test_letterbox_centres_the_scaled_image(h, w):
    policy = Letterbox(size=600, fill=0)
    out = policy.apply(np.full((h, w, 3), 255, np.uint8))
    assert out.shape == (600, 600, 3)
    rows = np.flatnonzero(out[:, :, 0].max(axis=1) > 0)
    cols = np.flatnonzero(out[:, :, 0].max(axis=0) > 0)
    s = 600 / max(h, w)
    eh, ew = round(h * s), round(w * s)
    assert (rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == (eh, ew)
    assert rows[0] == (600 - eh) // 2 and cols[0] == (600 - ew) // 2


def test_resize_and_scaling_policies():
    assert Resize(height=224, width=224).apply(np.zeros((50, 90, 3), np.uint8)).shape == (224, 224, 3)
    assert scale_policy(MaxSide(side=996), 0.1).side == 100
    assert scale_policy(Letterbox(size=600), 0.2).size == 120


def test_pad_to_min_side_centres_small_inputs():
    img = np.full((20, 100, 3), 7, np.uint8)
    out = pad_to_min_side(img, 75)
    assert out.shape == (75, 100, 3)
    np.testing.assert_array_equal(out[27:47], img)
    assert out[:27].max() == 0 and out[47:].max() == 0
    assert pad_to_min_side(img, 10) is img
