"""`aesthetic explain`: which regions of each photo raised or lowered P(aesthetic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional

import typer

from aesthetic.bundles.scoring import ModelChoiceError, resolve_model, score_function
from aesthetic.cli_utils import EXIT_FAILED, ConfigSpec, UserError, config_option, console, esc, guarded, warn
from aesthetic.precision import PRECISIONS
from aesthetic.explain.pipeline import ExplainConfig
from aesthetic.explain.superpixels import SegmentationConfig

#: `explain`'s settings: ExplainConfig's fields are its --config keys (``segmentation`` a table) and, with
#: SegmentationConfig's, its options.
EXPLAIN = ConfigSpec(ExplainConfig)
SEGMENTATION = ConfigSpec(SegmentationConfig)


def explain_settings(config_file: Optional[Path], given: Mapping[str, Any], segmentation: Mapping[str, Any]
                     ) -> ExplainConfig:
    """ExplainConfig from ``config_file`` overridden by the options ``given`` and the ``segmentation``
    options (None = not given; ``seed`` seeds both the sampling and the superpixels)."""
    values = EXPLAIN.merge(config_file, given)
    overrides = {k: v for k, v in segmentation.items() if v is not None}
    overrides.setdefault("seed", values["seed"])
    seg = {**values["segmentation"].model_dump(), **overrides}
    return ExplainConfig.model_validate({**values, "segmentation": SegmentationConfig.model_validate(seg)})


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
        config: Optional[Path] = config_option(),
        method: Optional[str] = typer.Option(None, help="lime | shap | both  [default: both]"),
        samples: Optional[int] = EXPLAIN.option("num_samples", "--samples", "-n", min=2,
                                                help="Perturbed samples per explanation."),
        through: str = typer.Option("full", help="full (both branches -> selection -> FC) | student"),
        segmentation: Optional[str] = SEGMENTATION.option("method", "--segmentation", help="slic | quickshift | grid"),
        n_segments: Optional[int] = SEGMENTATION.option("n_segments", min=2),
        compactness: Optional[float] = SEGMENTATION.option("compactness"),
        kernel_size: Optional[float] = SEGMENTATION.option("kernel_size"),
        max_dist: Optional[float] = SEGMENTATION.option("max_dist"),
        baseline: Optional[str] = EXPLAIN.option("baseline", help="Fill for removed superpixels: mean | blur | "
                                                                  "superpixel_mean | gray | black."),
        max_side: Optional[int] = EXPLAIN.option("max_side", min=0, help="Explain a copy at most this long "
                                                                         "(0 = full size)."),
        batch_size: Optional[int] = EXPLAIN.option("batch_size", min=1, help="Perturbed images per model call."),
        seed: Optional[int] = EXPLAIN.option("seed", help="Sampling seed (LIME's masks, SHAP's coalitions, "
                                                          "the superpixels)."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
        precision: Optional[str] = typer.Option(
            None, help="fp32 | bf16 | auto: compute precision of the feature networks (full model); "
                       "default: the precision the bundle's features were extracted in."),
    ) -> None:
        """Explain the aesthetic call on each photo: one PNG per photo and method, plus JSON weights.
        Settings: ExplainConfig (docs/configuration.md; `segmentation` a table), from --config and the options."""
        import logging
        import time

        from aesthetic.data import load_manifest
        from aesthetic.explain.explanation import DEFAULT_THRESHOLD
        from aesthetic.explain.pipeline import explain_file, output_stems
        from aesthetic.imageio import ImageReadError

        logging.getLogger("shap").setLevel(logging.WARNING)  # shap logs its sampler plan at INFO
        methods = {"both": ("lime", "shap"), "lime": ("lime",), "shap": ("shap",), None: None}.get(method, ())
        if methods == ():
            raise UserError(f"--method {method}: expected lime, shap or both")
        settings = explain_settings(config, {"methods": methods, "num_samples": samples, "batch_size": batch_size,
                                             "baseline": baseline, "max_side": max_side, "seed": seed},
                                    {"method": segmentation, "n_segments": n_segments, "compactness": compactness,
                                     "kernel_size": kernel_size, "max_dist": max_dist, "seed": seed})
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
                      f"{', '.join(settings.methods)}, {settings.num_samples} samples, "
                      f"{settings.segmentation.describe()}, baseline {settings.baseline}, threshold {threshold:.3f}")

        failures, started = [], time.perf_counter()
        paths = [Path(p) for p in manifest.paths]
        for path, stem in zip(paths, output_stems(paths)):
            try:
                result = explain_file(path, stem, out, score_fn, settings,
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
