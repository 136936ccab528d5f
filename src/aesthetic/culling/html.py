"""``picks.html``: the culling result as a page to look at, beside ``picks.csv``.

One section per group (``<section class="group" data-group="N">``), its frames as embedded
thumbnails ordered best first, the pick framed and badged (``<figure class="frame pick">``),
P(aesthetic) under each frame (and the mean rating when the bundle has one; with quality heads the
P of its content and how clean it is, which tells a frame that lost for blur from one that lost for
what it shows), and for a pick with an explanation a relative link to its LIME/SHAP overlay.
Nothing is fetched from the network; the page works straight from the file system.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Optional

from aesthetic.culling.picks import CulledPhoto, CullResult
from aesthetic.fileio import atomic_write_text
from aesthetic.htmlpage import data_uri, esc, page


def relative_href(target: Path, page_dir: Path) -> str:
    """A URL-quoted link from a page in ``page_dir`` to ``target`` (both on the local file system)."""
    rel = os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())
    return urllib.parse.quote(Path(rel).as_posix())


def _frame(photo: CulledPhoto, result: CullResult, page_dir: Path) -> str:
    name = Path(photo.path).name
    classes = "frame pick" if photo.best else "frame"
    scan = photo.scan
    if scan is not None and scan.thumbnail is not None:
        w, h = scan.size_wh or (0, 0)
        visual = f'<img src="{data_uri(scan.thumbnail, "image/jpeg")}" alt="{esc(name)}" loading="eager">'
        size = f'<span class="muted">{w}×{h}</span>'
    else:
        visual = '<div class="noimage">could not be read</div>'
        size = ""
    lines = []
    if photo.best:
        lines.append('<span class="badge">pick</span>')
    if photo.scored:
        lines.append(f'<span class="score">P {photo.p_aesthetic:.3f}</span>')
        if result.has_mean_score and photo.mean_score is not None:
            lines.append(f'<span class="score">mean {photo.mean_score:.2f}</span>')
        if result.has_heads and photo.p_content is not None:
            lines.append(f'<span class="score" title="the aesthetic head\'s P: what the frame shows">'
                         f'content {photo.p_content:.3f}</span>')
            lines.append(f'<span class="score" title="the quality heads\' factor: near 0 for a blurred, dark, '
                         f'noisy or empty frame">clean {photo.p_clean:.3f}</span>')
    lines.append(size)
    caption = " ".join(x for x in lines if x) + f"<br>{esc(name)}"
    if photo.error:
        caption += f'<br><span class="error">{esc(photo.error)}</span>'
    overlay = result.explanations.get(photo.path)
    if overlay is not None:
        caption += f'<br><a class="explanation" href="{esc(relative_href(overlay, page_dir))}">why (overlay)</a>'
    score = f"{photo.p_aesthetic:.6f}" if photo.scored else ""
    return (f'<figure class="{classes}" title="{esc(photo.path)}" data-path="{esc(photo.path)}" '
            f'data-score="{score}" data-best="{int(photo.best)}">{visual}<figcaption>{caption}</figcaption></figure>')


def render_picks_html(result: CullResult, page_dir: Path, csv_name: str = "picks.csv",
                      command: Optional[str] = None) -> str:
    """The whole page as a string; links are relative to ``page_dir``."""
    groups = result.groups()
    bursts = sum(1 for _, members in groups if len(members) > 1)
    cfg = result.config
    n_scored = sum(p.scored for p in result.photos)
    parts = [f"<h1>Best of each burst</h1>",
             f"<p>{len(result.photos)} photos in {len(groups)} groups ({bursts} with more than one frame); "
             f"{n_scored} scored. The pick of a group is its highest P(aesthetic) "
             f"(model threshold {result.threshold:.3f}).</p>",
             f'<p class="muted">Grouping: pHash distance ≤ {cfg.max_distance} bits, or ≤ '
             f"{cfg.burst_max_distance} bits for frames whose EXIF capture times are at most "
             f"{cfg.burst_window_s:g} s apart. Every row: <a href=\"{esc(urllib.parse.quote(csv_name))}\">"
             f"{esc(csv_name)}</a>.</p>"]
    if command:
        parts.append(f"<pre>{esc(command)}</pre>")
    failures = result.failures()
    if failures:
        parts.append(f'<p class="error">{len(failures)} file(s) could not be scored; they are listed in their '
                     "own groups with the reason.</p>")
    for group, members in groups:
        title = f"Group {group} · {len(members)} frames" if len(members) > 1 else f"Group {group} · single photo"
        frames = "\n".join(_frame(p, result, page_dir) for p in members)
        parts.append(f'<section class="group" id="group-{group}" data-group="{group}" data-size="{len(members)}">'
                     f"<h2>{esc(title)}</h2>\n<div class=\"strip\">\n{frames}\n</div></section>")
    return page("Best of each burst", "\n".join(parts))


def write_picks_html(result: CullResult, html_path: Path, csv_name: str = "picks.csv",
                     command: Optional[str] = None) -> Path:
    """Write the page atomically; returns its path."""
    html_path = Path(html_path)
    atomic_write_text(html_path, render_picks_html(result, html_path.parent, csv_name, command))
    return html_path
