"""Distillation: the loss against an independent numpy computation, and a student that learns its teacher."""

from __future__ import annotations

import numpy as np
import pytest

from aesthetic.classifier.fc import predict_batched
from aesthetic.classifier.distillation import (DistillConfig, distill_fc, distillation_loss, ensemble_logits,
                                    make_distillation_loss, pack_targets)


def numpy_kd(y, z_s, z_t, T, alpha):
    """alpha * BCE(y, s(z_s)) + (1 - alpha) * T^2 * BCE(s(z_t/T), s(z_s/T)), written out plainly."""
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    def bce(q, p):
        return -(q * np.log(p) + (1 - q) * np.log(1 - p))
    out = []
    for yi, s, t in zip(y, z_s, z_t):
        soft = T * T * bce(sig(t / T), sig(s / T))
        if np.isnan(yi):
            out.append(soft)
        else:
            out.append(alpha * bce(yi, sig(s)) + (1 - alpha) * soft)
    return np.array(out)


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.3), (2.5, 0.0), (3.0, 1.0)])
def test_loss_matches_numpy(T, alpha):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50).astype(np.float64)
    y[::7] = np.nan
    z_s, z_t = rng.normal(0, 3, 50), rng.normal(0, 3, 50)
    got = np.asarray(distillation_loss(y, z_s, z_t, T, alpha))
    np.testing.assert_allclose(got, numpy_kd(y, z_s, z_t, T, alpha), rtol=1e-5, atol=1e-6)


def test_loss_is_stable_for_large_logits():
    got = np.asarray(distillation_loss([1.0, 0.0], [-80.0, 80.0], [90.0, -90.0], 2.0, 0.5))
    assert np.all(np.isfinite(got))
    # hard part: BCE(1, s(-80)) ~ 80, soft part at T=2: 4 * BCE(s(45), s(-40)) ~ 4 * 40
    np.testing.assert_allclose(got, 0.5 * 80 + 0.5 * 4 * 40, rtol=1e-3)


def test_soft_term_is_smallest_where_the_student_copies_the_teacher():
    z_t = np.full(21, 1.7)
    z_s = np.linspace(-3, 6, 21)
    losses = np.asarray(distillation_loss(np.full(21, np.nan), z_s, z_t, 3.0, 0.5))
    assert abs(z_s[np.argmin(losses)] - 1.7) < 0.5


def test_keras_loss_is_the_batch_mean_of_packed_targets():
    rng = np.random.default_rng(1)
    y, z_t, z_s = rng.integers(0, 2, 8).astype(np.float32), rng.normal(size=8), rng.normal(size=8)
    loss = make_distillation_loss(temperature=2.0, alpha=0.25)
    got = float(loss(pack_targets(y, z_t), z_s.reshape(-1, 1).astype(np.float32)))
    assert got == pytest.approx(numpy_kd(y, z_s, z_t, 2.0, 0.25).mean(), rel=1e-5)


def test_ensemble_teacher_is_the_mean_logit():
    np.testing.assert_allclose(ensemble_logits([np.array([1.0, -2.0]), np.array([3.0, 0.0])]), [2.0, -1.0])


def test_student_on_selected_features_learns_the_teacher():
    rng = np.random.default_rng(3)
    n, dim = 400, 30
    x = rng.normal(size=(n, dim)).astype(np.float32)
    score = x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2] + 0.2 * rng.normal(size=n)
    y = (score > 0.9).astype(np.float32)  # ~25% aesthetic
    teacher_logit = lambda rows: 3.0 * (rows[:, 0] + 0.8 * rows[:, 1] - 0.6 * rows[:, 2] - 0.9)  # noqa: E731
    z_t = teacher_logit(x)
    selected = x[:, :6]  # a selection that keeps the informative columns
    hidden_labels = y.copy()
    hidden_labels[::2] = np.nan  # half the rows teach only through the teacher
    student = distill_fc(selected, hidden_labels, z_t,
                         config=DistillConfig(hidden=(16, 8, 4), epochs=30, patience=15, seed=0),
                         teacher_threshold=0.5)
    assert student.model.input_shape == (None, 6)
    assert student.metrics["agreement"] > 0.85
    assert student.metrics["teacher_correlation"] > 0.8
    # on fresh rows the two decide alike far above chance
    x_new = rng.normal(size=(300, dim)).astype(np.float32)
    p_t = teacher_logit(x_new) >= 0.0
    p_s = predict_batched(student.model, x_new[:, :6]) >= student.threshold
    assert np.mean(p_t == p_s) > 0.85


@pytest.mark.e2e  # trains a MobileNet on pixels: minutes; CI runs it in its e2e step
def test_end_to_end_student_agrees_with_its_teacher_on_real_photos(mobilenet_store, tmp_path):
    """Teacher: FC on real NIMA-MobileNet features of 60 photos. Student: MobileNet on pixels (NIMA
    backbone, frozen) trained on the teacher's soft labels. On 24 held-out photos they must agree far
    above the agreement two independent raters with the same positive rates would reach."""
    from aesthetic.classifier.fc import FCConfig
    from aesthetic.feature_store import FeatureStore, write_store, BranchData
    from aesthetic.classifier.student import StudentConfig
    from aesthetic.bundles.build import distill_end_to_end, train_from_store

    with FeatureStore.open(mobilenet_store) as store:
        train = np.arange(60)
        held_out = np.arange(60, len(store))
        train_store = write_store(
            tmp_path / "train.h5", ids=store.ids[train], paths=store.paths[train], labels=store.labels[train],
            status=store.status[train], errors=store.errors[train],
            branches={"mobilenet": BranchData(store.read("mobilenet", train), {})}, metadata=store.metadata,
            dtype="float32")
        teacher, _ = train_from_store(train_store, tmp_path / "model", sensitivity=None,
                                      fc_config=FCConfig(hidden=(64, 16, 8), epochs=60, patience=15))
        p_teacher = teacher.predict_store(store, held_out)  # from stored features, no backbone run
        held_paths = list(store.paths[held_out])
    student, metrics = distill_end_to_end(tmp_path / "model", config=StudentConfig(epochs=3, patience=3, head=(32,)))
    assert student.kind == "student" and student.path == tmp_path / "model" / "student"
    assert metrics["train_images"] + metrics["validation_images"] == 60
    p_student = student.predict(held_paths, progress=False).p_aesthetic
    t, s = p_teacher >= teacher.threshold, p_student >= student.threshold
    observed = np.mean(t == s)
    chance = t.mean() * s.mean() + (1 - t.mean()) * (1 - s.mean())
    kappa = (observed - chance) / (1 - chance)
    assert kappa > 0.4, (observed, chance)
    assert np.corrcoef(p_teacher, p_student)[0, 1] > 0.5
