"""`aesthetic train`, `aesthetic distill` and `aesthetic augment-features`: the classifier's commands."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

def parse_widths(text: str, option: str) -> tuple[int, ...]:
    """``"512,128,32"`` -> ``(512, 128, 32)``, or a clear error naming the option."""
    try:
        widths = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r}: expected comma-separated layer widths such as 512,128,32")
    if not widths or min(widths) < 1:
        raise typer.BadParameter(f"{option} {text!r}: widths must be positive integers")
    return widths


def _metrics_table(title: str, metrics: dict, threshold: float):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("validation metric")
    table.add_column("value", justify="right")
    table.add_row("threshold", f"{threshold:.4f}")
    for key in ("n", "n_aesthetic", "accuracy", "balanced_accuracy", "f1", "auc", "agreement",
                "teacher_correlation", "epochs_run"):
        if key in metrics:
            value = metrics[key]
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


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
    no_class_weight: bool = typer.Option(False, help="Do not re-weight classes."),
    seed: int = typer.Option(0),
) -> None:
    """Train the FC on FEATURES (optionally through a saved selection) and write a model bundle."""
    from pydantic import ValidationError

    from aesthetic.classifier.fc import FCConfig
    from aesthetic.cli_utils import console, fail
    from aesthetic.feature_store import FeatureStoreError
    from aesthetic.genetic_selection.base import SelectionError
    from aesthetic.data import DataError, LabelRule, load_labels
    from aesthetic.bundles.model import BundleError
    from aesthetic.bundles.build import train_from_store

    try:
        config = FCConfig(hidden=parse_widths(hidden, "--hidden"), dropout=dropout, epochs=epochs,
                          patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                          validation_fraction=validation_fraction, threshold_metric=threshold_metric,
                          class_weight="none" if no_class_weight else "balanced", seed=seed)
        rule = LabelRule(source=label_source, threshold=score_threshold, margin=margin)
        table = load_labels(labels, rule) if labels is not None else None
        rule_record = None if labels is None else {**rule.model_dump(), "file": str(labels.resolve()),
                                                   "describe": rule.describe()}
        model, result = train_from_store(
            features, out, selection=selection, labels=table, label_rule=rule_record, fc_config=config,
            branches=[b.strip() for b in branches.split(",")] if branches else None)
    except (ValidationError, DataError, FeatureStoreError, SelectionError, BundleError, ValueError,
            OSError) as exc:
        fail(exc)
    console.print(_metrics_table(f"FC on {model.config['n_features_selected']} features "
                                 f"({', '.join(model.branches)})", result.metrics, result.threshold))
    console.print(f"wrote model bundle [bold]{out}[/bold]")


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
    from aesthetic.bundles.model import BundleError

    given = {k: v for k, v in {"temperature": temperature, "alpha": alpha, "epochs": epochs}.items()
             if v is not None}
    try:
        if end_to_end:
            from aesthetic.classifier.student import StudentConfig
            from aesthetic.bundles.build import distill_end_to_end

            if hidden is not None:
                given["head"] = parse_widths(hidden, "--hidden")
            config = StudentConfig(image_size=image_size, augment=augment,
                                   trainable_backbone_layers=trainable_layers, seed=seed, **given)
            weights = None if backbone_weights.lower() == "none" else backbone_weights
            student, metrics = distill_end_to_end(model, out, features=features, config=config,
                                                  backbone_weights=weights)
            threshold, where = student.threshold, student.path
        else:
            from aesthetic.classifier.distillation import DistillConfig
            from aesthetic.bundles.build import distill_from_bundle

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


def augment_cmd(
    features: Path = typer.Argument(..., help="Feature store whose images to augment."),
    out: Path = typer.Option(..., "--out", "-o", help="New store: original rows + augmented rows."),
    copies: int = typer.Option(2, min=1, help="Augmented copies per image."),
    seed: int = typer.Option(0),
) -> None:
    """Add augmented feature rows (flip, crop, colour/exposure jitter) as ids ID#aug1..N."""
    from aesthetic.classifier.augmentation import augment_store
    from aesthetic.cli_utils import console, fail
    from aesthetic.feature_store import FeatureStore, FeatureStoreError

    try:
        augment_store(features, out, copies=copies, seed=seed)
    except (FeatureStoreError, ValueError, OSError) as exc:
        fail(exc)
    with FeatureStore.open(out) as store:
        console.print(f"wrote {out}: {len(store)} rows ({store.summary()['ok']} ok)")


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("distill")(distill_cmd)
    app.command("augment-features")(augment_cmd)
