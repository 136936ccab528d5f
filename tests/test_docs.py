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
    import typer.main

    from aesthetic.cli import app

    def names(group, prefix=""):
        for name, command in group.commands.items():
            yield f"{prefix}{name}"
            if hasattr(command, "commands"):
                yield from names(command, f"{prefix}{name} ")

    text = (REPO / "docs" / "cli.md").read_text()
    commands = sorted(names(typer.main.get_command(app)))
    assert len(commands) >= 14, commands  # every command and sub-command (select ga, select pca)
    missing = [c for c in commands if f"## `aesthetic {c}`" not in text]
    assert not missing, f"docs/cli.md lacks {missing}"
