"""`aesthetic train`, `aesthetic distill`, `aesthetic predict` and `aesthetic augment-features`."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import List, Optional

import typer

MAX_ROWS_SHOWN = 50


def parse_widths(text: str, option: str) -> tuple[int, ...]:
    """``"512,128,32"`` -> ``(512, 128, 32)``, or a clear error naming the option."""
    try:
        widths = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r}: expected comma-separated layer widths such as 512,128,32")
    if not widths or min(widths) < 1:
        raise typer.BadParameter(f"{option} {text!r}: widths must be positive integers")
    return widths


def expand_images(specs: List[str]) -> list[str]:
    """Files (kept even when missing, so they are reported), folders, globs and CSVs, in order."""
    from aesthetic.datasets import load_manifest

    paths: list[str] = []
    for spec in specs:
        p = Path(spec).expanduser()
        if p.is_dir() or (p.is_file() and p.suffix.lower() == ".csv") or (
                not p.exists() and any(ch in spec for ch in "*?[") and glob.glob(spec)):
            paths += load_manifest(spec).paths
        else:
            paths.append(str(p))
    return paths


def _metrics_table(title: str, metrics: dict, threshold: float):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("held-out metric" if "threshold_from" in metrics else "validation metric")
    table.add_column("value", justify="right")
    table.add_row("threshold", f"{threshold:.4f}")
    for key in ("n", "n_aesthetic", "accuracy", "balanced_accuracy", "f1", "auc", "ece_raw", "ece_calibrated",
                "threshold_from", "agreement", "teacher_correlation", "epochs_run"):
        if key in metrics:
            value = metrics[key]
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        features: Path = typer.Argument(..., help="HDF5 feature store (from `aesthetic extract`)."),
        out: Path = typer.Option(..., "--out", "-o", help="Model bundle folder to write."),
        selection: Optional[Path] = typer.Option(None, "--selection", "-s",
                                                 help="Saved selector (PCA or GA); default: all features."),
        branches: Optional[str] = typer.Option(None, help="Branches to use without --selection (default: all)."),
        labels: Optional[Path] = typer.Option(None, help="Label file (CSV or AVA JSON) instead of the store's labels."),
        label_source: str = typer.Option("binary", help="binary | mean | distribution (for --labels CSVs)."),
        score_threshold: float = typer.Option(5.0, "--score-threshold", help="Mean score above which an image is aesthetic."),
        margin: float = typer.Option(0.0, help="Drop scores within +-margin of the score threshold."),
        hidden: str = typer.Option("512,128,32", help="FC hidden layer widths."),
        dropout: float = typer.Option(0.5),
        epochs: int = typer.Option(200, min=1),
        patience: int = typer.Option(25, min=1),
        batch_size: int = typer.Option(32, min=1),
        learning_rate: float = typer.Option(3e-3),
        validation_fraction: float = typer.Option(0.2),
        threshold_metric: str = typer.Option("balanced_accuracy", help="balanced_accuracy | f1"),
        threshold_folds: int = typer.Option(5, min=0, help="Group k-fold whose out-of-fold scores choose the "
                                                           "threshold and fit the calibration (0: validation rows)."),
        calibration: str = typer.Option("platt", help="platt | none (probability calibration)."),
        no_class_weight: bool = typer.Option(False, help="Do not re-weight classes."),
        sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity",
                                         help="Add degraded copies (not aesthetic), square/portrait crops "
                                              "(aesthetic) and flat frames (not) when the photos are readable."),
        sensitivity_copies: int = typer.Option(16, min=0, help="Degraded copies per aesthetic photo."),
        synthetic_frames: int = typer.Option(90, min=0, help="Flat/gradient/blurred frames added as not aesthetic."),
        sensitivity_cache: Optional[Path] = typer.Option(
            None, help="Feature store caching the sensitivity rows (default: FEATURES.sensitivity.h5)."),
        seed: int = typer.Option(0),
    ) -> None:
        """Train the FC on FEATURES (optionally through a saved selection) and write a model bundle.

        By default the aesthetic photos also teach what a spoiled photo looks like (sensitivity
        training: blurred, down-scaled, JPEG-damaged, badly exposed, noisy, tilted and badly
        cropped copies labelled not aesthetic, plus flat frames); the threshold and a Platt
        calibration come from out-of-fold scores."""
        from pydantic import ValidationError

        from aesthetic.classifier import FCConfig
        from aesthetic.cli_utils import console, fail
        from aesthetic.feature_store import FeatureStoreError
        from aesthetic.genetic_selection.base import SelectionError
        from aesthetic.labels import LabelError, LabelRule, load_labels
        from aesthetic.model import BundleError
        from aesthetic.sensitivity import SensitivityConfig
        from aesthetic.training import train_from_store

        try:
            config = FCConfig(hidden=parse_widths(hidden, "--hidden"), dropout=dropout, epochs=epochs,
                              patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                              validation_fraction=validation_fraction, threshold_metric=threshold_metric,
                              threshold_folds=threshold_folds, calibration=calibration,
                              class_weight="none" if no_class_weight else "balanced", seed=seed)
            sens = SensitivityConfig(copies=sensitivity_copies, synthetic_frames=synthetic_frames,
                                     seed=seed) if sensitivity else None
            rule = LabelRule(source=label_source, threshold=score_threshold, margin=margin)
            table = load_labels(labels, rule) if labels is not None else None
            rule_record = None if labels is None else {**rule.model_dump(), "file": str(labels.resolve()),
                                                       "describe": rule.describe()}
            model, result = train_from_store(
                features, out, selection=selection, labels=table, label_rule=rule_record, fc_config=config,
                branches=[b.strip() for b in branches.split(",")] if branches else None,
                sensitivity=sens, sensitivity_cache=sensitivity_cache)
        except (ValidationError, LabelError, FeatureStoreError, SelectionError, BundleError, ValueError,
                OSError) as exc:
            fail(exc)
        record = model.config.get("sensitivity", {})
        if record.get("status") == "on":
            added = ", ".join(f"{n} {k}" for k, n in record.get("rows", {}).items())
            console.print(f"sensitivity training on: {record['readable']} aesthetic photos gave {added} "
                          f"(cached in {record.get('cache')})")
        else:
            console.print(f"sensitivity training {record.get('status', 'off')}")
        console.print(_metrics_table(f"FC on {model.config['n_features_selected']} features "
                                     f"({', '.join(model.branches)})", result.metrics, result.threshold))
        console.print(f"wrote model bundle [bold]{out}[/bold]")

    @app.command("distill")
    def distill_cmd(
        model: Path = typer.Argument(..., help="Teacher: a full model bundle."),
        out: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Student bundle folder (end-to-end default: MODEL/student)."),
        end_to_end: bool = typer.Option(False, "--end-to-end", help="Train a MobileNet on pixels instead of an FC."),
        features: Optional[Path] = typer.Option(None, help="Feature store (default: the teacher's training store)."),
        selection: Optional[Path] = typer.Option(None, help="FC student: saved selector (default: the teacher's)."),
        ensemble: List[Path] = typer.Option([], help="More teacher bundles; logits are averaged (repeatable)."),
        temperature: Optional[float] = typer.Option(None, help="Distillation temperature (FC 4, end-to-end 2)."),
        alpha: Optional[float] = typer.Option(None, help="Weight of the hard-label term (FC 0.3, end-to-end 0.2)."),
        hidden: Optional[str] = typer.Option(None, help="Student layer widths (FC 128,32,8; end-to-end head 128)."),
        epochs: Optional[int] = typer.Option(None, min=1, help="Max epochs (FC 200, end-to-end 15)."),
        image_size: int = typer.Option(224, min=32, help="End-to-end input side."),
        augment: bool = typer.Option(False, help="End-to-end: flips, crops, colour/exposure jitter on the fly."),
        trainable_layers: int = typer.Option(0, min=0, help="End-to-end: backbone layers to fine-tune."),
        backbone_weights: str = typer.Option("nima", help="End-to-end: nima | PATH | none."),
        seed: int = typer.Option(0),
    ) -> None:
        """Distil MODEL into a smaller FC on the selected features, or (--end-to-end) a pixel CNN."""
        from pydantic import ValidationError

        from aesthetic.cli_utils import console, fail
        from aesthetic.feature_store import FeatureStoreError
        from aesthetic.genetic_selection.base import SelectionError
        from aesthetic.model import BundleError

        given = {k: v for k, v in {"temperature": temperature, "alpha": alpha, "epochs": epochs}.items()
                 if v is not None}
        try:
            if end_to_end:
                from aesthetic.student import StudentConfig, distill_end_to_end

                if hidden is not None:
                    given["head"] = parse_widths(hidden, "--hidden")
                config = StudentConfig(image_size=image_size, augment=augment,
                                       trainable_backbone_layers=trainable_layers, seed=seed, **given)
                weights = None if backbone_weights.lower() == "none" else backbone_weights
                student, metrics = distill_end_to_end(model, out, features=features, config=config,
                                                      backbone_weights=weights)
                threshold, where = student.threshold, student.path
            else:
                from aesthetic.distillation import DistillConfig
                from aesthetic.training import distill_from_bundle

                if out is None:
                    raise typer.BadParameter("--out is required for an FC student")
                if hidden is not None:
                    given["hidden"] = parse_widths(hidden, "--hidden")
                config = DistillConfig(seed=seed, **given)
                student, result = distill_from_bundle(model, out, features=features, selection=selection,
                                                      ensemble=ensemble, config=config)
                metrics, threshold, where = result.metrics, result.threshold, student.path
        except (ValidationError, FeatureStoreError, SelectionError, BundleError, ValueError, OSError) as exc:
            fail(exc)
        console.print(_metrics_table("distilled student", metrics, threshold))
        console.print(f"wrote student bundle [bold]{where}[/bold]")

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
        from aesthetic.datasets import ManifestError
        from aesthetic.model import STUDENT_DIR, BundleError, load_model

        try:
            bundle = model / STUDENT_DIR if student else model
            if student and not bundle.is_dir():
                raise BundleError(f"{model}: no distilled student in {bundle}; run `aesthetic distill "
                                  f"{model} --end-to-end` first")
            loaded = load_model(bundle)
            paths = expand_images(images)
        except (BundleError, ManifestError, OSError) as exc:
            fail(exc)
        result = loaded.predict(paths, batch_size=batch_size)
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

    @app.command("augment-features")
    def augment_cmd(
        features: Path = typer.Argument(..., help="Feature store whose images to augment."),
        out: Path = typer.Option(..., "--out", "-o", help="New store: original rows + augmented rows."),
        copies: int = typer.Option(2, min=1, help="Augmented copies per image."),
        seed: int = typer.Option(0),
    ) -> None:
        """Add augmented feature rows (flip, crop, colour/exposure jitter) as ids ID#aug1..N."""
        from aesthetic.augmentation import augment_store
        from aesthetic.cli_utils import console, fail
        from aesthetic.feature_store import FeatureStore, FeatureStoreError

        try:
            augment_store(features, out, copies=copies, seed=seed)
        except (FeatureStoreError, ValueError, OSError) as exc:
            fail(exc)
        with FeatureStore.open(out) as store:
            console.print(f"wrote {out}: {len(store)} rows ({store.summary()['ok']} ok)")
