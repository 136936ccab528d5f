"""The `aesthetic` command line. Each area registers its own commands (see _COMMAND_MODULES); all of them
run inside the one frame of `aesthetic.cli_utils` (consoles, error path, exit codes, config files)."""

from __future__ import annotations

import importlib
import logging
import os

from typing import Optional

import typer

from aesthetic.backend import BackendError, select_backend
from aesthetic.cli_utils import install_error_frame

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(
    name="aesthetic",
    help="Decide whether photos are aesthetic, explain why, and benchmark it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: it wraps descriptions but never truncates an option name, so `--help` stays
    # readable in an 80-column terminal (rich's option table cut names to `--score-thresh…`).
    rich_markup_mode=None,
)

# Modules exposing `register(app)`; heavy imports happen inside the commands.
_COMMAND_MODULES = [
    "aesthetic.feature_extraction.cli",
    "aesthetic.genetic_selection.cli",
    "aesthetic.classifier.cli",
    "aesthetic.bundles.cli",
    "aesthetic.benchmarks.report.cli",
    "aesthetic.explain.cli",
    "aesthetic.culling.cli",
    "aesthetic.demo",
]


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
          backend: Optional[str] = typer.Option(
              None, "--backend", help="Keras backend: tensorflow (the default), jax or torch; overrides "
                                      "KERAS_BACKEND. Stores and bundles record the backend that made them.")) -> None:
    try:
        select_backend(backend)
    except BackendError as exc:
        raise typer.BadParameter(str(exc), param_hint="--backend") from None
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)
install_error_frame(app)  # every command, present and future, fails the same way (see cli_utils)


def main() -> None:  # pragma: no cover - console entry
    app()
