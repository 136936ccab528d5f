"""Score bundles end to end on tiny data: `aesthetic train --target distribution|mean`, predict's
mean_score/score_std columns, P(aesthetic) derived by the stored rule, and FC distillation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aesthetic.cli import app
from aesthetic.feature_store import FeatureStore
from aesthetic.bundles.model import load_model
from aesthetic.classifier.scores import RATINGS, ScoreRule, distribution_mean, distribution_std

runner = CliRunner()


FAST = ["--hidden", "16,8", "--epochs", "6", "--patience", "3", "--validation-fraction", "0.25", "--no-sensitivity",
        "--threshold-folds", "0"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def rated_labels(tmp_path_factory, tiny_images) -> Path:
    """Distributions for the tiny images: smooth bright ones (label 1) voted around 7, noise around 3."""
    paths, labels = tiny_images
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("rated") / "ratings.csv"
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "rating_distribution", "mean_score"])
        for p, y in zip(paths, labels):
            centre = (7.0 if y == 1 else 3.0) + rng.normal(0, 0.5)
            counts = np.round(100 * np.exp(-0.5 * ((RATINGS - centre) / 1.2) ** 2)).astype(int)
            w.writerow([Path(p).name, " ".join(map(str, counts)), f"{distribution_mean(counts)[0]:.4f}"])
    return out


@pytest.fixture(scope="module")
def dist_bundle(tmp_path_factory, tiny_store, rated_labels) -> Path:
    out = tmp_path_factory.mktemp("score") / "dist_model"
    result = invoke("train", tiny_store, "--out", out, "--labels", rated_labels, "--label-source", "distribution",
                    "--target", "distribution", *FAST)
    assert result.exit_code == 0, result.output
    assert "distribution head" in result.output and "srcc" in result.output
    return out


def test_distribution_bundle_stores_its_head_and_threshold_rule(dist_bundle):
    config = json.loads((dist_bundle / "config.json").read_text())
    assert config["head"] == "distribution"
    assert config["score_rule"] == {"threshold": 5.0, "scale": 0.5}
    assert config["threshold"] == 0.5
    model = load_model(dist_bundle)
    assert model.keras_model.output_shape == (None, 10) and model.has_scores


def test_predict_writes_mean_score_and_std_next_to_p(dist_bundle, tiny_images, tiny_store, tmp_path):
    paths, _ = tiny_images
    out = tmp_path / "pred.csv"
    result = invoke("predict", dist_bundle, *paths[:6], "--out", out)
    assert result.exit_code == 0, result.output
    assert "mean score (1-10)" in result.output
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ["path", "p_aesthetic", "mean_score", "score_std", "label", "error"]
    # independent: the bundle's network on the stored features of the same images
    model = load_model(dist_bundle)
    with FeatureStore.open(tiny_store) as store:
        dist = model.raw_store(store, np.arange(6))
    assert dist.shape == (6, 10)
    mean = np.array([float(r["mean_score"]) for r in rows])
    np.testing.assert_allclose(mean, distribution_mean(dist), atol=1e-3)
    np.testing.assert_allclose([float(r["score_std"]) for r in rows], distribution_std(dist), atol=1e-3)
    p = np.array([float(r["p_aesthetic"]) for r in rows])
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(mean - 5.0) / 0.5)), atol=1e-4)
    assert [int(r["label"]) for r in rows] == [int(m >= 5.0) for m in mean]


def test_binary_bundle_csv_keeps_its_columns(tiny_store, tiny_images, tmp_path):
    out = tmp_path / "bin"
    assert invoke("train", tiny_store, "--out", out, *FAST).exit_code == 0
    pred = tmp_path / "pred.csv"
    assert invoke("predict", out, tiny_images[0][0], "--out", pred).exit_code == 0
    assert open(pred).readline().strip() == "path,p_aesthetic,label,error"


def test_mean_head_trains_from_mean_scores(tiny_store, rated_labels, tiny_images, tmp_path):
    out = tmp_path / "mean_model"
    result = invoke("train", tiny_store, "--out", out, "--labels", rated_labels, "--label-source", "mean",
                    "--target", "mean", "--score-scale", "1.0", *FAST)
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.head == "mean" and model.score_rule == ScoreRule(threshold=5.0, scale=1.0)
    pred = model.predict(tiny_images[0][:3], progress=False)
    assert pred.has_scores and np.isnan(pred.score_std).all()
    np.testing.assert_allclose(pred.p_aesthetic, 1 / (1 + np.exp(-(pred.mean_score - 5.0))), atol=1e-5)


def test_distribution_target_without_distributions_fails_with_one_sentence(tiny_store, rated_labels, tmp_path):
    result = invoke("train", tiny_store, "--out", tmp_path / "m", "--labels", rated_labels,
                    "--label-source", "mean", "--target", "distribution", *FAST)
    assert result.exit_code != 0
    assert "needs rating distributions" in result.output and "Traceback" not in result.output
    result = invoke("train", tiny_store, "--out", tmp_path / "m", "--target", "mean", *FAST)
    assert result.exit_code != 0 and "needs human scores" in result.output


def test_distilled_fc_student_keeps_the_score_head(dist_bundle, tmp_path):
    out = tmp_path / "student"
    result = invoke("distill", dist_bundle, "--out", out, "--hidden", "8", "--epochs", "6")
    assert result.exit_code == 0, result.output
    student = load_model(out)
    teacher = load_model(dist_bundle)
    assert student.head == "distribution" and student.score_rule == teacher.score_rule
    assert "teacher_srcc" in json.loads((out / "metrics.json").read_text())


def test_end_to_end_student_keeps_the_score_head(dist_bundle, tiny_images, tmp_path):
    from aesthetic.classifier.student import StudentConfig
    from aesthetic.bundles.build import distill_end_to_end

    config = StudentConfig(image_size=32, head=(8,), epochs=1, patience=1, batch_size=8)
    student, metrics = distill_end_to_end(dist_bundle, tmp_path / "student", config=config, backbone_weights=None)
    assert student.kind == "student" and student.head == "distribution"
    assert student.score_rule == load_model(dist_bundle).score_rule
    assert "teacher_srcc" in metrics
    pred = student.predict(tiny_images[0][:4], progress=False)
    assert pred.columns() == ["path", "p_aesthetic", "mean_score", "score_std", "label", "error"]
    assert np.all((pred.mean_score >= 1) & (pred.mean_score <= 10))
    np.testing.assert_allclose(pred.p_aesthetic, ScoreRule().probability(pred.mean_score), atol=1e-5)


def test_sensitivity_copies_feed_the_score_head_with_low_score_targets(tiny_store, rated_labels, tmp_path,
                                                                         monkeypatch):
    """`train --target distribution` with sensitivity on: each degraded copy and synthetic frame is trained
    towards the low-score distribution, each geometry crop or mirror (of a photo of either class) towards its
    source photo's human distribution,
    and the trained head scores degraded copies below their sources."""
    from aesthetic.bundles import build
    from aesthetic.classifier.scores import low_score_distribution
    from aesthetic.classifier.sensitivity import CLEAN_KINDS, SensitivityConfig, row_kinds
    from aesthetic.data import LabelRule, load_labels

    table = load_labels(rated_labels, LabelRule(source="distribution"))
    seen = {}
    real_train = build.train_score_head

    def spy(x, targets, groups, *args):
        seen.update(x=x, targets=np.asarray(targets), groups=np.asarray(groups))
        return real_train(x, targets, groups, *args)

    monkeypatch.setattr(build, "train_score_head", spy)
    fc = build.FCConfig(hidden=(16, 8), epochs=60, patience=60, validation_fraction=0.25)
    model, result = build.train_from_store(tiny_store, tmp_path / "m", labels=table, target="distribution",
                                      fc_config=fc, sensitivity=SensitivityConfig(copies=2, synthetic_frames=3),
                                      sensitivity_cache=tmp_path / "sens.h5")
    assert model.config["sensitivity"]["status"] == "on"
    with FeatureStore.open(tmp_path / "sens.h5") as extra:
        ids, kinds, labels = list(extra.ids), row_kinds(extra.ids), extra.labels
    n_real = len(seen["targets"]) - len(ids)
    added = seen["targets"][n_real:]
    low = low_score_distribution()
    # degraded copies and frames (label 0); crops and mirrors keep their source's label, 0 or 1, and score
    degraded = ~np.isin(kinds, CLEAN_KINDS)
    assert np.all(labels[degraded] == 0)
    assert degraded.sum() >= 3 and (~degraded).sum() >= 2  # copies and frames; square and portrait crops
    np.testing.assert_allclose(added[degraded], np.broadcast_to(low, (int(degraded.sum()), 10)))
    crops = np.flatnonzero(~degraded)
    sources = [i.split("#aug", 1)[0] for i in np.asarray(ids)[crops]]
    np.testing.assert_allclose(added[crops], table.lookup_distributions(sources))
    assert set(kinds[degraded]) - {"synthetic"} <= set(SensitivityConfig().kinds)

    # What the head learned (a small net on 16 tiny photos, so only the direction is asserted): the
    # degraded copies' mean score below that of their aesthetic sources.
    raw = result.model.predict(seen["x"], verbose=0)
    means = raw @ RATINGS
    copies = np.flatnonzero(degraded & (kinds != "synthetic"))
    source_rows = {g: k for k, g in enumerate(seen["groups"][:n_real])}
    source_means = np.array([means[source_rows[seen["groups"][n_real + k]]] for k in copies])
    assert np.mean(means[n_real + copies]) < np.mean(source_means)
