"""``report.html``: report.md as a self-contained page a reader can browse offline.

The page is rendered *from report.md* (markdown-it-py, raw HTML in the Markdown escaped), so
it says exactly what the Markdown says; on top of that:

- every figure is inline: images become ``data:image/png`` URIs, and the per-scorer
  ``[figure](plots/...)`` links point at the same figures embedded under "Figures";
- every table sorts by a click on its header (:mod:`aesthetic.htmlpage`);
- after each set's details, a gallery of the model's most confident hits and worst misses
  (thumbnails with true label and score), so a reader sees what the model gets wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from aesthetic.htmlpage import data_uri, esc, page, thumbnail_jpeg
from aesthetic.benchmarks.report.benchmark import BenchmarkResult
from aesthetic.metrics import predict

log = logging.getLogger(__name__)

#: Thumbnails per gallery row (hits, and misses).
GALLERY_SIZE = 6
DETAILS_HEADING = "Per-set details"


@dataclass
class GalleryItem:
    path: Path
    label: int
    score: float
    predicted: int

    @property
    def correct(self) -> bool:
        return self.label == self.predicted


def gallery_scorer(result: BenchmarkResult) -> Optional[dict[str, Any]]:
    """Whose hits and misses to show: the first model, else the first peer, else the first scorer."""
    for kind in ("model", "peer"):
        for meta in result.scorers:
            if meta["kind"] == kind:
                return meta
    return result.scorers[0] if result.scorers else None


def hits_and_misses(result: BenchmarkResult, set_name: str, meta: dict[str, Any],
                    k: int = GALLERY_SIZE) -> tuple[list[GalleryItem], list[GalleryItem]]:
    """The ``k`` correct calls farthest from the threshold (most confident hits) and the ``k`` wrong
    calls farthest from it (worst misses) of scorer ``meta`` on a set; ties keep the set's order."""
    ss = result.set_scores[set_name]
    scores = ss.scores.get(meta["name"])
    if scores is None or len(ss.y) == 0:
        return [], []
    readable = [i for i in result.sets[set_name].items if str(i.path) not in ss.unreadable]
    inclusive = bool(meta.get("inclusive", ">=" in meta.get("decision", "")))
    predicted = predict(scores, meta["threshold"], inclusive)
    margin = np.abs(np.asarray(scores, np.float64) - float(meta["threshold"]))
    order = np.argsort(-margin, kind="stable")
    items = [GalleryItem(Path(readable[i].path), int(ss.y[i]), float(scores[i]), int(predicted[i])) for i in order]
    return [g for g in items if g.correct][:k], [g for g in items if not g.correct][:k]


def _thumbnail(path: Path) -> Optional[str]:
    from aesthetic.imageio import ImageReadError, read_image

    try:
        return data_uri(thumbnail_jpeg(read_image(path)), "image/jpeg")
    except ImageReadError as exc:  # read once for scoring; gone or changed since
        log.warning("gallery thumbnail skipped: %s", exc)
        return None


def _gallery_row(title: str, items: Sequence[GalleryItem], kind: str, meta: dict[str, Any]) -> str:
    if not items:
        return f'<p class="muted">{esc(title)}: none.</p>'
    frames = []
    for g in items:
        src = _thumbnail(g.path)
        visual = (f'<img src="{src}" alt="{esc(g.path.name)}">' if src else
                  '<div class="noimage">no longer readable</div>')
        badge = '<span class="badge">hit</span>' if kind == "hit" else '<span class="badge miss">miss</span>'
        frames.append(f'<figure class="frame {kind}" title="{esc(g.path)}" data-path="{esc(g.path)}">{visual}'
                      f'<figcaption>{badge}<span class="score">{g.score:.3f}</span> true {g.label}, called '
                      f'{g.predicted}<br>{esc(g.path.name)}</figcaption></figure>')
    return f'<h4>{esc(title)}</h4>\n<div class="strip">{"".join(frames)}</div>'


def gallery_html(result: BenchmarkResult, set_name: str) -> str:
    meta = gallery_scorer(result)
    if meta is None or not result.metrics.get(set_name):
        return ""
    hits, misses = hits_and_misses(result, set_name, meta)
    units = f"{meta['score_label']}, decision {meta['decision']}"
    return (f'<div class="gallery" data-set="{esc(set_name)}"><p><strong>{esc(meta["name"])}</strong> on '
            f"{esc(set_name)} ({esc(units)}): the calls farthest from the threshold.</p>"
            + _gallery_row("Most confident hits", hits, "hit", meta)
            + _gallery_row("Worst misses", misses, "miss", meta) + "</div>")


def _inline_text(tokens: list, i: int) -> str:
    return tokens[i + 1].content if i + 1 < len(tokens) and tokens[i + 1].type == "inline" else ""


def _local_png(report_dir: Path, href: str) -> Optional[Path]:
    if not href or ":" in href or href.startswith(("/", "#")) or not href.lower().endswith(".png"):
        return None
    path = (report_dir / href).resolve()
    return path if path.is_file() and report_dir.resolve() in path.parents else None


def render_report_html(result: BenchmarkResult, markdown_text: str, report_dir: Path) -> str:
    """The page for a report whose files (plots/) are already in ``report_dir``."""
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown_text)
    figures: dict[str, str] = {}  # relative png -> anchor id
    set_names = list(result.sets)
    out: list = []
    in_details, set_index = False, -1

    def flush_gallery() -> None:
        if in_details and 0 <= set_index < len(set_names):
            block = Token("html_block", "", 0)
            block.content = gallery_html(result, set_names[set_index]) + "\n"
            out.append(block)

    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag in ("h1", "h2", "h3"):
            if tok.tag in ("h1", "h2") or in_details:
                flush_gallery()
            if tok.tag in ("h1", "h2"):
                in_details, set_index = _inline_text(tokens, i).strip() == DETAILS_HEADING, -1
            else:
                set_index += 1 if in_details else 0
        elif tok.type == "table_open":
            tok.attrSet("class", "sortable")
        elif tok.type == "inline":
            for child in tok.children or []:
                if child.type == "image":
                    png = _local_png(report_dir, child.attrGet("src") or "")
                    if png is not None:
                        child.attrSet("src", data_uri(png.read_bytes(), "image/png"))
                elif child.type == "link_open":
                    href = child.attrGet("href") or ""
                    if _local_png(report_dir, href) is not None:
                        anchor = figures.setdefault(href, f"fig-{len(figures) + 1}")
                        child.attrSet("href", f"#{anchor}")
        out.append(tok)
    flush_gallery()
    body = md.renderer.render(out, md.options, {})
    if figures:
        body += "\n<h2>Figures</h2>\n" + "\n".join(
            f'<figure id="{anchor}" class="plot"><img src="{data_uri((report_dir / rel).read_bytes(), "image/png")}" '
            f'alt="{esc(rel)}"><figcaption>{esc(rel)}</figcaption></figure>' for rel, anchor in figures.items())
    title = f"Benchmark report: {result.suite.spec.name}"
    return page(title, body, sortable=True)
