"""`aesthetic branches` and `aesthetic extract`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from aesthetic.cli_utils import ConfigSpec, UserError, config_option, console, esc, guarded, warn
from aesthetic.feature_extraction.job import ExtractionConfig

#: `extract`'s settings are ExtractionConfig's fields: its options and its --config keys.
EXTRACTION = ConfigSpec(ExtractionConfig)


def parse_weights(values: list[str], branches: list[str]) -> dict[str, Optional[str]]:
    """``--weights`` items: ``imagenet`` / ``none`` / a path for every branch, or ``branch=spec``."""
    out: dict[str, Optional[str]] = {}
    for item in values:
        if "=" in item:
            name, spec = item.split("=", 1)
            if name not in branches:
                raise UserError(f"--weights {item}: branch {name!r} is not among the branches {','.join(branches)}")
            out[name] = None if spec.lower() == "none" else spec
        else:
            for b in branches:
                out[b] = None if item.lower() == "none" else item
    return out


def register(app: typer.Typer) -> None:
    """Add `branches` and `extract` to ``app``."""
    register_branches(app)
    register_extract(app)


def register_branches(app: typer.Typer) -> None:
    @app.command("branches")
    @guarded
    def branches_cmd() -> None:
        """List the feature branches: width, input policy and known weights files."""
        from rich.table import Table

        from aesthetic.feature_extraction import get_branch, list_branches
        from aesthetic.shared import weights_file

        table = Table(title="feature branches")
        for col in ("name", "width", "input policy", "weights files known", "description"):
            table.add_column(col)
        builtins = []
        for name in list_branches():
            br = get_branch(name)
            known = [k.filename + (f" (built in: --weights {name}={k.builtin})" if k.builtin else "")
                     for k in br.known_weights]
            table.add_row(name, str(br.width), br.data_config.policy.describe(), ", ".join(known) or "-",
                          br.description)
            builtins += [(name, k) for k in br.known_weights if k.builtin]
        console.print(table)
        for name, k in builtins:
            found = weights_file(k.filename)
            console.print(f"built-in weights {name}={k.builtin}: " + (esc(found) if found else "MISSING (broken install)"))


def register_extract(app: typer.Typer) -> None:
    @app.command("extract")
    @guarded
    def extract_cmd(
        images: List[str] = typer.Argument(..., help="Folder, glob or CSV (path[,label]); several allowed."),
        out: Path = typer.Option(..., "--out", "-o", help="HDF5 feature store to write."),
        config: Optional[Path] = config_option(),
        branches: Optional[str] = EXTRACTION.option("branches", help="Comma-separated branch names."),
        weights: Optional[List[str]] = EXTRACTION.option(
            "weights", help="imagenet | none | PATH | nima (the built-in NIMA file, mobilenet only) for every branch, or "
                            "BRANCH=SPEC (repeatable); "
                            "a branch not named uses imagenet."),
        batch_size: Optional[int] = EXTRACTION.option("batch_size", help="Images per forward pass."),
        chunk_size: Optional[int] = EXTRACTION.option("chunk_size", help="Images per resumable part."),
        dtype: Optional[str] = EXTRACTION.option("dtype", help="float16 | float32"),
        compression: Optional[str] = EXTRACTION.option("compression", help="gzip | lzf"),
        input_scale: Optional[float] = EXTRACTION.option("input_scale", help="Shrink every input policy (quick runs)."),
        upscale: Optional[bool] = EXTRACTION.option(
            "upscale", "--upscale/--no-upscale",
            help="Enlarge photos smaller than max side 996 (multigap) so features share one scale."),
        max_pixels: Optional[int] = EXTRACTION.option("max_pixels", help="Refuse larger images before decoding."),
        max_file_bytes: Optional[int] = EXTRACTION.option("max_file_bytes"),
        max_decode_bytes: Optional[int] = EXTRACTION.option("max_decode_bytes"),
        workers: Optional[int] = EXTRACTION.option("workers", help="Decode threads."),
        seed: Optional[int] = EXTRACTION.option("seed", help="Initialisation seed for branches without weights."),
        precision: Optional[str] = EXTRACTION.option(
            "precision", help="fp32 | bf16 | auto: compute precision of the networks (auto: bf16 where the "
                              "hardware runs it natively, else fp32); stored features keep --dtype."),
        engine: str = typer.Option("local", help="local | ray"),
        address: Optional[str] = typer.Option(None, help="Ray cluster address (engine ray)."),
        gpus_per_worker: float = typer.Option(0.0, help="GPUs per Ray model actor (engine ray)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store / partial run."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    ) -> None:
        """Extract features of IMAGES into an HDF5 store; resumable, bad files skipped and listed.
        Settings: ExtractionConfig (docs/configuration.md), from --config and the options."""
        from aesthetic.data import load_manifest
        from aesthetic.feature_extraction import extract

        if engine not in ("local", "ray"):
            raise UserError(f"--engine {engine}: expected local or ray")
        names = [b.strip() for b in branches.split(",") if b.strip()] if branches is not None else None
        settings = EXTRACTION.merge(config, {
            "branches": names, "batch_size": batch_size, "chunk_size": chunk_size, "dtype": dtype,
            "compression": compression, "input_scale": input_scale, "upscale": upscale, "max_pixels": max_pixels,
            "max_file_bytes": max_file_bytes, "max_decode_bytes": max_decode_bytes, "workers": workers, "seed": seed,
            "precision": precision})
        from_file = {b: None if isinstance(v, str) and v.lower() == "none" else v for b, v in settings["weights"].items()}
        settings["weights"] = {**from_file, **parse_weights(weights or [], settings["branches"])}
        settings = EXTRACTION.build(None, settings)
        manifest = load_manifest(images)
        if engine == "ray":
            from aesthetic.feature_extraction.ray_engine import extract_ray

            summary = extract_ray(manifest, out, settings, address=address, gpus_per_worker=gpus_per_worker,
                                  overwrite=overwrite)
        else:
            summary = extract(manifest, out, settings, overwrite=overwrite, progress=not no_progress)
        console.print(esc(summary.line()))
        for path, reason in summary.failures[:20]:
            warn(f"  skipped {path}: {reason}")
        if len(summary.failures) > 20:
            warn(f"  ... and {len(summary.failures) - 20} more (listed in the store's errors column)")
        for path, reason in summary.skipped[:20]:
            warn(f"  not used {path}: {reason}")
        if len(summary.skipped) > 20:
            warn(f"  ... and {len(summary.skipped) - 20} more (listed in the store's metadata, 'skipped')")
