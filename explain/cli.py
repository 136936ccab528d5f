"""`aesthetic explain`: which regions of each photo raised or lowered P(aesthetic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from aesthetic.bundles.scoring import ModelChoiceError, resolve_model, score_function
from aesthetic.cli_utils import EXIT_FAILED, UserError, console, esc, guarded, warn
from aesthetic.precision import PRECISIONS


def _load_model(path: Path, precision: str | None = None) -> Any:
    from aesthetic.bundles.model import load_model  # lands with the model bundles (issue 5); imported only here

    return load_model(path, precision=precision)


def _print_explanations(path: Path, result: Any, threshold: float) -> None:
    from aesthetic.explain.explanation import verdict

    for name, explanation in result.explanations.items():
        label, confidence = verdict(explanation.prediction, threshold)
        ranked = explanation.ranking()
        console.print(
            f"{esc(path.name)} {name}: {label} ({100 * confidence:.0f}% confident, P={explanation.prediction:.3f}); "
            f"{explanation.n_superpixels} superpixels; {explanation.n_samples} samples in "
            f"{explanation.seconds:.2f} s ({explanation.samples_per_second:.1f} samples/s); most raised "
            f"#{ranked[0]} {explanation.weights[ranked[0]]:+.3f}, most lowered "
            f"#{ranked[-1]} {explanation.weights[ranked[-1]]:+.3f}")


def register(app: typer.Typer) -> None:
    @app.command("explain")
    @guarded
    def explain_cmd(
        model: Path = typer.Argument(..., help="Model bundle folder (full, or student)."),
        images: List[str] = typer.Argument(..., help="Photos: files, folders, globs or CSVs; several allowed."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for the PNGs and JSONs."),
        method: str = typer.Option("both", help="lime | shap | both"),
        samples: int = typer.Option(1000, "--samples", "-n", min=2, help="Perturbed samples per explanation."),
        through: str = typer.Option("full", help="full (both branches -> selection -> FC) | student"),
        segmentation: str = typer.Option("slic", help="slic | quickshift | grid"),
        n_segments: int = typer.Option(50, min=2, help="slic: target number of superpixels."),
        compactness: float = typer.Option(10.0, help="slic: higher gives squarer superpixels."),
        kernel_size: float = typer.Option(4.0, help="quickshift: kernel width."),
        max_dist: float = typer.Option(200.0, help="quickshift: cut-off distance."),
        baseline: str = typer.Option("mean", help="Fill for removed superpixels: mean | blur | "
                                                  "superpixel_mean | gray | black."),
        max_side: int = typer.Option(996, min=0, help="Explain a copy at most this long (0 = full size); "
                                                      "996 = the largest branch input."),
        batch_size: int = typer.Option(32, min=1, help="Perturbed images per model call."),
        seed: int = typer.Option(0, help="Sampling seed."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
        precision: Optional[str] = typer.Option(
            None, help="fp32 | bf16 | auto: compute precision of the feature networks (full model); "
                       "default: the precision the bundle's features were extracted in."),
    ) -> None:
        """Explain the aesthetic call on each photo: one PNG per photo and method, plus JSON weights."""
        import logging
        import time

        from aesthetic.data import load_manifest
        from aesthetic.explain.explanation import DEFAULT_THRESHOLD
        from aesthetic.explain.pipeline import ExplainConfig, explain_file, output_stems
        from aesthetic.explain.superpixels import SegmentationConfig
        from aesthetic.imageio import ImageReadError

        logging.getLogger("shap").setLevel(logging.WARNING)  # shap logs its sampler plan at INFO
        methods = {"both": ("lime", "shap"), "lime": ("lime",), "shap": ("shap",)}.get(method)
        if methods is None:
            raise UserError(f"--method {method}: expected lime, shap or both")
        config = ExplainConfig(
            methods=methods, num_samples=samples, batch_size=batch_size, baseline=baseline,
            max_side=max_side, seed=seed,
            segmentation=SegmentationConfig(method=segmentation, n_segments=n_segments, compactness=compactness,
                                            kernel_size=kernel_size, max_dist=max_dist, seed=seed))
        if precision is not None and precision not in PRECISIONS:
            raise UserError(f"--precision {precision}: expected fp32, bf16 or auto")
        manifest = load_manifest(images)
        try:
            loader = _load_model if precision is None else (lambda p: _load_model(p, precision))
            loaded, bundle = resolve_model(model, through, loader)
        except ModelChoiceError:
            raise
        except (ImportError, OSError, ValueError) as exc:
            raise UserError(f"MODEL {model}: cannot load ({exc})") from None
        score_fn = score_function(loaded)
        threshold = float(getattr(loaded, "threshold", DEFAULT_THRESHOLD))
        console.print(f"explaining {len(manifest)} photo(s) through the {through} model ({esc(bundle)}), "
                      f"{', '.join(methods)}, {samples} samples, {config.segmentation.describe()}, "
                      f"baseline {baseline}, threshold {threshold:.3f}")

        failures, started = [], time.perf_counter()
        paths = [Path(p) for p in manifest.paths]
        for path, stem in zip(paths, output_stems(paths)):
            try:
                result = explain_file(path, stem, out, score_fn, config,
                                      extra={"model": str(bundle), "through": through},
                                      threshold=threshold, progress=not no_progress)
            except ImageReadError as exc:  # names the file already
                failures.append(str(exc))
                warn(f"skipped {exc}")
                continue
            except ValueError as exc:  # e.g. a 1-pixel photo or one superpixel: nothing to explain
                failures.append(f"{path}: {exc}")
                warn(f"skipped {path}: {exc}")
                continue
            _print_explanations(path, result, threshold)
        done = len(paths) - len(failures)
        console.print(f"{done} photo(s) explained in {time.perf_counter() - started:.1f} s; files in {esc(out)}")
        if failures:
            warn(f"{len(failures)} photo(s) could not be explained")
            raise typer.Exit(EXIT_FAILED)
