"""`aesthetic predict`: score photos with a model bundle."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import List, Optional

import typer

MAX_ROWS_SHOWN = 50


def expand_images(specs: List[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files (kept even when missing, so they are reported), folders, globs and CSVs, in order; and
    ``(path, reason)`` of every file a folder or glob held that is not an image to read."""
    from aesthetic.data import load_manifest

    paths: list[str] = []
    skipped: list[tuple[str, str]] = []
    for spec in specs:
        p = Path(spec).expanduser()
        if p.is_dir() or (p.is_file() and p.suffix.lower() == ".csv") or (
                not p.exists() and any(ch in spec for ch in "*?[") and glob.glob(spec)):
            manifest = load_manifest(spec)
            paths += manifest.paths
            skipped += manifest.skipped
        else:
            paths.append(str(p))
    return paths, skipped


def register(app: typer.Typer) -> None:
    @app.command("predict")
    def predict_cmd(
        model: Path = typer.Argument(..., help="Model bundle (full or student)."),
        images: List[str] = typer.Argument(..., help="Image files, folders, globs or CSVs."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV to write: path,p_aesthetic,label,error."),
        student: bool = typer.Option(False, "--student", help="Use the distilled student in MODEL/student."),
        batch_size: int = typer.Option(32, min=1),
    ) -> None:
        """Score photos: P(aesthetic) and the label at the model's threshold. Unreadable files are listed,
        never fatal (exit 1 only when no image at all could be scored)."""
        from rich.table import Table

        from aesthetic.cli_utils import console, fail
        from aesthetic.data import DataError
        from aesthetic.bundles.model import STUDENT_DIR, BundleError, load_model

        try:
            bundle = model / STUDENT_DIR if student else model
            if student and not bundle.is_dir():
                raise BundleError(f"{model}: no distilled student in {bundle}; run `aesthetic distill "
                                  f"{model} --end-to-end` first")
            loaded = load_model(bundle)
            paths, skipped = expand_images(images)
        except (BundleError, DataError, OSError) as exc:
            fail(exc)
        result = loaded.predict(paths, batch_size=batch_size).with_skipped(skipped)
        if out is not None:
            result.to_csv(out)
        rows = result.rows()
        if len(rows) <= MAX_ROWS_SHOWN:
            table = Table(title=f"{loaded.kind} model, threshold {result.threshold:.4f}")
            table.add_column("path", overflow="fold")
            table.add_column("p_aesthetic", justify="right")
            table.add_column("label")
            for row in rows:
                if not row["error"]:
                    table.add_row(row["path"], f"{row['p_aesthetic']:.4f}",
                                  "aesthetic" if row["label"] == 1 else "not")
            console.print(table)
        n_ok = int(result.ok.sum())
        console.print(f"scored {n_ok} of {len(result)} images; {int((result.labels == 1).sum())} aesthetic"
                      + (f"; predictions written to {out}" if out is not None else ""))
        failures = result.failures()
        if failures:
            console.print(f"[yellow]{len(failures)} image(s) skipped:[/yellow]")
            for path, reason in failures[:MAX_ROWS_SHOWN]:
                console.print(f"  {path}: {reason}")
        if n_ok == 0:
            raise typer.Exit(1)
