"""The docs' table of contents lists every page, and relative links in the docs resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links inside code blocks are code
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+://|mailto:", t)]


def test_index_lists_every_page():
    index = (DOCS / "index.md").read_text()
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md")
    assert {"quickstart.md", "cli.md", "python_api.md", "configuration.md", "data_formats.md",
            "scaling.md", "model_card.md"} <= set(pages)
    missing = [p for p in pages if f"]({p})" not in index]
    assert not missing, f"docs/index.md does not list {missing}"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_relative_links_resolve(page):
    source = DOCS / page
    broken = []
    for target in relative_links(source):
        path, _, anchor = target.partition("#")
        file = (source.parent / path).resolve() if path else source
        if not file.exists():
            broken.append(f"{target} (no {file})")
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.M)
            if anchor not in {slug(h) for h in headings}:
                broken.append(f"{target} (no heading #{anchor} in {file.name})")
    assert not broken, f"{page}: broken links: {broken}"


def test_slug_matches_github():
    assert slug("Benchmark suite TOML") == "benchmark-suite-toml"
    assert slug("Image sources (`IMAGES` arguments)") == "image-sources-images-arguments"
