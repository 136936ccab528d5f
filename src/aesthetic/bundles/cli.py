"""`aesthetic predict`: score photos with a model bundle."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, List, Optional

import typer

from aesthetic.cli_utils import EXIT_FAILED, ConfigSpec, UserError, config_option, console, esc, guarded, warn
from aesthetic.imageio import ReadPolicy, reading_with
from aesthetic.outputs import check_output_file
from aesthetic.precision import PRECISIONS

MAX_ROWS_SHOWN = 50
#: `predict`'s settings: the limits of reading a photo (its options and its --config keys).
READ = ConfigSpec(ReadPolicy)


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


def _print_predictions(result: Any, kind: str, out: Optional[Path]) -> int:
    """The score table (small runs), the summary line and the skipped files; returns the number scored."""
    from rich.table import Table

    rows = result.rows()
    if len(rows) <= MAX_ROWS_SHOWN:
        table = Table(title=f"{kind} model, threshold {result.threshold:.4f}")
        table.add_column("path", overflow="fold")
        table.add_column("p_aesthetic", justify="right")
        if result.has_scores:
            table.add_column("mean score (1-10)", justify="right")
            table.add_column("score std", justify="right")
        if result.has_heads:
            table.add_column("p_content", justify="right")
            table.add_column("p_clean", justify="right")
        table.add_column("label")
        for row, reason in zip(rows, result.reasons()):
            if not row["error"]:
                ratings = [] if not result.has_scores else [
                    f"{row['mean_score']:.2f}", "—" if row["score_std"] is None else f"{row['score_std']:.2f}"]
                heads = [] if not result.has_heads else [f"{row['p_content']:.4f}", f"{row['p_clean']:.4f}"]
                label = "aesthetic" if row["label"] == 1 else (f"not ({reason})" if reason else "not")
                table.add_row(esc(row["path"]), f"{row['p_aesthetic']:.4f}", *ratings, *heads, label)
        console.print(table)
    n_ok = int(result.ok.sum())
    console.print(f"scored {n_ok} of {len(result)} images; {int((result.labels == 1).sum())} aesthetic"
                  + (f"; predictions written to {esc(out)}" if out is not None else ""))
    failures = result.failures()
    if failures:
        warn(f"{len(failures)} image(s) skipped:")
        for path, reason in failures[:MAX_ROWS_SHOWN]:
            warn(f"  {path}: {reason}")
    return n_ok


def register(app: typer.Typer) -> None:
    @app.command("predict")
    @guarded
    def predict_cmd(
        model: Path = typer.Argument(..., help="Model bundle (full or student)."),
        images: List[str] = typer.Argument(..., help="Image files, folders, globs or CSVs."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV to write: path,p_aesthetic,label,error "
                                       "(plus mean_score,score_std after p_aesthetic for a score bundle, and "
                                       "p_content,p_clean for a bundle with quality heads: "
                                       "p_aesthetic = p_content * p_clean)."),
        student: bool = typer.Option(False, "--student", help="Use the distilled student in MODEL/student."),
        batch_size: int = typer.Option(32, min=1, help="Images scored per model call."),
        precision: Optional[str] = typer.Option(
            None, help="fp32 | bf16 | auto: compute precision of the feature networks (full bundles); "
                       "default: the precision the bundle's features were extracted in."),
        config: Optional[Path] = config_option(),
        max_file_bytes: Optional[int] = READ.option("max_file_bytes"),
        max_decode_bytes: Optional[int] = READ.option("max_decode_bytes"),
        max_pixels: Optional[int] = READ.option("max_pixels"),
    ) -> None:
        """Score photos: P(aesthetic) and the label at the model's threshold. With quality heads (what
        `aesthetic train` makes by default) it also says why a photo is not aesthetic: its content
        (p_content under the threshold) or its quality (damage such as blur, darkness or noise, or an
        empty frame: p_clean pulls it under). Unreadable files are listed, never fatal (exit 1 only when
        no image at all could be scored).
        Settings: ReadPolicy (docs/configuration.md), from --config and the options."""
        from aesthetic.bundles.model import STUDENT_DIR, BundleError, load_model

        limits = READ.build(config, {"max_file_bytes": max_file_bytes, "max_decode_bytes": max_decode_bytes,
                                     "max_pixels": max_pixels})
        bundle = model / STUDENT_DIR if student else model
        if student and not bundle.is_dir():
            raise BundleError(f"{model}: no distilled student in {bundle}; run `aesthetic distill "
                              f"{model} --end-to-end` first")
        if precision is not None and precision not in PRECISIONS:
            raise UserError(f"--precision {precision}: expected fp32, bf16 or auto")
        loaded = load_model(bundle, precision=precision)
        paths, skipped = expand_images(images)
        if out is not None:  # checked before scoring: an input CSV is never overwritten
            check_output_file(out, what="predictions CSV", inputs=[*images, *paths])
        with reading_with(limits):
            result = loaded.predict(paths, batch_size=batch_size).with_skipped(skipped)
        if out is not None:
            result.to_csv(out)
        if _print_predictions(result, loaded.kind, out) == 0:
            raise typer.Exit(EXIT_FAILED)


