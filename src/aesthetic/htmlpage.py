"""Self-contained HTML pages a person opens from the file system: one skeleton, embedded images.

The culling page (``picks.html``) and the benchmark page (``report.html``) share this: a page
with its CSS and a few lines of JavaScript inline (no CDN, works offline), images embedded as
``data:`` URIs so a page can be mailed or moved on its own, and every text escaped.

Tables with ``class="sortable"`` sort by a click on a header: numbers as numbers (a trailing
``†`` or ``%`` ignored), words alphabetically, cells that hold no value (``—``, ``undefined``,
empty) last either way. The clicked header carries ``aria-sort`` so a reader (and a test)
can see the current order.
"""

from __future__ import annotations

import base64
import html

import cv2
import numpy as np

#: Longest side of an embedded thumbnail (pixels): big enough to judge a frame, small enough
#: that a page of a few hundred photos stays a few megabytes (about 6-12 kB per JPEG).
THUMBNAIL_SIDE = 192
THUMBNAIL_QUALITY = 80

_CSS = """
:root { color-scheme: light; --pick: #1a7f37; --miss: #b42318; --muted: #667085; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1200px;
       padding: 0 1rem; color: #101828; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 0.9em; }
pre { background: #f2f4f7; padding: 0.6rem 0.8rem; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.9rem; }
th, td { border: 1px solid #d0d5dd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
img { max-width: 100%; }
.muted { color: var(--muted); }
.error { color: var(--miss); }
.strip { display: flex; flex-wrap: wrap; gap: 0.6rem; align-items: flex-start; }
figure.frame { margin: 0; padding: 0.35rem; border: 2px solid #d0d5dd; border-radius: 6px; width: 200px;
               background: #fff; }
figure.frame img { display: block; margin: 0 auto; max-height: 192px; }
figure.frame figcaption { font-size: 0.8rem; word-break: break-all; margin-top: 0.25rem; }
figure.pick { border-color: var(--pick); box-shadow: 0 0 0 2px var(--pick); }
figure.miss { border-color: var(--miss); }
.badge { display: inline-block; font-size: 0.75rem; font-weight: 600; color: #fff; background: var(--pick);
         border-radius: 4px; padding: 0 0.35rem; margin-right: 0.3rem; }
.badge.miss { background: var(--miss); }
.score { font-weight: 600; font-variant-numeric: tabular-nums; }
.noimage { width: 180px; height: 120px; display: flex; align-items: center; justify-content: center;
           background: #f2f4f7; color: var(--miss); font-size: 0.8rem; text-align: center; }
section.group { border-top: 1px solid #eaecf0; padding: 0.6rem 0; }
section.group h2 { font-size: 1.05rem; margin: 0.2rem 0 0.5rem; }
"""

_SORT_JS = """
(function () {
  function value(cell) {
    var text = cell.textContent.trim().replace(/[\\u2020%]$/, "");
    if (text === "" || text === "\\u2014" || text === "undefined") return null;
    var number = Number(text.replace(/^\\+/, ""));
    return isNaN(number) ? text.toLowerCase() : number;
  }
  function compare(a, b, sign) {
    if (a === null || b === null) return a === b ? 0 : (a === null ? 1 : -1);
    if (typeof a === typeof b) return (a < b ? -1 : a > b ? 1 : 0) * sign;
    return (typeof a === "number" ? -1 : 1) * sign;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var sign = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", sign === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          return compare(value(r1.cells[column]), value(r2.cells[column]), sign);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""


def esc(value: object) -> str:
    """Text (and attribute values) safe inside HTML: ``& < > " '`` escaped."""
    return html.escape(str(value), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_jpeg(image: np.ndarray, side: int = THUMBNAIL_SIDE, quality: int = THUMBNAIL_QUALITY) -> bytes:
    """``(H, W, 3) uint8`` RGB -> JPEG bytes whose longer side is at most ``side`` (never enlarged)."""
    height, width = image.shape[:2]
    scale = min(1.0, side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def page(title: str, body: str, sortable: bool = False) -> str:
    """A complete HTML document: ``body`` is already-escaped HTML; ``sortable`` adds the table script."""
    script = f"<script>{_SORT_JS}</script>\n" if sortable else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n{script}</body>\n</html>\n")
