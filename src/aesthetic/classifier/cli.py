"""`aesthetic train`, `aesthetic distill` and `aesthetic augment-features`: the classifier's commands."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from aesthetic.classifier.fc import FCConfig
from aesthetic.outputs import check_output_file
from aesthetic.cli_utils import (EXIT_FAILED, ConfigSpec, UserError, config_option, console, esc, guarded,
                                 parse_widths, warn)
from aesthetic.data import LabelRule
from aesthetic.classifier.scores import ScoreRule
from aesthetic.classifier.sensitivity import SensitivityConfig
from aesthetic.classifier.student import StudentConfig

#: `train`'s settings are FCConfig's fields (options and --config keys); the label options are LabelRule's.
FC = ConfigSpec(FCConfig)
LABELS = ConfigSpec(LabelRule)
STUDENT = ConfigSpec(StudentConfig)
SCORE_RULE = ConfigSpec(ScoreRule)
SENSITIVITY = ConfigSpec(SensitivityConfig)


def _metrics_table(title: str, metrics: dict, threshold: float):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("held-out metric" if "threshold_from" in metrics else "validation metric")
    table.add_column("value", justify="right")
    table.add_row("threshold", f"{threshold:.4f}")
    for key in ("n", "n_aesthetic", "accuracy", "balanced_accuracy", "f1", "auc", "ece_raw", "ece_calibrated",
                "aesthetic_head_balanced_accuracy", "quality_auc", "quality_degraded_below_half",
                "threshold_from", "srcc", "plcc", "mae", "emd", "agreement", "teacher_correlation", "teacher_srcc", "epochs_run"):
        if key in metrics:
            value = metrics[key]
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def _sensitivity_line(record: dict) -> str:
    """What `train` says about sensitivity training, from the bundle's ``config["sensitivity"]``."""
    if record.get("status") != "on":
        return f"sensitivity training {esc(record.get('status', 'off'))}"
    added = ", ".join(f"{n} {k}" for k, n in record.get("rows", {}).items())
    design = "two heads: P = aesthetic head x quality head" if record.get("design") == "two_heads" else "one head"
    if record.get("stats_quality_head"):
        kinds = record.get("config", {})
        design = (f"three heads: P = aesthetic head x CNN quality head ({', '.join(kinds.get('cnn_kinds', []))}) "
                  f"x {record['stats_quality_head']} quality head ({', '.join(kinds.get('stats_kinds', []))})")
    return (f"sensitivity training on ({design}): {record['readable']} photos ({record['aesthetic_readable']} "
            f"aesthetic) gave {added} (cached in {esc(record.get('cache'))})")


def register(app: typer.Typer) -> None:
    """Add `train`, `distill` and `augment-features` to ``app``."""
    register_train(app)
    register_distill(app)
    register_augment(app)


def register_train(app: typer.Typer) -> None:
    @app.command("train")
    @guarded
    def train_cmd(
        features: Path = typer.Argument(..., help="HDF5 feature store (from `aesthetic extract`)."),
        out: Path = typer.Option(..., "--out", "-o", help="Model bundle folder to write."),
        config: Optional[Path] = config_option(),
        selection: Optional[Path] = typer.Option(None, "--selection", "-s",
                                                 help="Saved selector (PCA or GA); default: all features."),
        branches: Optional[str] = typer.Option(None, help="Branches to use without --selection (default: all)."),
        labels: Optional[Path] = typer.Option(None, help="Label file (CSV or AVA JSON) instead of the store's labels."),
        label_source: Optional[str] = LABELS.option("source", "--label-source",
                                                    help="binary | mean | distribution (for --labels CSVs)."),
        target: str = typer.Option("binary", help="binary: P(aesthetic) from 0/1 labels | distribution: 10-way "
                                                  "rating head, EMD loss (needs distributions) | mean: mean-score "
                                                  "head, Huber loss (needs 1-10 scores)."),
        score_scale: Optional[float] = SCORE_RULE.option("scale", "--score-scale",
                                                         help="Score heads: P(aesthetic) = sigmoid((mean - score "
                                                              "threshold) / scale)."),
        score_threshold: Optional[float] = LABELS.option("threshold", "--score-threshold",
                                                         help="Mean score above which an image is aesthetic."),
        margin: Optional[float] = LABELS.option("margin", help="Drop scores within +-margin of the score threshold."),
        hidden: Optional[str] = FC.option("hidden"),
        dropout: Optional[float] = FC.option("dropout"),
        l2: Optional[float] = FC.option("l2"),
        epochs: Optional[int] = FC.option("epochs"),
        patience: Optional[int] = FC.option("patience"),
        batch_size: Optional[int] = FC.option("batch_size"),
        learning_rate: Optional[float] = FC.option("learning_rate"),
        validation_fraction: Optional[float] = FC.option("validation_fraction"),
        threshold_metric: Optional[str] = FC.option("threshold_metric"),
        threshold_folds: Optional[int] = FC.option("threshold_folds",
                                                   help="Group k-fold whose out-of-fold scores choose the threshold "
                                                        "and fit the calibration; the model is the mean of the k "
                                                        "FCs (0: one FC, validation rows)."),
        calibration: Optional[str] = FC.option("calibration"),
        class_weight: Optional[str] = FC.option("class_weight"),
        seed: Optional[int] = FC.option("seed"),
        sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity",
                                         help="Add degraded copies and flat frames (not aesthetic), "
                                              "square/portrait crops and mirrors (label kept) when the photos "
                                              "are readable; a score head trains the degraded ones towards a "
                                              "low score."),
        sensitivity_copies: Optional[int] = SENSITIVITY.option("copies", "--sensitivity-copies",
                                                               help="Degraded copies per aesthetic photo."),
        sensitivity_design: Optional[str] = SENSITIVITY.option("design", "--sensitivity-design", help=(
            "two_heads: P = aesthetic head x quality head (clean vs degraded copies of both classes) | "
            "one_head: copies mixed into one FC as not aesthetic.")),
        synthetic_frames: Optional[int] = SENSITIVITY.option("synthetic_frames", "--synthetic-frames",
                                                             help="Flat/gradient/blurred frames added as "
                                                                  "not aesthetic."),
        sensitivity_cache: Optional[Path] = typer.Option(
            None, help="Feature store caching the sensitivity rows (default: FEATURES.sensitivity.h5)."),
    ) -> None:
        """Train the FC on FEATURES (optionally through a saved selection) and write a model bundle.
        Settings: FCConfig (docs/configuration.md), from --config and the options.

        By default the aesthetic photos also teach what a spoiled photo looks like (sensitivity
        training: blurred, down-scaled, JPEG-damaged, badly exposed, noisy, tilted and badly
        cropped copies labelled not aesthetic, plus flat frames); the threshold and a Platt
        calibration come from out-of-fold scores."""
        from aesthetic.data import load_labels
        from aesthetic.bundles.build import train_from_store
        from aesthetic.bundles.model import check_bundle_out

        check_bundle_out(out, [features, selection, labels])  # before any work
        if sensitivity_cache is not None and any(
                item is not None and Path(item).resolve() == sensitivity_cache.resolve()
                for item in (features, selection, labels)):
            raise UserError(f"--sensitivity-cache {sensitivity_cache}: it is an input of this command, which "
                            f"the cache would replace; give another file")

        fc_config = FC.build(config, {
            "hidden": parse_widths(hidden, "--hidden") if hidden is not None else None, "dropout": dropout,
            "l2": l2, "epochs": epochs, "patience": patience, "batch_size": batch_size,
            "learning_rate": learning_rate, "validation_fraction": validation_fraction,
            "threshold_metric": threshold_metric, "threshold_folds": threshold_folds, "calibration": calibration,
            "class_weight": class_weight, "seed": seed})
        sens = SENSITIVITY.build(None, {"copies": sensitivity_copies, "synthetic_frames": synthetic_frames,
                                        "design": sensitivity_design,
                                        "seed": fc_config.seed}) if sensitivity else None
        rule = LABELS.build(None, {"source": label_source, "threshold": score_threshold, "margin": margin})
        table = load_labels(labels, rule) if labels is not None else None
        rule_record = None if labels is None else {**rule.model_dump(), "file": str(labels.resolve()),
                                                   "describe": rule.describe()}
        if target not in ("binary", "distribution", "mean"):
            raise UserError(f"--target {target!r}: expected binary, distribution or mean")
        score_rule = SCORE_RULE.build(None, {"threshold": score_threshold, "scale": score_scale})
        model, result = train_from_store(
            features, out, selection=selection, labels=table, label_rule=rule_record, fc_config=fc_config,
            branches=[b.strip() for b in branches.split(",")] if branches else None, target=target,
            score_rule=score_rule, sensitivity=sens, sensitivity_cache=sensitivity_cache)
        console.print(_sensitivity_line(model.config.get("sensitivity", {})))
        head = "" if target == "binary" else f", {target} head"
        console.print(_metrics_table(f"FC on {model.config['n_features_selected']} features "
                                     f"({', '.join(model.branches)}{head})", result.metrics, result.threshold))
        console.print(f"wrote model bundle [bold]{esc(out)}[/bold]")


def register_distill(app: typer.Typer) -> None:
    @app.command("distill")
    @guarded
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
        epochs: Optional[int] = typer.Option(None, help="Max epochs (FC 200, end-to-end 15)."),
        image_size: Optional[int] = STUDENT.option("image_size", help="End-to-end input side."),
        augment: Optional[bool] = STUDENT.option("augment", "--augment/--no-augment",
                                                 help="End-to-end: flips, crops, colour/exposure jitter on the fly."),
        trainable_layers: Optional[int] = STUDENT.option("trainable_backbone_layers", "--trainable-layers",
                                                         help="End-to-end: backbone layers to fine-tune."),
        backbone_weights: str = typer.Option("nima", help="End-to-end: nima | PATH | none."),
        seed: Optional[int] = typer.Option(None, help="Seed of the split, the initial weights and dropout (0)."),
    ) -> None:
        """Distil MODEL into a smaller FC on the selected features, or (--end-to-end) a pixel CNN."""
        given = {"temperature": temperature, "alpha": alpha, "epochs": epochs, "seed": seed}
        if end_to_end:
            from aesthetic.bundles.build import distill_end_to_end

            given.update(head=parse_widths(hidden, "--hidden") if hidden is not None else None,
                         image_size=image_size, augment=augment, trainable_backbone_layers=trainable_layers)
            config = STUDENT.build(None, given)
            weights = None if backbone_weights.lower() == "none" else backbone_weights
            student, metrics = distill_end_to_end(model, out, features=features, config=config,
                                                  backbone_weights=weights)
            threshold, where = student.threshold, student.path
        else:
            from aesthetic.classifier.distillation import DistillConfig
            from aesthetic.bundles.build import distill_from_bundle

            if out is None:
                raise UserError("--out is required for an FC student")
            given["hidden"] = parse_widths(hidden, "--hidden") if hidden is not None else None
            config = ConfigSpec(DistillConfig).build(None, given)
            student, result = distill_from_bundle(model, out, features=features, selection=selection,
                                                  ensemble=ensemble, config=config)
            metrics, threshold, where = result.metrics, result.threshold, student.path
        console.print(_metrics_table("distilled student", metrics, threshold))
        console.print(f"wrote student bundle [bold]{esc(where)}[/bold]")


def register_augment(app: typer.Typer) -> None:
    @app.command("augment-features")
    @guarded
    def augment_cmd(
        features: Path = typer.Argument(..., help="Feature store whose images to augment."),
        out: Path = typer.Option(..., "--out", "-o", help="New store: original rows + augmented rows."),
        copies: int = typer.Option(2, min=1, help="Augmented copies per image."),
        seed: int = typer.Option(0, help="Seed of the random augmentations."),
    ) -> None:
        """Add augmented feature rows (flip, crop, colour/exposure jitter) as ids ID#aug1..N."""
        from aesthetic.classifier.augmentation import augment_store
        from aesthetic.feature_store import FeatureStore

        check_output_file(out, what="feature store", inputs=[features])
        augment_store(features, out, copies=copies, seed=seed)
        with FeatureStore.open(out) as store:
            console.print(f"wrote {esc(out)}: {len(store)} rows ({store.summary()['ok']} ok)")
