"""Branches: widths and layers, features equal a direct Keras pass, NIMA reproduced, weight errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from aesthetic.feature_extraction import FeatureExtractor, WeightsError, get_branch, list_branches

EXPECTED_MIXED = (["mixed_5b"] + [f"block35_{i}_mixed" for i in range(1, 11)] + ["mixed_6a"]
                  + [f"block17_{i}_mixed" for i in range(1, 21)] + ["mixed_7a"]
                  + [f"block8_{i}_mixed" for i in range(1, 11)])


def test_registry_lists_the_three_branches():
    assert set(list_branches()) >= {"multigap", "efficientnet", "mobilenet"}
    with pytest.raises(ValueError, match="unknown branch 'vgg'"):
        get_branch("vgg")


def test_each_branch_owns_its_data_settings():
    from aesthetic.feature_extraction.branches import largest_input_side
    from aesthetic.imageio import Letterbox, MaxSide, Resize

    multigap, efficientnet, mobilenet = (get_branch(n).data_config for n in ("multigap", "efficientnet", "mobilenet"))
    assert multigap.policy == MaxSide(side=996, upscale=True) and multigap.min_side == 75
    assert efficientnet.policy == Letterbox(size=600)
    assert mobilenet.policy == Resize(height=224, width=224, interpolation="nearest")  # NIMA's own, see test_nima_*
    assert largest_input_side() == 996
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    for data in (multigap, mobilenet):  # [-1, 1] as keras.applications' own preprocess_input
        np.testing.assert_array_equal(data.normalize(pixels), pixels.astype(np.float32) / 127.5 - 1.0)
        assert data.normalize(pixels).min() == -1.0 and data.normalize(pixels).max() == 1.0
    np.testing.assert_array_equal(efficientnet.normalize(pixels), pixels.astype(np.float32))  # normalised inside
    assert get_branch("multigap").preprocess(pixels).dtype == np.float32


def test_data_settings_scale_and_pad():
    data = get_branch("multigap").data_config
    small = data.scaled(0.1, upscale=False)
    assert small.policy.side == 100 and small.policy.upscale is False and small.min_side == 75
    assert data.policy.side == 996  # the branch's own settings are untouched
    panorama = np.zeros((40, 1000, 3), np.uint8)
    assert data.prepare(panorama).shape == (75, 996, 3)  # 40 x 1000 -> 40 x 996, padded to the minimum side


def test_nima_the_student_and_explanations_read_the_branch_settings():
    from aesthetic.explain.pipeline import ExplainConfig
    from aesthetic.feature_extraction.nima import NIMA_DATA
    from aesthetic.classifier.student import StudentConfig

    assert NIMA_DATA is get_branch("mobilenet").data_config
    assert StudentConfig().image_size == NIMA_DATA.policy.height == 224
    assert ExplainConfig().max_side == 996


@pytest.fixture(scope="module")
def small_two_branch():
    return FeatureExtractor(["multigap", "efficientnet"], weights=None, input_scale=0.1, batch_size=4)


def test_two_branch_widths_and_the_43_mixed_layers(small_two_branch, astronaut):
    feats = small_two_branch.extract_arrays([astronaut, astronaut[:300]])
    assert feats["multigap"].shape == (2, 16928) and feats["efficientnet"].shape == (2, 2560)
    assert small_two_branch.branch_attrs("multigap")["layer_names"] == EXPECTED_MIXED
    assert len(EXPECTED_MIXED) == 43
    assert np.isfinite(feats["multigap"]).all() and feats["multigap"].std() > 0  # a 58x100 input is padded to 75


def _eager(model, x):
    """One eager forward pass in inference mode, as numpy: ``predict`` would spend far longer compiling a
    graph of a few hundred layers than running it once on one small image."""
    import keras

    outs = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in outs] if isinstance(outs, (list, tuple)) else \
        keras.ops.convert_to_numpy(outs)


def _direct_gap(model_layers_model, x):
    outs = _eager(model_layers_model, x)
    outs = outs if isinstance(outs, list) else [outs]
    return np.concatenate([o.mean(axis=(1, 2)) for o in outs], axis=1)


def test_multigap_equals_direct_keras_forward_pass(small_two_branch, astronaut):
    import keras

    image = astronaut[:400, :300]
    ours = small_two_branch.extract_arrays([image])["multigap"]
    # Independent path: the same backbone (same seed), layer outputs averaged in numpy.
    keras.utils.set_random_seed(small_two_branch.seed)
    base = keras.applications.InceptionResNetV2(include_top=False, weights=None, input_shape=(None, None, 3))
    probe = keras.Model(base.input, [base.get_layer(n).output for n in EXPECTED_MIXED])
    resized = small_two_branch.policies["multigap"].apply(image)
    assert resized.shape[:2] == (100, 75)  # max side 996 * 0.1, aspect kept
    x = resized[None].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(ours, _direct_gap(probe, x), rtol=1e-4, atol=1e-5)


def test_efficientnet_equals_direct_keras_forward_pass(small_two_branch, astronaut):
    import keras

    image = astronaut[:200]
    ours = small_two_branch.extract_arrays([image])["efficientnet"]
    keras.utils.set_random_seed(small_two_branch.seed)
    model = keras.applications.EfficientNetB7(include_top=False, weights=None, pooling="avg",
                                              input_shape=(None, None, 3))
    boxed = small_two_branch.policies["efficientnet"].apply(image)
    assert boxed.shape == (60, 60, 3)
    np.testing.assert_allclose(ours, _eager(model, boxed[None].astype(np.float32)), rtol=1e-4, atol=1e-5)


def test_batching_by_shape_bucket_matches_one_by_one(small_two_branch, astronaut):
    images = [astronaut, astronaut[:256], astronaut[:, :300], astronaut[:256]]
    batched = small_two_branch.extract_arrays(images)["multigap"]
    single = np.vstack([small_two_branch.extract_arrays([im])["multigap"] for im in images])
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-5)


def test_mobilenet_with_nima_reproduces_nima_distribution(nima_file, real_photos):
    from aesthetic.imageio import read_image
    from aesthetic.feature_extraction.nima import NimaScorer

    fx = FeatureExtractor(["mobilenet"], weights={"mobilenet": str(nima_file)})
    images = [read_image(p) for p in real_photos[:3]]
    feats = fx.extract_arrays(images)["mobilenet"]
    assert feats.shape == (3, 5952)
    nima = NimaScorer(nima_file)
    kernel, bias = nima.head()
    logits = feats[:, -1024:] @ kernel + bias
    ours = np.exp(logits - logits.max(1, keepdims=True))
    ours /= ours.sum(1, keepdims=True)
    theirs, means = nima.predict_images(images)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert np.all((means > 1) & (means < 10)) and np.ptp(means) > 0.05  # real, image-dependent ratings


def test_nima_input_is_what_idealo_fed_it(nima_file, astronaut, tmp_path):
    """NIMA's preprocessing equals idealo's evaluation pipeline, computed independently with Keras:
    ``keras.utils.load_img(path, target_size=(224, 224))`` (PIL, nearest neighbour) then
    ``keras.applications.mobilenet.preprocess_input`` ([-1, 1]). A PNG so both decode the same pixels."""
    import cv2
    import keras
    from keras.applications.mobilenet import preprocess_input

    from aesthetic.feature_extraction.nima import NIMA_DATA, NimaScorer
    from aesthetic.imageio import read_image

    photo = astronaut[40:440, 10:500]  # 400 x 490: squashed in both directions, shrunk unevenly
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), photo[:, :, ::-1])
    reference = preprocess_input(np.asarray(keras.utils.load_img(path, target_size=(224, 224)), np.float32))
    ours = NimaScorer(nima_file).preprocess([read_image(path)])[0]
    np.testing.assert_array_equal(ours, reference)
    assert ours.shape == (224, 224, 3) and ours.min() >= -1.0 and ours.max() <= 1.0
    np.testing.assert_array_equal(NIMA_DATA.prepare(photo[:224, :224]), photo[:224, :224])


def test_nima_ranks_the_rated_ava_photos_as_their_voters(nima_file, shared_data):
    """The three AVA photos of rated_smoke (human means 4.80 < 5.21 < 5.64): NIMA at its trained input
    orders them as the voters did and stays within one rating point of each (area-averaged inputs
    gave 3.85, 4.45, 3.67: the wrong order, 0.95 to 2.0 points low)."""
    import csv

    from aesthetic.classifier.scores import rank_correlation
    from aesthetic.feature_extraction.nima import NimaScorer
    from aesthetic.imageio import read_image

    folder = shared_data / "rated_smoke"
    with open(folder / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["path"].startswith("images/ava_")]
    assert len(rows) == 3
    human = np.array([float(r["mean_score"]) for r in rows])
    _, predicted = NimaScorer(nima_file).predict_images([read_image(folder / r["path"]) for r in rows])
    assert rank_correlation(predicted, human) == pytest.approx(1.0)
    assert np.all(np.abs(predicted - human) < 1.0), predicted


def test_missing_and_wrong_weights_files_give_clear_errors(tmp_path, nima_file):
    with pytest.raises(WeightsError, match="not found"):
        FeatureExtractor(["multigap"], weights=str(tmp_path / "nope.h5"))
    cut = tmp_path / nima_file.name
    cut.write_bytes(nima_file.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="truncated, corrupt or a different model"):
        FeatureExtractor(["mobilenet"], weights=str(cut))
    fx = FeatureExtractor(["efficientnet"], weights=str(nima_file), input_scale=0.1)
    with pytest.raises(WeightsError) as err:
        fx.extract_arrays([np.zeros((64, 64, 3), np.uint8)])
    assert str(nima_file.resolve()) in str(err.value) and "efficientnet" in str(err.value)


def test_imagenet_download_failure_is_one_sentence(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")

    monkeypatch.setattr(file_utils, "get_file", offline)
    fx = FeatureExtractor(["efficientnet"], weights="imagenet", input_scale=0.1)
    with pytest.raises(WeightsError) as err:
        fx.extract_arrays([np.zeros((64, 64, 3), np.uint8)])
    message = str(err.value)
    assert "--weights efficientnet=/path/to/efficientnetb7_notop.h5" in message
    assert "\n" not in message and message.count(". ") == 0
