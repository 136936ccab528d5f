"""``python -m aesthetic.genetic_selection select pca|ga ...``: the select commands without the full CLI."""

import logging
import os

import typer

from .cli import register

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


register(app)

if __name__ == "__main__":
    app()
