"""`aesthetic branches` and `aesthetic extract`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def parse_weights(values: list[str], branches: list[str]) -> dict[str, Optional[str]]:
    """``--weights`` items: ``imagenet`` / ``none`` / a path for every branch, or ``branch=spec``."""
    out: dict[str, Optional[str]] = {}
    for item in values:
        if "=" in item:
            name, spec = item.split("=", 1)
            if name not in branches:
                raise typer.BadParameter(f"--weights {item}: branch {name!r} is not among --branches {','.join(branches)}")
            out[name] = None if spec.lower() == "none" else spec
        else:
            for b in branches:
                out[b] = None if item.lower() == "none" else item
    return out


def register(app: typer.Typer) -> None:
    @app.command("branches")
    def branches_cmd() -> None:
        """List the feature branches: width, input policy and known weights files."""
        from rich.console import Console
        from rich.table import Table

        from aesthetic.feature_extraction import get_branch, list_branches

        table = Table(title="feature branches")
        for col in ("name", "width", "input policy", "weights files known", "description"):
            table.add_column(col)
        for name in list_branches():
            br = get_branch(name)
            table.add_row(name, str(br.width), br.policy.describe(),
                          ", ".join(k.filename for k in br.known_weights) or "-", br.description)
        Console().print(table)

    @app.command("extract")
    def extract_cmd(
        images: List[str] = typer.Argument(..., help="Folder, glob or CSV (path[,label]); several allowed."),
        out: Path = typer.Option(..., "--out", "-o", help="HDF5 feature store to write."),
        branches: str = typer.Option("multigap,efficientnet", help="Comma-separated branch names."),
        weights: List[str] = typer.Option(["imagenet"], help="imagenet | none | PATH, or BRANCH=SPEC (repeatable)."),
        batch_size: int = typer.Option(8, min=1),
        chunk_size: int = typer.Option(128, min=1, help="Images per resumable part."),
        dtype: str = typer.Option("float16", help="float16 | float32"),
        compression: Optional[str] = typer.Option(None, help="gzip | lzf (none by default)."),
        input_scale: float = typer.Option(1.0, help="Shrink every input policy (quick runs)."),
        upscale: bool = typer.Option(True, "--upscale/--no-upscale",
                                     help="Enlarge photos smaller than max side 996 (multigap) so features share one scale."),
        workers: int = typer.Option(4, min=1, help="Decode threads."),
        seed: int = typer.Option(0, help="Initialisation seed for branches without weights."),
        engine: str = typer.Option("local", help="local | ray"),
        address: Optional[str] = typer.Option(None, help="Ray cluster address (engine ray)."),
        gpus_per_worker: float = typer.Option(0.0, help="GPUs per Ray model actor (engine ray)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store / partial run."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    ) -> None:
        """Extract features of IMAGES into an HDF5 store; resumable, bad files skipped and listed."""
        from aesthetic.cli_utils import console, fail
        from aesthetic.feature_extraction import ExtractionConfig, ExtractionJobError, WeightsError, extract
        from aesthetic.data import DataError, load_manifest

        names = [b.strip() for b in branches.split(",") if b.strip()]
        try:
            config = ExtractionConfig(branches=names, weights=parse_weights(weights, names), batch_size=batch_size,
                                      chunk_size=chunk_size, dtype=dtype, compression=compression,
                                      input_scale=input_scale, upscale=upscale, workers=workers, seed=seed)
            manifest = load_manifest(images)
            if engine == "ray":
                from aesthetic.feature_extraction.ray_engine import extract_ray

                summary = extract_ray(manifest, out, config, address=address, gpus_per_worker=gpus_per_worker,
                                      overwrite=overwrite)
            elif engine == "local":
                summary = extract(manifest, out, config, overwrite=overwrite, progress=not no_progress)
            else:
                raise typer.BadParameter(f"--engine {engine}: expected local or ray")
        except (ValueError, ExtractionJobError, WeightsError, DataError) as exc:
            fail(exc)
        console.print(summary.line())
        for path, reason in summary.failures[:20]:
            console.print(f"  skipped {path}: {reason}")
        if len(summary.failures) > 20:
            console.print(f"  ... and {len(summary.failures) - 20} more (listed in the store's errors column)")
        for path, reason in summary.skipped[:20]:
            console.print(f"  not used {path}: {reason}", markup=False)
        if len(summary.skipped) > 20:
            console.print(f"  ... and {len(summary.skipped) - 20} more (listed in the store's metadata, 'skipped')")
