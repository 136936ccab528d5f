"""Docs that are generated from the code must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_cli_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_reference_lists_every_command():
    text = (REPO / "docs" / "cli.md").read_text()
    for command in ("extract", "branches"):
        assert f"## `aesthetic {command}`" in text
