"""The report's sensitivity rows, checked on a toy scorer whose answers are known in advance."""

import cv2
import numpy as np
import pytest

from aesthetic import degradations as D
from aesthetic.benchmarks.report.sensitivity import (Degradation, aesthetic_groups, default_degradations,
                                           empty_frames, run_sensitivity)
from aesthetic.data import LabeledImage


class Brightness:
    """Mean grey level / 255; aesthetic when >= 0.5."""

    name, kind, threshold, inclusive, probabilistic, score_label = "bright", "model", 0.5, True, True, "P"

    def score_images(self, images):
        return np.array([im.mean() / 255.0 for im in images])


@pytest.fixture()
def photos(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for k, level in enumerate((200, 180, 150, 90)):  # three bright "aesthetic", one dark
        img = np.clip(rng.normal(level, 20, (40, 60, 3)), 0, 255).astype(np.uint8)
        img[:, :30] = np.clip(img[:, :30].astype(int) + 40, 0, 255)  # left half brighter: flip-invariant mean
        path = tmp_path / f"p{k}.png"
        cv2.imwrite(str(path), img[:, :, ::-1])
        items.append(LabeledImage(path, 1 if level > 100 else 0, path.name))
    return items


def test_rows_match_a_hand_computation(photos):
    darker = [Degradation("underexpose", 1.0, "-1 EV", lambda im: D.exposure(im, -1.0)),
              Degradation("underexpose", 3.0, "-3 EV", lambda im: D.exposure(im, -3.0))]
    brighter = [Degradation("hflip", 0, "flip", D.horizontal_flip)]
    frames = [("white", D.flat_frame(10, 10, (255, 255, 255))), ("grey", D.flat_frame(10, 10, (100, 100, 100))),
              ("grey", D.flat_frame(10, 10, (20, 20, 20)))]
    groups = aesthetic_groups({"S": photos})
    rows = run_sensitivity([Brightness()], groups, {"S": photos}, darker, brighter, frames, progress=False)
    by = {(r.check, r.label): r for r in rows}
    from aesthetic.imageio import read_image

    images = [read_image(i.path) for i in photos if i.label == 1]
    for label, ev in (("-1 EV", -1.0), ("-3 EV", -3.0)):
        after = np.array([D.exposure(im, ev).mean() / 255 for im in images])
        r = by[("degradation", label)]
        assert r.n == 3 and r.score_fell == 1.0  # darker always lowers the mean
        assert r.called_not == pytest.approx(np.mean(after < 0.5))
        assert r.mean_score == pytest.approx(after.mean())
    assert by[("degradation", "-3 EV")].called_not == 1.0
    flip = by[("preserving", "flip")]
    assert flip.n == 4 and flip.call_changed == 0.0 and flip.score_fell is None
    assert by[("empty", "white")].called_not == 0.0 and by[("empty", "white")].n == 1
    assert by[("empty", "grey")].called_not == 1.0 and by[("empty", "grey")].n == 2


def test_sets_sharing_their_aesthetic_photos_are_degraded_once(photos):
    groups = aesthetic_groups({"A": photos, "B": photos + photos[3:], "C": photos[3:], "D": photos[:1]})
    assert list(groups) == ["A, B", "D"]
    assert len(groups["A, B"]) == 3


def test_defaults_cover_the_acceptance_levels():
    labels = {d.label for d in default_degradations()}
    assert {"blur sigma 3px", "8x down-up", "JPEG q10", "-2 EV", "noise sigma 25"} <= labels
    names = [n for n, _ in empty_frames(6)]
    assert names[:3] == ["flat grey", "flat black", "flat white"] and len(names) == 9


def test_the_report_has_the_sensitivity_section_and_plot(photos, tmp_path):
    from aesthetic.benchmarks.report import plots as P

    rows = run_sensitivity([Brightness()], aesthetic_groups({"S": photos}), {"S": photos},
                           default_degradations()[:3], None, empty_frames(3), progress=False)
    path = P.sensitivity_curves(tmp_path / "s.png", "S", {"name": "bright", "threshold": 0.5,
                                                         "score_label": "P", "probabilistic": True},
                                [r for r in rows if r.check == "degradation"])
    assert path.stat().st_size > 1000
