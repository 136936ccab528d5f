"""`aesthetic cull`: the best frame of every burst, as picks.csv and picks.html."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

import typer

from aesthetic.cli_utils import EXIT_FAILED, ConfigSpec, UserError, config_option, console, esc, guarded
from aesthetic.culling.config import CullConfig

MAX_ROWS_SHOWN = 30
#: `cull`'s settings: CullConfig's fields (grouping and read limits), its options and its --config keys.
CULL = ConfigSpec(CullConfig)


def _command(model: Path, photos: list[str], out: Path, flags: list[str]) -> str:
    return " ".join(shlex.quote(str(p)) for p in ["aesthetic", "cull", model, *photos, "--out", out, *flags])


def register(app: typer.Typer) -> None:
    @app.command("cull")
    @guarded
    def cull_cmd(
        model: Path = typer.Argument(..., help="Model bundle (full or student) that scores the photos."),
        photos: List[str] = typer.Argument(..., help="Photos: folders, globs, CSVs or files; several allowed."),
        out: Path = typer.Option(..., "--out", "-o", help="CSV to write (path,group,p_aesthetic,best,...,error); "
                                                          "the page goes beside it with the suffix .html."),
        config: Optional[Path] = config_option(),
        max_distance: Optional[int] = CULL.option("max_distance"),
        burst_max_distance: Optional[int] = CULL.option("burst_max_distance"),
        burst_window: Optional[float] = CULL.option("burst_window_s", "--burst-window"),
        max_file_bytes: Optional[int] = CULL.option("max_file_bytes"),
        max_decode_bytes: Optional[int] = CULL.option("max_decode_bytes"),
        max_pixels: Optional[int] = CULL.option("max_pixels"),
        explain: Optional[str] = typer.Option(None, help="lime | shap: explain each pick; the page links "
                                                         "its overlay."),
        explain_samples: int = typer.Option(300, min=2, help="Perturbed samples per explanation."),
        student: bool = typer.Option(False, "--student", help="Score with the distilled student in MODEL/student."),
        batch_size: int = typer.Option(32, min=1, help="Photos scored per batch."),
        workers: int = typer.Option(4, min=1, help="Decode threads for hashing."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    ) -> None:
        """Group near-duplicates and bursts, score every photo, keep the best of each group (CSV + HTML page).
        Settings: CullConfig (docs/configuration.md), from --config and the options."""
        from aesthetic.bundles.model import STUDENT_DIR, BundleError, load_model
        from aesthetic.culling.picks import cull
        from aesthetic.data import load_manifest
        from aesthetic.imageio import reading_with

        if explain is not None and explain not in ("lime", "shap"):
            raise UserError(f"--explain {explain}: expected lime or shap")
        if out.is_dir():
            raise UserError(f"--out {out}: is a directory; give the CSV file to write, e.g. {out / 'picks.csv'}")
        settings = CULL.build(config, {
            "max_distance": max_distance, "burst_max_distance": burst_max_distance, "burst_window_s": burst_window,
            "max_file_bytes": max_file_bytes, "max_decode_bytes": max_decode_bytes, "max_pixels": max_pixels})
        manifest = load_manifest(photos)
        bundle = model / STUDENT_DIR if student else model
        if student and not bundle.is_dir():
            raise BundleError(f"{model}: no distilled student in {bundle}; run `aesthetic distill "
                              f"{model} --end-to-end` first")
        loaded = load_model(bundle)
        flags = CULL.command_flags(settings.model_dump()) + (["--student"] if student else []) \
            + ([f"--explain={explain}", f"--explain-samples={explain_samples}"] if explain else [])
        with reading_with(settings.read_policy()):  # scoring, explanations and the page's thumbnails
            result = cull(loaded, manifest.paths, settings.grouping(), batch_size=batch_size, workers=workers,
                          progress=not no_progress, skipped=manifest.skipped)
            _write_and_show(result, loaded, model, photos, out, flags, explain, explain_samples, no_progress)


def _write_and_show(result, loaded, model: Path, photos: list[str], out: Path, flags: list[str],
                    explain: Optional[str], explain_samples: int, no_progress: bool) -> None:
    """Explain the picks (when asked), write the CSV and the page, and print the groups and failures."""
    from rich.table import Table

    from aesthetic.culling.html import write_picks_html
    from aesthetic.culling.picks import explain_picks

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
            table.add_row(str(g), str(len(members)), esc(pick.path) if pick.best else "(none scored)",
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
            console.print(f"  {esc(p.path)}: {esc(p.error)}")
    for line in explain_failures:
        console.print(f"[yellow]not explained[/yellow] {esc(line)}")
    console.print(f"picks: {out}", markup=False)
    console.print(f"page:  {html_path}", markup=False)
    if n_scored == 0:
        raise typer.Exit(EXIT_FAILED)
