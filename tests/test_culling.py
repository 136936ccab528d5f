"""`aesthetic cull`: synthetic bursts made from real photos group together, different photos do not,
the pick is the highest score, the CSV has its schema, unreadable files are listed, and the page
opens in a real browser with every group, every pick and every thumbnail."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from aesthetic.phash import phash64
from aesthetic.culling.config import GroupingConfig
from aesthetic.culling.grouping import capture_time, group_scans, scan_photos
from aesthetic.culling.picks import choose_best, cull
from aesthetic.imageio import read_image
from aesthetic.bundles.model import PredictionResult

runner = CliRunner()


# --------------------------------------------------------------------------- synthetic bursts

def shifted(image: np.ndarray, fraction: float) -> np.ndarray:
    """The camera moved: drop ``fraction`` of the width on the left and half that on top."""
    h, w = image.shape[:2]
    return image[int(h * fraction / 2):, int(w * fraction):]


def cropped(image: np.ndarray, fraction: float) -> np.ndarray:
    """Zoomed in: ``fraction`` of each side removed, centred."""
    h, w = image.shape[:2]
    dy, dx = int(h * fraction / 2), int(w * fraction / 2)
    return image[dy:h - dy, dx:w - dx]


def exposed(image: np.ndarray, ev: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * 2.0 ** ev, 0, 255).astype(np.uint8)


BURST_EDITS = {"a": lambda im: im, "b_shift": lambda im: shifted(im, 0.03), "c_crop": lambda im: cropped(im, 0.08),
               "d_brighter": lambda im: exposed(im, 0.5), "e_darker": lambda im: exposed(im, -1.0)}


def write_jpeg(path: Path, rgb: np.ndarray, taken: str | None = None) -> Path:
    """JPEG (quality 92), with an EXIF DateTimeOriginal when ``taken`` ('YYYY:MM:DD HH:MM:SS[.ff]')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if taken is not None:
        stamp, _, sub = taken.partition(".")
        exif.get_ifd(0x8769)[0x9003] = stamp
        if sub:
            exif.get_ifd(0x8769)[0x9291] = sub
    Image.fromarray(rgb).save(path, "JPEG", quality=92, exif=exif)
    return path


@pytest.fixture(scope="module")
def bursts(tmp_path_factory, real_photos, astronaut):
    """Three bursts of five frames (original, 3 % shift, 8 % crop, +0.5 EV, -1 EV) of three real photos,
    and four other real photos as singles. Returns (folder, {file name: the photo it came from})."""
    folder = tmp_path_factory.mktemp("bursts")
    origin = {}
    sources = {"astronaut": astronaut, "curated0": read_image(real_photos[0]), "snapshot0": read_image(real_photos[3])}
    for name, image in sources.items():
        for edit, apply in BURST_EDITS.items():
            write_jpeg(folder / f"{name}_{edit}.jpg", apply(image))
            origin[f"{name}_{edit}.jpg"] = name
    for k in (1, 2, 4, 5):
        name = f"single_{Path(real_photos[k]).stem}.jpg"
        write_jpeg(folder / name, read_image(real_photos[k]))
        origin[name] = name
    return folder, origin


def partition(keys, labels) -> set[frozenset]:
    groups: dict = {}
    for key, label in zip(keys, labels):
        groups.setdefault(label, set()).add(key)
    return {frozenset(v) for v in groups.values()}


def test_shifted_cropped_and_reexposed_copies_group_and_different_photos_do_not(bursts):
    folder, origin = bursts
    paths = sorted(folder.iterdir())
    scans = scan_photos([str(p) for p in paths], progress=False)
    assert not any(s.error for s in scans) and all(s.taken is None for s in scans)  # no EXIF: hash alone
    groups = group_scans(scans, GroupingConfig())
    assert partition([p.name for p in paths], groups) == partition([p.name for p in paths],
                                                                   [origin[p.name] for p in paths])
    assert sorted(set(groups.tolist())) == list(range(1, 8))  # 3 bursts + 4 singles, numbered from 1
    assert groups[0] == 1  # numbered in order of each group's first photo


def test_a_stricter_threshold_splits_the_bursts(bursts):
    folder, _ = bursts
    scans = scan_photos([str(p) for p in sorted(folder.iterdir())], progress=False)
    strict = group_scans(scans, GroupingConfig(max_distance=0, burst_max_distance=0))
    exact = {s.phash for s in scans}
    assert len(set(strict.tolist())) == len(exact) > 7


def test_capture_time_reads_exif_original_time_with_subseconds(tmp_path, astronaut):
    timed = write_jpeg(tmp_path / "t.jpg", astronaut, "2024:05:01 10:00:01.25")
    plain = write_jpeg(tmp_path / "p.jpg", astronaut)
    t = capture_time(timed.read_bytes())
    assert t == pytest.approx(capture_time(write_jpeg(tmp_path / "u.jpg", astronaut, "2024:05:01 10:00:00").read_bytes())
                              + 1.25)
    assert capture_time(plain.read_bytes()) is None
    assert capture_time(b"not an image") is None


def test_frames_seconds_apart_join_under_the_looser_burst_threshold(tmp_path, astronaut):
    config = GroupingConfig()
    base = phash64(astronaut)
    # a camera pan: the smallest shift whose hash moves past the strict threshold but within the burst one
    moved = next((shifted(astronaut, k / 100) for k in range(3, 30)
                  if config.max_distance < bin(base ^ phash64(shifted(astronaut, k / 100))).count("1")
                  <= config.burst_max_distance), None)
    assert moved is not None, "no shift of the test photo lands between the two thresholds"

    def groups_of(t1, t2):
        a = write_jpeg(tmp_path / "a.jpg", astronaut, t1)
        b = write_jpeg(tmp_path / "b.jpg", moved, t2)
        return group_scans(scan_photos([str(a), str(b)], progress=False), config).tolist()

    assert groups_of("2024:05:01 10:00:00", "2024:05:01 10:00:01.5") == [1, 1]   # 1.5 s apart: one burst
    assert groups_of("2024:05:01 10:00:00", "2024:05:01 10:01:00") == [1, 2]     # a minute apart: two scenes
    assert groups_of(None, None) == [1, 2]                                          # untimed: strict hash only


def test_grouping_config_rejects_a_burst_threshold_tighter_than_the_plain_one():
    with pytest.raises(ValueError, match="must be at least max_distance"):
        GroupingConfig(max_distance=12, burst_max_distance=6)


def test_choose_best_takes_the_highest_score_first_on_ties_and_skips_unscored_groups():
    groups = [1, 1, 2, 2, 2, 3]
    scores = [0.5, 0.5, math.nan, 0.2, 0.9, math.nan]
    assert choose_best(groups, scores).tolist() == [True, False, False, False, True, False]


# --------------------------------------------------------------------------- with a model

class PlantedModel:
    """A bundle stand-in whose P(aesthetic) is the photo's mean red level / 255, and (optionally)
    a mean rating of 1 + 9 P, as a bundle with a rating head would give."""

    threshold = 0.5

    def __init__(self, with_mean_score: bool = False, with_heads: bool = False):
        self.with_mean_score = with_mean_score
        self.with_heads = with_heads
        self.calls: list[list[str]] = []

    def predict(self, paths, batch_size=32, progress=True):
        paths = [str(p) for p in paths]
        self.calls.append(paths)
        p = np.array([read_image(x)[..., 0].mean() / 255.0 for x in paths], np.float32)
        result = PredictionResult(paths, p, (p >= 0.5).astype(np.int8), [""] * len(paths), 0.5)
        if self.with_mean_score:
            result.mean_score = 1 + 9 * p.astype(np.float64)
        if self.with_heads:  # content: the red level; clean: 1 - the blue level, so P = content * clean
            result.p_content = p.astype(np.float64)
            result.p_clean = np.array([1 - read_image(x)[..., 2].mean() / 255.0 for x in paths])
            result.p_aesthetic = (result.p_content * result.p_clean).astype(np.float32)
        return result


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory, bursts):
    folder = tmp_path_factory.mktemp("broken")
    good = next(bursts[0].glob("astronaut_a.jpg")).read_bytes()
    (folder / "cut.jpg").write_bytes(good[: len(good) // 2])
    (folder / "notes.jpg").write_text("this is not an image")
    return folder


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def test_the_pick_of_every_group_is_its_highest_planted_score(bursts):
    folder, origin = bursts
    paths = [str(p) for p in sorted(folder.iterdir())]
    result = cull(PlantedModel(), paths, progress=False)
    red = {Path(p).name: cv2.imread(p)[..., 2].mean() / 255.0 for p in paths}  # independent: OpenCV, BGR
    for _, members in result.groups():
        expected = max(members, key=lambda m: red[Path(m.path).name])
        assert [m.path for m in members if m.best] == [expected.path]
        assert members[0] is expected  # the page shows the pick first
        assert [m.p_aesthetic for m in members] == sorted((m.p_aesthetic for m in members), reverse=True)
    burst_picks = {origin[Path(p.path).name]: Path(p.path).name for p in result.picks()
                   if not origin[Path(p.path).name].startswith("single")}
    assert burst_picks == {n: f"{n}_d_brighter.jpg" for n in ("astronaut", "curated0", "snapshot0")}


def test_csv_schema_rows_in_input_order_and_unreadable_files_listed(bursts, broken_files, tmp_path):
    folder, _ = bursts
    paths = [str(p) for p in sorted(folder.iterdir())] + [str(broken_files / "cut.jpg"),
                                                          str(broken_files / "notes.jpg"),
                                                          str(broken_files / "gone.jpg")]
    model = PlantedModel()
    result = cull(model, paths, progress=False)
    assert model.calls == [paths[:-3]]  # unreadable files are not sent to the model
    out = result.to_csv(tmp_path / "picks.csv")
    columns, rows = read_csv(out)
    assert columns == ["path", "group", "p_aesthetic", "best", "error"]
    assert [r["path"] for r in rows] == paths
    bad = {Path(r["path"]).name: r for r in rows[-3:]}
    assert "truncated JPEG" in bad["cut.jpg"]["error"]
    assert "not a supported image" in bad["notes.jpg"]["error"]
    assert bad["gone.jpg"]["error"] == "file not found"
    for r in bad.values():
        assert r["p_aesthetic"] == "" and r["best"] == "0"
    bad_groups = [int(r["group"]) for r in bad.values()]
    assert len(set(bad_groups)) == 3 and all(sum(int(r["group"]) == g for r in rows) == 1 for g in bad_groups)
    good = rows[:-3]
    assert all(r["error"] == "" and 0 <= float(r["p_aesthetic"]) <= 1 for r in good)
    assert sum(r["best"] == "1" for r in rows) == 7  # one per group that has a scored photo


def test_csv_has_mean_score_when_the_bundle_predicts_one(bursts, tmp_path):
    paths = [str(p) for p in sorted(bursts[0].iterdir())][:4]
    result = cull(PlantedModel(with_mean_score=True), paths, progress=False)
    columns, rows = read_csv(result.to_csv(tmp_path / "picks.csv"))
    assert columns == ["path", "group", "p_aesthetic", "best", "mean_score", "error"]
    for r in rows:
        assert float(r["mean_score"]) == pytest.approx(1 + 9 * float(r["p_aesthetic"]), abs=1e-3)


def test_csv_and_page_say_how_clean_each_frame_is_when_the_bundle_has_quality_heads(bursts, broken_files,
                                                                                     tmp_path):
    from aesthetic.culling.html import render_picks_html

    paths = [str(p) for p in sorted(bursts[0].iterdir())][:4] + [str(broken_files / "notes.jpg")]
    result = cull(PlantedModel(with_heads=True), paths, progress=False)
    columns, rows = read_csv(result.to_csv(tmp_path / "picks.csv"))
    assert columns == ["path", "group", "p_aesthetic", "best", "p_content", "p_clean", "error"]
    for r in rows[:4]:  # independent: OpenCV's BGR channels
        bgr = cv2.imread(r["path"])
        assert float(r["p_content"]) == pytest.approx(bgr[..., 2].mean() / 255.0, abs=1e-5)
        assert float(r["p_clean"]) == pytest.approx(1 - bgr[..., 0].mean() / 255.0, abs=1e-5)
        assert float(r["p_aesthetic"]) == pytest.approx(float(r["p_content"]) * float(r["p_clean"]), abs=1e-5)
    assert rows[4]["p_content"] == rows[4]["p_clean"] == "" and rows[4]["error"]
    text = render_picks_html(result, tmp_path)
    for photo in result.photos[:4]:
        assert f"content {photo.p_content:.3f}" in text and f"clean {photo.p_clean:.3f}" in text
    plain = cull(PlantedModel(), paths[:2], progress=False)  # a bundle without quality heads: no such columns
    assert "p_clean" not in plain.columns and "clean " not in render_picks_html(plain, tmp_path)


def test_page_escapes_paths_and_embeds_every_thumbnail(tmp_path, astronaut):
    from aesthetic.culling.html import render_picks_html

    odd = write_jpeg(tmp_path / "a <b>&\"quote'.jpg", astronaut)
    result = cull(PlantedModel(), [str(odd)], progress=False)
    text = render_picks_html(result, tmp_path)
    assert "<b>" not in text and "a &lt;b&gt;&amp;&quot;quote&#x27;.jpg" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched from the network
    thumb = text.split('src="data:image/jpeg;base64,')[1].split('"')[0]
    import base64

    with Image.open(io.BytesIO(base64.b64decode(thumb))) as im:
        assert max(im.size) == 192 and im.format == "JPEG"


# --------------------------------------------------------------------------- the command, a real bundle

@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory, tiny_store) -> Path:
    from aesthetic.cli import app

    out = tmp_path_factory.mktemp("cull_model") / "model"
    res = runner.invoke(app, ["train", str(tiny_store), "--out", str(out), "--hidden", "8", "--epochs", "2",
                              "--validation-fraction", "0.25", "--no-sensitivity", "--threshold-folds", "0"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def culled(tmp_path_factory, tiny_bundle, bursts, broken_files):
    from aesthetic.cli import app

    out = tmp_path_factory.mktemp("culled") / "picks.csv"
    res = runner.invoke(app, ["cull", str(tiny_bundle), str(bursts[0]), str(broken_files), "--out", str(out),
                              "--explain", "lime", "--explain-samples", "8", "--no-progress"])
    return out, res


def test_cli_writes_csv_and_page_whose_scores_are_the_bundles(culled, tiny_bundle):
    from aesthetic.bundles.model import load_model

    out, res = culled
    assert res.exit_code == 0, res.output
    assert f"picks: {out}" in res.output and f"page:  {out.with_suffix('.html')}" in res.output
    assert "2 photo(s) could not be scored" in res.output and "Traceback" not in res.output
    columns, rows = read_csv(out)
    assert columns == ["path", "group", "p_aesthetic", "best", "error"]
    good = [r for r in rows if not r["error"]]
    direct = load_model(tiny_bundle).predict([r["path"] for r in good], progress=False)
    np.testing.assert_allclose([float(r["p_aesthetic"]) for r in good], direct.p_aesthetic, atol=2e-6)
    for g in {r["group"] for r in good}:
        members = [r for r in good if r["group"] == g]
        top = max(members, key=lambda r: float(r["p_aesthetic"]))
        assert [r["path"] for r in members if r["best"] == "1"] == [top["path"]]
    assert len({r["group"] for r in rows}) == 9  # 3 bursts + 4 singles + 2 unreadable files
    picks = [r for r in rows if r["best"] == "1"]
    overlays = sorted((out.parent / "picks_explanations").glob("*.lime.png"))
    assert len(overlays) == len(picks) == 7


def test_cli_refuses_bad_input_in_one_line(tiny_bundle, tmp_path, bursts):
    from aesthetic.cli import app

    res = runner.invoke(app, ["cull", str(tiny_bundle), str(tmp_path / "nowhere"), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 2 and "nowhere: no such folder" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["cull", str(tmp_path), str(bursts[0]), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 2 and "not a model bundle" in res.output
    res = runner.invoke(app, ["cull", str(tiny_bundle), str(bursts[0]), "--out", str(tmp_path / "p.csv"),
                              "--max-distance", "20", "--burst-max-distance", "10"])
    assert res.exit_code == 2 and "must be at least max_distance" in res.output
    res = runner.invoke(app, ["cull", str(tiny_bundle), str(bursts[0]), "--out", str(tmp_path),
                              "--explain", "lime"])
    assert res.exit_code == 2 and "is a directory" in res.output
    assert not (tmp_path / "p.csv").exists()


# --------------------------------------------------------------------------- in a real browser

@pytest.mark.browser
def test_page_in_chromium_shows_every_group_its_pick_and_every_thumbnail(browser, culled, tmp_path_factory):
    out, res = culled
    assert res.exit_code == 0, res.output
    _, rows = read_csv(out)
    browser.get(out.with_suffix(".html").resolve().as_uri())
    assert browser.title == "Best of each burst"
    sections = browser.execute_script(
        "return [...document.querySelectorAll('section.group')].map(s => [s.dataset.group, "
        "[...s.querySelectorAll('figure')].map(f => [f.dataset.path, f.dataset.best, f.classList.contains('pick'), "
        "f.dataset.score])])")
    expected_groups = sorted({r["group"] for r in rows}, key=int)
    assert [g for g, _ in sections] == expected_groups
    by_path = {r["path"]: r for r in rows}
    for group, figures in sections:
        assert sorted(f[0] for f in figures) == sorted(r["path"] for r in rows if r["group"] == group)
        for path, best, marked, score in figures:
            assert best == by_path[path]["best"] and marked == (best == "1")
        scores = [float(f[3]) for f in figures if f[3]]
        assert scores == sorted(scores, reverse=True)  # thumbnails ordered by score, the pick first
        if any(f[1] == "1" for f in figures):
            assert figures[0][1] == "1"
    images = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth])")
    assert len(images) == len([r for r in rows if not r["error"]]) and all(c and w > 0 for c, w in images)
    links = browser.execute_script("return [...document.querySelectorAll('a.explanation')].map(a => a.href)")
    assert len(links) == 7
    from urllib.parse import unquote, urlparse

    assert all(Path(unquote(urlparse(u).path)).is_file() for u in links)  # relative links resolve on disk
    shots = tmp_path_factory.mktemp("screenshots")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, 6000))
    assert browser.save_screenshot(str(shots / "picks.png"))
    with Image.open(shots / "picks.png") as shot:
        assert shot.size[0] >= 1000 and len(set(shot.convert("L").getdata())) > 50  # not a blank page
