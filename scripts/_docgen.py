"""What the doc generators share: write a generated page, or check that it is current."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(out: Path, text: str, argv: list[str], script: str) -> int:
    """``--check`` in argv: 1 if ``out`` differs from ``text``; otherwise write it."""
    if "--check" in argv:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is stale: run .venv/bin/python scripts/{script}", file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0
