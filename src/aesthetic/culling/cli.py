"""`aesthetic cull`: the best frame of every burst, as picks.csv and picks.html."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

import typer

from aesthetic.culling.config import GroupingConfig

MAX_ROWS_SHOWN = 30
_DEFAULTS = GroupingConfig()


def _command(model: Path, photos: list[str], out: Path, flags: list[str]) -> str:
    return " ".join(shlex.quote(str(p)) for p in ["aesthetic", "cull", model, *photos, "--out", out, *flags])


def register(app: typer.Typer) -> None:
    @app.command("cull")
    def cull_cmd(
        model: Path = typer.Argument(..., help="Model bundle (full or student) that scores the photos."),
        photos: List[str] = typer.Argument(..., help="Photos: folders, globs, CSVs or files; several allowed."),
        out: Path = typer.Option(..., "--out", "-o", help="CSV to write (path,group,p_aesthetic,best,...,error); "
                                                          "the page goes beside it with the suffix .html."),
        max_distance: int = typer.Option(_DEFAULTS.max_distance, min=0, max=64,
                                         help="pHash distance (bits of 64) that makes two photos one group."),
        burst_max_distance: int = typer.Option(_DEFAULTS.burst_max_distance, min=0, max=64,
                                               help="Looser pHash distance for frames taken within --burst-window."),
        burst_window: float = typer.Option(_DEFAULTS.burst_window_s, min=0.0,
                                           help="Seconds between EXIF capture times that make a burst (0: off)."),
        explain: Optional[str] = typer.Option(None, help="lime | shap: explain each pick; the page links "
                                                         "its overlay."),
        explain_samples: int = typer.Option(300, min=2, help="Perturbed samples per explanation."),
        student: bool = typer.Option(False, "--student", help="Score with the distilled student in MODEL/student."),
        batch_size: int = typer.Option(32, min=1, help="Photos scored per batch."),
        workers: int = typer.Option(4, min=1, help="Decode threads for hashing."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    ) -> None:
        """Group near-duplicates and bursts, score every photo, keep the best of each group (CSV + HTML page)."""
        from pydantic import ValidationError
        from rich.table import Table

        from aesthetic.cli_utils import console, fail
        from aesthetic.culling.html import write_picks_html
        from aesthetic.culling.picks import cull, explain_picks
        from aesthetic.data import DataError, load_manifest
        from aesthetic.bundles.model import STUDENT_DIR, BundleError, load_model

        if explain is not None and explain not in ("lime", "shap"):
            fail(f"--explain {explain}: expected lime or shap")
        if out.is_dir():
            fail(f"--out {out}: is a directory; give the CSV file to write, e.g. {out / 'picks.csv'}")
        try:
            config = GroupingConfig(max_distance=max_distance, burst_max_distance=burst_max_distance,
                                    burst_window_s=burst_window)
        except ValidationError as exc:
            fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
        try:
            manifest = load_manifest(photos)
            bundle = model / STUDENT_DIR if student else model
            if student and not bundle.is_dir():
                raise BundleError(f"{model}: no distilled student in {bundle}; run `aesthetic distill "
                                  f"{model} --end-to-end` first")
            loaded = load_model(bundle)
        except (BundleError, DataError, OSError) as exc:
            fail(exc)

        result = cull(loaded, manifest.paths, config, batch_size=batch_size, workers=workers,
                      progress=not no_progress, skipped=manifest.skipped)
        html_path = out.with_suffix(".html")
        explain_failures: list[str] = []
        if explain is not None:
            from aesthetic.explain.cli import score_function
            from aesthetic.explain.pipeline import ExplainConfig

            explain_dir = out.parent / f"{out.stem}_explanations"
            console.print(f"explaining {len(result.picks())} pick(s) with {explain} ({explain_samples} samples "
                          f"each) into {explain_dir}", markup=False)
            explain_failures = explain_picks(result, score_function(loaded), explain_dir,
                                             ExplainConfig(methods=(explain,), num_samples=explain_samples),
                                             progress=not no_progress)
        flags = [f"--max-distance={max_distance}", f"--burst-max-distance={burst_max_distance}",
                 f"--burst-window={burst_window:g}"] + (["--student"] if student else []) \
            + ([f"--explain={explain}", f"--explain-samples={explain_samples}"] if explain else [])
        result.to_csv(out)
        write_picks_html(result, html_path, out.name, _command(model, photos, out, flags))

        groups = result.groups()
        bursts = [(g, members) for g, members in groups if len(members) > 1]
        if bursts:
            table = Table(title=f"groups of more than one frame ({len(bursts)})")
            for col in ("group", "frames", "pick", "P(aesthetic)", "runner-up"):
                table.add_column(col, overflow="fold")
            for g, members in bursts[:MAX_ROWS_SHOWN]:
                pick = members[0]
                runner_up = members[1] if len(members) > 1 and members[1].scored else None
                table.add_row(str(g), str(len(members)), pick.path if pick.best else "(none scored)",
                              f"{pick.p_aesthetic:.4f}" if pick.scored else "",
                              f"{runner_up.p_aesthetic:.4f}" if runner_up else "")
            console.print(table)
        n_scored = sum(p.scored for p in result.photos)
        console.print(f"{len(result.photos)} photos, {len(groups)} groups ({len(bursts)} with more than one "
                      f"frame), {n_scored} scored", markup=False)
        failures = result.failures()
        if failures:
            console.print(f"[yellow]{len(failures)} photo(s) could not be scored:[/yellow]")
            for p in failures[:MAX_ROWS_SHOWN]:
                console.print(f"  {p.path}: {p.error}", markup=False)
        for line in explain_failures:
            console.print(f"[yellow]not explained[/yellow] {line}")
        console.print(f"picks: {out}", markup=False)
        console.print(f"page:  {html_path}", markup=False)
        if n_scored == 0:
            raise typer.Exit(1)
