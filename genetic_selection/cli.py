"""``aesthetic select pca|ga FEATURES.h5 --out SEL``: fit a selector on a feature store and save it.

TensorFlow is imported only inside the commands so ``aesthetic --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from aesthetic.cli_utils import (ConfigSpec, UserError, config_option, console, esc, guarded, parse_widths,
                                 split_names)

from .ga import GeneticSelector
from .pca import BranchPCA

#: `select pca` and `select ga` settings are the selectors' constructor parameters: options and --config keys.
PCA = ConfigSpec(BranchPCA)
GA = ConfigSpec(GeneticSelector, exclude=("checkpoint_dir", "resume", "progress"))

SELECTOR_HELP = "Output folder: selector.h5 (load with aesthetic.genetic_selection.load_selector)"


def parse_components(text: Optional[str]):
    """``"8464"`` -> int, ``"0.5"`` -> fraction, ``"multigap=8464,efficientnet=0.5"`` -> mapping."""
    if text is None:
        return None

    def number(value: str, what: str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise UserError(f"--components: {what} {value!r} is not a number") from None

    if "=" not in text:
        return number(text.strip(), "value")
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--components: expected branch=N pairs separated by commas, got {part!r}")
        out[name.strip()] = number(value.strip(), f"value for {name.strip()!r}")
    return out


@guarded
def pca_command(
    features: Path = typer.Argument(..., help="Feature store (.h5 or shard manifest .json)."),
    out: Path = typer.Option(..., "--out", "-o", help=SELECTOR_HELP + "; or a .h5 file"),
    config: Optional[Path] = config_option(),
    components: Optional[str] = PCA.option(
        "n_components", "--components",
        help="Components: N, a fraction of each branch's width (0.5), or branch=N,... "
             "(none: multigap=8464, efficientnet=1280)."),
    remainder: Optional[str] = PCA.option("remainder", help="Branches --components does not name: passthrough|drop."),
    branches: Optional[str] = typer.Option(None, help="Comma-separated branches to use (default: all)."),
    batch_size: Optional[int] = PCA.option("batch_size", help="Rows read and accumulated at a time."),
    whiten: Optional[bool] = PCA.option("whiten", "--whiten/--no-whiten", help="Scale components to unit variance."),
) -> None:
    """Fit PCA per branch out of core (memory bounded by the width, not the image count).
    Settings: BranchPCA's parameters (docs/configuration.md), from --config and the options."""
    from rich.table import Table

    from aesthetic.feature_store import FeatureStore
    from aesthetic.outputs import check_output_file

    check_output_file(out / "selector.h5" if out.suffix.lower() not in (".h5", ".hdf5", ".json") else out,
                      what="selector", inputs=[features])
    selector = PCA.build(config, {"n_components": parse_components(components), "remainder": remainder,
                                  "whiten": whiten, "batch_size": batch_size})
    with FeatureStore.open(features) as store:
        selector.fit_store(store, branches=split_names(branches))
    written = selector.save(out)
    table = Table(title=f"PCA per branch ({selector.n_samples_seen_} images)")
    for column in ("branch", "width", "output", "variance kept"):
        table.add_column(column)
    for b in selector.branches_:
        plan = selector.plan_[b]
        kept = (f"{100 * selector.explained_variance_ratio_[b].sum():.1f}%" if plan == "pca" else plan)
        output = {"pca": str(selector.n_components_.get(b)), "drop": "0"}.get(plan, str(selector.branch_widths_[b]))
        table.add_row(b, str(selector.branch_widths_[b]), output, kept)
    console.print(table)
    console.print(f"{selector.n_features_in_} -> {selector.n_features_out_} features; saved {esc(written)}")


@guarded
def ga_command(
    features: Path = typer.Argument(..., help="Feature store (.h5 or shard manifest .json) with labels."),
    out: Path = typer.Option(..., "--out", "-o",
                             help=SELECTOR_HELP + ", checkpoint.json, history.json, fitness.png"),
    config: Optional[Path] = config_option(),
    population: Optional[int] = GA.option("population", help="Individuals per generation."),
    k: Optional[int] = GA.option("k", "--k", help="Features per individual."),
    generations: Optional[int] = GA.option("generations", help="Generations after the random one (more than a "
                                                              "finished run extends it)."),
    seed: Optional[int] = GA.option("seed", help="Seed of everything random (same seed, same run)."),
    elite: Optional[int] = GA.option("elite", help="Best individuals kept unchanged."),
    parents: Optional[int] = GA.option("parents", help="Best individuals that breed; the children replace the rest."),
    window: Optional[int] = GA.option("window", help="Consecutive parents voting for each child."),
    keep_fraction: Optional[float] = GA.option("keep_fraction", help="Fraction of genes a mutated parent keeps."),
    fitness: Optional[str] = GA.option("fitness", help="fc (FC validation balanced accuracy) or proxy (ridge, much cheaper)."),
    hidden: Optional[str] = GA.option("hidden", help="Hidden layer widths of the FC."),
    epochs: Optional[int] = GA.option("epochs", help="FC training epochs per evaluation."),
    batch_size: Optional[int] = GA.option("batch_size", help="FC training batch size."),
    dropout: Optional[float] = GA.option("dropout", help="FC dropout rate."),
    learning_rate: Optional[float] = GA.option("learning_rate", help="FC Adam learning rate."),
    validation_fraction: Optional[float] = GA.option("validation_fraction",
                                                     help="Share of labelled images held out to score fitness."),
    label_threshold: Optional[float] = GA.option("label_threshold", help="Binarise labels: >= threshold is 1."),
    individuals_per_step: Optional[int] = GA.option("individuals_per_step",
                                                    help="Individuals trained per batched model "
                                                         "(none: as many as fit in memory)."),
    memory_budget_mb: Optional[float] = GA.option("memory_budget_mb",
                                                  help="Hold fitness features in RAM up to this, else stream."),
    precision: Optional[str] = GA.option(
        "precision", help="fp32 | bf16 | auto: compute precision of the fitness FC's matmuls (auto: bf16 where the "
                          "hardware runs it natively, else fp32); variables, batch norm and the loss stay fp32."),
    proxy_alpha: Optional[float] = GA.option("proxy_alpha", help="proxy fitness: ridge penalty."),
    proxy_max_rows: Optional[int] = GA.option("proxy_max_rows", help="proxy fitness: rows sampled for the ridge fit."),
    branches: Optional[str] = typer.Option(None, help="Comma-separated branches to use (default: all)."),
    restart: bool = typer.Option(False, "--restart", help="Ignore an existing checkpoint in --out and start over."),
    engine: Optional[str] = GA.option("engine", help="local | ray: each generation's fitness on Ray actors (the "
                                                     "cluster in RAY_ADDRESS, else a local Ray), same result."),
) -> None:
    """Select --k features with the genetic algorithm; resumes from --out's checkpoint after a kill.
    Settings: GeneticSelector's parameters (docs/configuration.md), from --config and the options."""
    from aesthetic.backend import prefer_onednn
    from aesthetic.feature_store import FeatureStore

    prefer_onednn()  # before TensorFlow starts: the fitness's batched matmuls run ~2.5x faster on CPU
    if out.suffix.lower() in (".h5", ".hdf5", ".json"):
        raise UserError(f"--out {out}: ga writes a folder (selector.h5, checkpoint.json, history.json, "
                        f"fitness.png), not a single file")
    options = dict(locals())  # every parameter of this command, by name
    given = {name: value for name, value in options.items() if name in GA.keys}
    given["hidden"] = list(parse_widths(hidden, "--hidden")) if hidden is not None else None
    selector = GA.build(config, given, checkpoint_dir=str(out), resume=not restart)
    with FeatureStore.open(features) as store:
        selector.fit_store(store, branches=split_names(branches))
    written = selector.save(out)
    last = selector.history_[-1]
    console.print(
        f"GA: best validation balanced accuracy {selector.best_fitness_:.4f} after {selector.n_generations_} generations "
        f"(last generation mean {last['mean']:.4f} +- {last['std']:.4f}); {selector.n_features_out_} of "
        f"{selector.n_features_in_} features. Saved {esc(written)}, history.json and fitness.png in {esc(out)}")


def register(app: typer.Typer) -> None:
    """Add the ``select`` command group (``pca``, ``ga``) to the ``aesthetic`` app."""
    select = typer.Typer(help="Choose the features the classifier uses: PCA per branch or the genetic algorithm.",
                         no_args_is_help=True, rich_markup_mode=None)
    select.command("pca")(pca_command)
    select.command("ga")(ga_command)
    app.add_typer(select, name="select")
