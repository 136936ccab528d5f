"""report.html: the same content as report.md, plots inline, tables sortable, and per set a gallery of
the model's most confident hits and worst misses; opened in a real browser."""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from aesthetic.benchmarks.report.benchmark import BenchmarkOptions, run_benchmark
from aesthetic.benchmarks.report.report import write_report
from aesthetic.benchmarks.report.suite import load_suite


def _image(rng, red, landscape):
    h, w = (80, 120) if landscape else (120, 80)
    img = rng.integers(0, 90, (h, w, 3)).astype(np.float64)
    img[..., 0] = img[..., 0] - img[..., 0].mean() + red
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _save(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])  # PNG: the planted score survives
    return path


POSITIVE_REDS = [220, 200, 180, 160, 140, 100, 70]   # the last two are misses (below 0.5)
NEGATIVE_REDS = [20, 40, 60, 80, 110, 150, 210]      # the last two are misses (above 0.5)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, red_scorer):
    root = tmp_path_factory.mktemp("suite")
    rng = np.random.default_rng(1)
    for i in range(5):
        _save(root / "train" / "1" / f"t{i}.png", _image(rng, 150 + 15 * i, True))
        _save(root / "train" / "0" / f"t{i}.png", _image(rng, 40 + 15 * i, False))
    rows = []
    for i, red in enumerate(POSITIVE_REDS):
        rows.append([_save(root / "set" / f"pos{i}.png", _image(rng, red, i % 2 == 0)).name, 1])
    for i, red in enumerate(NEGATIVE_REDS):
        rows.append([_save(root / "set" / f"neg{i}.png", _image(rng, red, i % 3 == 0)).name, 0])
    with open(root / "set" / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label"], *rows])
    (root / "suite.toml").write_text("""
name = "html <test> & co"
[train]
folders = {"1" = "train/1", "0" = "train/0"}
[sets."Mixed & planted"]
labels = "set/labels.csv"
[robustness]
set = "Mixed & planted"
transforms = [{kind = "exposure", ev = 1.0}]
""")
    result = run_benchmark(load_suite(root / "suite.toml"), [red_scorer],
                           BenchmarkOptions(batch_size=8, progress=False))
    out = tmp_path_factory.mktemp("out") / "report"
    write_report(result, out, "aesthetic benchmark fake --suite suite.toml --out report")
    return out


class _Outline(HTMLParser):
    """Headings, tables, images and links of a page."""

    def __init__(self):
        super().__init__()
        self.headings, self.tables, self.images, self.links, self.ids = [], [], [], [], set()
        self.gallery: dict[str, dict[str, list[str]]] = {}
        self._heading, self._set = None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("h1", "h2", "h3"):
            self._heading = [tag, ""]
        elif tag == "table":
            self.tables.append(a.get("class"))
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "a":
            self.links.append(a.get("href"))
        elif tag == "div" and a.get("class") == "gallery":
            self._set = a["data-set"]
            self.gallery[self._set] = {"hit": [], "miss": []}
        elif tag == "figure" and self._set and "frame" in (a.get("class") or ""):
            self.gallery[self._set][a["class"].split()[1]].append(a["data-path"])

    def handle_data(self, data):
        if self._heading:
            self._heading[1] += data

    def handle_endtag(self, tag):
        if self._heading and tag == self._heading[0]:
            self.headings.append((tag, self._heading[1].strip()))
            self._heading = None


def _outline(report: Path) -> _Outline:
    parser = _Outline()
    parser.feed((report / "report.html").read_text(encoding="utf-8"))
    return parser


def test_page_has_the_same_headings_and_tables_as_the_markdown(report_dir):
    md = (report_dir / "report.md").read_text()
    page = _outline(report_dir)
    md_headings = [(f"h{len(m.group(1))}", m.group(2).replace("`", "").strip())
                   for m in re.finditer(r"^(#{1,3}) (.+)$", md, re.M)]
    assert [h for h in page.headings if h[1] != "Figures"] == md_headings
    assert ("h1", "Benchmark report: html <test> & co") in page.headings  # escaped, then read back intact
    n_tables = len(re.findall(r"^\|---", md, re.M))
    assert n_tables >= 5 and page.tables == ["sortable"] * n_tables
    text = (report_dir / "report.html").read_text()
    assert "<test>" not in text and "aesthetic benchmark fake --suite suite.toml --out report" in text


def test_every_plot_is_inline_and_every_figure_link_points_into_the_page(report_dir):
    page = _outline(report_dir)
    text = (report_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?https?://""", text)  # no CDN, nothing fetched
    assert all(src.startswith("data:image/") for src in page.images)
    pngs = sorted(p.relative_to(report_dir).as_posix() for p in (report_dir / "plots").rglob("*.png"))
    captions = re.findall(r'<figure id="fig-\d+" class="plot"><img src="data:image/png;base64,[^"]+" '
                          r'alt="([^"]+)">', text)
    md = (report_dir / "report.md").read_text()
    embedded_in_text = re.findall(r"!\[[^\]]*\]\((plots/[^)]+)\)", md)
    assert sorted(captions + embedded_in_text) == pngs  # each figure once, all of them
    fig_links = [h for h in page.links if h and h.startswith("#fig-")]
    assert fig_links and all(h[1:] in page.ids for h in fig_links)


def test_gallery_shows_the_most_confident_hits_and_worst_misses(report_dir):
    gallery = _outline(report_dir).gallery["Mixed & planted"]
    labelled = [(f"pos{i}.png", 1, r / 255) for i, r in enumerate(POSITIVE_REDS)] + \
               [(f"neg{i}.png", 0, r / 255) for i, r in enumerate(NEGATIVE_REDS)]
    margin = {name: abs(p - 0.5) for name, _, p in labelled}
    hits = sorted((n for n, y, p in labelled if (p >= 0.5) == bool(y)), key=lambda n: -margin[n])[:6]
    misses = sorted((n for n, y, p in labelled if (p >= 0.5) != bool(y)), key=lambda n: -margin[n])
    assert [Path(p).name for p in gallery["hit"]] == hits
    assert [Path(p).name for p in gallery["miss"]] == misses == ["neg6.png", "pos6.png", "pos5.png", "neg5.png"]


@pytest.mark.browser
def test_report_in_chromium_loads_every_image_and_sorts_tables(browser, report_dir, tmp_path_factory):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 1600)
    browser.get((report_dir / "report.html").resolve().as_uri())
    assert browser.title == "Benchmark report: html <test> & co"
    images = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth])")
    assert len(images) >= 10 and all(c and w > 0 for c, w in images)
    galleries = browser.execute_script(
        "return [...document.querySelectorAll('div.gallery')].map(g => [g.dataset.set, "
        "g.querySelectorAll('figure.hit').length, g.querySelectorAll('figure.miss').length])")
    assert galleries == [["Mixed & planted", 6, 4]]

    # the per-set details table: sort by accuracy, both ways; "scorer" alphabetically
    table = next(t for t in browser.find_elements(By.CSS_SELECTOR, "table.sortable")
                 if [th.text for th in t.find_elements(By.CSS_SELECTOR, "thead th")][:3]
                 == ["scorer", "decision", "accuracy"])
    column = lambda k: browser.execute_script(  # noqa: E731
        "return [...arguments[0].tBodies[0].rows].map(r => r.cells[arguments[1]].textContent.trim())", table, k)
    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    before = column(2)
    headers[2].click()
    ascending = [float(v.rstrip("†")) for v in column(2)]
    assert ascending == sorted(ascending) and sorted(column(2)) == sorted(before)
    assert headers[2].get_attribute("aria-sort") == "ascending"
    headers[2].click()
    assert [float(v.rstrip("†")) for v in column(2)] == sorted(ascending, reverse=True)
    assert headers[2].get_attribute("aria-sort") == "descending" and headers[0].get_attribute("aria-sort") is None
    headers[0].click()
    names = column(0)
    assert names == sorted(names, key=str.lower) and len(names) >= 3

    shots = tmp_path_factory.mktemp("screenshots")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, 8000))
    assert browser.save_screenshot(str(shots / "report.png"))
    with Image.open(shots / "report.png") as shot:
        assert len(set(shot.convert("L").getdata())) > 50
