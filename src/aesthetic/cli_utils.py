"""What every CLI command shares: one console that never wraps paths, and one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console(soft_wrap=True, highlight=False)


def fail(message: object, code: int = 2) -> NoReturn:
    """Print one clear error line (no stack trace) and exit non-zero."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
