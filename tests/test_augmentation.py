"""Augmentation: each random change does what it says, and the same seed gives the same copies."""

from __future__ import annotations

import numpy as np
import pytest

from aesthetic.classifier.augmentation import AugmentConfig, augment_image, augmented_feature_rows, augmented_ids

OFF = dict(flip=False, crop=1.0, exposure=0.0, contrast=0.0, saturation=0.0, colour=0.0)


def gradient(h=40, w=60) -> np.ndarray:
    x = np.linspace(0, 200, w)[None, :, None] * np.ones((h, 1, 3))
    x[..., 1] *= 0.5
    return x.astype(np.uint8)


def test_everything_off_is_the_identity():
    img = gradient()
    np.testing.assert_array_equal(augment_image(img, np.random.default_rng(0), AugmentConfig(**OFF)), img)


def test_flip_mirrors_left_right():
    img = gradient()
    cfg = AugmentConfig(**{**OFF, "flip": True})
    outs = [augment_image(img, np.random.default_rng(s), cfg) for s in range(20)]
    assert any(np.array_equal(o, img[:, ::-1]) for o in outs) and any(np.array_equal(o, img) for o in outs)


def test_crop_keeps_at_least_the_given_fraction_and_out_shape_resizes():
    img = gradient(100, 100)
    cfg = AugmentConfig(**{**OFF, "crop": 0.8})
    for s in range(10):
        out = augment_image(img, np.random.default_rng(s), cfg)
        assert 80 <= out.shape[0] <= 100 and 80 <= out.shape[1] <= 100
        assert augment_image(img, np.random.default_rng(s), cfg, out_shape=(32, 48)).shape == (32, 48, 3)


def test_exposure_scales_brightness_by_powers_of_two():
    img = np.full((8, 8, 3), 100, np.uint8)
    cfg = AugmentConfig(**{**OFF, "exposure": 1.0})
    rng = np.random.default_rng(3)
    ev = np.random.default_rng(3).uniform(-1.0, 1.0)
    out = augment_image(img, rng, cfg)
    assert out[0, 0, 0] == pytest.approx(min(255, 100 * 2 ** ev), abs=1)


def test_saturation_zero_range_keeps_gray_gray():
    gray = np.full((8, 8, 3), 77, np.uint8)
    cfg = AugmentConfig(**{**OFF, "saturation": 0.5, "contrast": 0.3})
    out = augment_image(gray, np.random.default_rng(0), cfg)
    assert np.all(out == out[0, 0, 0])


def test_same_seed_same_copies_and_ids_link_to_the_source():
    class Recorder:
        def extract_arrays(self, images):
            return {"b": np.stack([im.astype(np.float32).mean(axis=(0, 1)) for im in images])}

    images = [gradient(), gradient(50, 30)]
    ids_a, feats_a = augmented_feature_rows(Recorder(), images, ["x.jpg", "y.jpg"], copies=3, seed=7)
    ids_b, feats_b = augmented_feature_rows(Recorder(), images, ["x.jpg", "y.jpg"], copies=3, seed=7)
    assert ids_a == augmented_ids("x.jpg", 3) + augmented_ids("y.jpg", 3) == ids_b
    assert ids_a[0] == "x.jpg#aug1"
    np.testing.assert_array_equal(feats_a["b"], feats_b["b"])
    assert feats_a["b"].shape == (6, 3)
    _, feats_c = augmented_feature_rows(Recorder(), images, ["x.jpg", "y.jpg"], copies=3, seed=8)
    assert not np.allclose(feats_a["b"], feats_c["b"])


def test_bad_image_is_refused():
    with pytest.raises(ValueError, match="uint8"):
        augment_image(np.zeros((4, 4, 3), np.float32), np.random.default_rng(0))
