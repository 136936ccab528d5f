"""Test-time transformations against independent computations (scipy, PIL, skimage, explicit numpy)."""

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage import color, data

from aesthetic.degradations import (Blur, CenterCrop, Exposure, Jpeg, Noise, Rotate, center_crop_square,
                                  default_transforms, exposure, gaussian_blur, gaussian_noise, jpeg_bytes,
                                  jpeg_roundtrip, rotate)


@pytest.fixture(scope="module")
def photo():
    return np.ascontiguousarray(data.chelsea()[::2, ::2])  # (150, 226, 3) uint8, not square


def test_blur_matches_scipy_gaussian_filter(photo):
    for sigma in (1.0, 2.5):
        ours = gaussian_blur(photo, sigma).astype(np.float64)
        ref = ndimage.gaussian_filter(photo.astype(np.float64), sigma=(sigma, sigma, 0), mode="mirror",
                                      truncate=4.0)
        assert np.abs(ours - ref).max() <= 1.0  # 8-bit rounding only
    assert gaussian_blur(photo, 2.0).std() < photo.std()


def test_noise_has_the_asked_sigma_zero_mean_and_is_seeded():
    grey = np.full((200, 200, 3), 128, np.uint8)  # mid-grey: no clipping
    noisy = gaussian_noise(grey, 10.0, seed=1)
    diff = noisy.astype(np.float64) - 128
    assert diff.std() == pytest.approx(10.0, rel=0.02)
    assert abs(diff.mean()) < 0.1
    np.testing.assert_array_equal(noisy, gaussian_noise(grey, 10.0, seed=1))
    assert not np.array_equal(noisy, gaussian_noise(grey, 10.0, seed=2))
    white = gaussian_noise(np.full((10, 10, 3), 255, np.uint8), 30.0)
    assert white.max() == 255 and white.dtype == np.uint8  # clipped, not wrapped


def _ijg_table(base, quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((np.asarray(base) * scale + 50) // 100, 1, 255)


# JPEG Annex K luminance table, in natural (row-major) order
ANNEX_K_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
                69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
                81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]


@pytest.mark.parametrize("quality", [10, 30, 75])
def test_jpeg_uses_the_ijg_quantisation_of_that_quality(photo, quality):
    with Image.open(io.BytesIO(jpeg_bytes(photo, quality))) as im:
        luma = np.array(im.quantization[0])
    np.testing.assert_array_equal(luma, _ijg_table(ANNEX_K_LUMA, quality))  # Pillow: natural order


def test_jpeg_roundtrip_decodes_like_pillow_and_degrades_with_quality(photo):
    encoded = jpeg_bytes(photo, 30)
    pil = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")).astype(int)
    ours = jpeg_roundtrip(photo, 30).astype(int)
    assert ours.shape == photo.shape
    assert np.abs(ours - pil).mean() < 1.0  # same bytes, two decoders
    errors = [np.abs(jpeg_roundtrip(photo, q).astype(int) - photo).mean() for q in (90, 30, 5)]
    assert errors[0] < errors[1] < errors[2]


def test_exposure_scales_linear_light_by_two_to_the_ev():
    levels = np.arange(0, 256, 5, dtype=np.uint8)
    grey = np.repeat(np.repeat(levels[None, :, None], 3, axis=2), 2, axis=0)
    lum_in = color.rgb2xyz(grey)[..., 1]       # skimage's own sRGB linearisation (grey: Y = linear value)
    for ev in (1.0, -1.0):
        lum_out = color.rgb2xyz(exposure(grey, ev))[..., 1]
        expected = np.minimum(lum_in * 2.0 ** ev, 1.0)
        # one 8-bit step around the value bounds the error
        assert np.abs(lum_out - expected).max() < 0.01
    np.testing.assert_array_equal(exposure(grey, 0.0), grey)
    assert exposure(grey, 1.0)[0, -1, 0] == 255 and exposure(grey, 3.0)[0, 20, 0] == 255  # clipped


def test_center_crop_is_the_middle_square(photo):
    h, w = photo.shape[:2]
    crop = center_crop_square(photo)
    left = (w - h) // 2
    pil = np.asarray(Image.fromarray(photo).crop((left, 0, left + h, h)))
    np.testing.assert_array_equal(crop, pil)
    tall = photo.transpose(1, 0, 2)
    assert center_crop_square(np.ascontiguousarray(tall)).shape == (h, h, 3)


def test_rotate_matches_scipy_and_np_rot90(photo):
    square = np.ascontiguousarray(photo[:, :150])
    np.testing.assert_array_equal(rotate(square, 90.0), np.rot90(square, k=1))
    ours = rotate(photo, 10.0).astype(np.float64)
    ref = ndimage.rotate(photo.astype(np.float64), 10.0, axes=(1, 0), reshape=False, order=1, mode="mirror")
    inner = (slice(20, -20), slice(20, -20))  # away from the borders, where fill conventions differ
    diff = np.abs(ours[inner] - ref[inner])
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 6


def test_specs_apply_their_functions_and_validate(photo):
    for spec in default_transforms():
        out = spec.apply(photo)
        assert out.dtype == np.uint8 and out.ndim == 3 and spec.describe()
    np.testing.assert_array_equal(Blur(sigma=1.5).apply(photo), gaussian_blur(photo, 1.5))
    np.testing.assert_array_equal(Noise(sigma=5, seed=3).apply(photo), gaussian_noise(photo, 5, 3))
    np.testing.assert_array_equal(Jpeg(quality=40).apply(photo), jpeg_roundtrip(photo, 40))
    np.testing.assert_array_equal(Exposure(ev=0.5).apply(photo), exposure(photo, 0.5))
    np.testing.assert_array_equal(CenterCrop().apply(photo), center_crop_square(photo))
    np.testing.assert_array_equal(Rotate(degrees=-5).apply(photo), rotate(photo, -5))
    with pytest.raises(ValueError):
        Jpeg(quality=0)
    with pytest.raises(ValueError):
        Blur(sigma=-1)
    with pytest.raises(ValueError, match="uint8"):
        gaussian_blur(photo.astype(np.float32), 1.0)
