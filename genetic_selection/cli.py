"""``aesthetic select pca|ga FEATURES.h5 --out SEL``: fit a selector on a feature store and save it.

Heavy imports (numpy, TensorFlow) happen inside the commands so ``aesthetic --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

SELECTOR_HELP = "Output folder: selector.h5 (load with aesthetic.genetic_selection.load_selector)"


def parse_components(text: Optional[str]):
    """``"8464"`` -> int, ``"0.5"`` -> fraction, ``"multigap=8464,efficientnet=0.5"`` -> mapping."""
    from .base import SelectionError

    if text is None:
        return None

    def number(value: str, what: str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise SelectionError(f"--components: {what} {value!r} is not a number") from None

    if "=" not in text:
        return number(text.strip(), "value")
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise SelectionError(f"--components: expected branch=N pairs separated by commas, got {part!r}")
        out[name.strip()] = number(value.strip(), f"value for {name.strip()!r}")
    return out


def _split(text: Optional[str]) -> Optional[list[str]]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _user_errors() -> tuple[type[BaseException], ...]:
    from aesthetic.feature_store import FeatureStoreError

    from .base import SelectionError
    return (SelectionError, FeatureStoreError, FileNotFoundError)


def pca_command(
    features: Path = typer.Argument(..., help="Feature store (.h5 or shard manifest .json)."),
    out: Path = typer.Option(..., "--out", "-o", help=SELECTOR_HELP + "; or a .h5 file"),
    components: Optional[str] = typer.Option(
        None, help="Components: N, a fraction of each branch's width (0.5), or branch=N,... "
                   "[default: multigap=8464,efficientnet=1280]"),
    remainder: str = typer.Option("passthrough", help="Branches --components does not name: passthrough|drop."),
    branches: Optional[str] = typer.Option(None, help="Comma-separated branches to use (default: all)."),
    batch_size: int = typer.Option(2048, help="Rows read and accumulated at a time."),
    whiten: bool = typer.Option(False, help="Scale components to unit variance."),
) -> None:
    """Fit PCA per branch out of core (memory bounded by the width, not the image count)."""
    try:
        from aesthetic.feature_store import FeatureStore

        from .pca import BranchPCA

        selector = BranchPCA(n_components=parse_components(components), remainder=remainder,
                             whiten=whiten, batch_size=batch_size)
        with FeatureStore.open(features) as store:
            selector.fit_store(store, branches=_split(branches))
        written = selector.save(out)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"PCA per branch ({selector.n_samples_seen_} images)")
    for column in ("branch", "width", "output", "variance kept"):
        table.add_column(column)
    for b in selector.branches_:
        plan = selector.plan_[b]
        kept = (f"{100 * selector.explained_variance_ratio_[b].sum():.1f}%" if plan == "pca" else plan)
        output = {"pca": str(selector.n_components_.get(b)), "drop": "0"}.get(plan, str(selector.branch_widths_[b]))
        table.add_row(b, str(selector.branch_widths_[b]), output, kept)
    console = Console()
    console.print(table)
    console.print(f"{selector.n_features_in_} -> {selector.n_features_out_} features; saved {written}")


def ga_command(
    features: Path = typer.Argument(..., help="Feature store (.h5 or shard manifest .json) with labels."),
    out: Path = typer.Option(..., "--out", "-o",
                             help=SELECTOR_HELP + ", checkpoint.json, history.json, fitness.png"),
    population: int = typer.Option(100, help="Individuals per generation."),
    k: int = typer.Option(5000, "--k", help="Features per individual."),
    generations: int = typer.Option(20, help="Generations after the random one (more than a finished run extends it)."),
    seed: int = typer.Option(0, help="Seed of everything random (same seed, same run)."),
    elite: int = typer.Option(2, help="Best individuals kept unchanged."),
    parents: int = typer.Option(50, help="Best individuals that breed; the children replace the rest."),
    window: int = typer.Option(3, help="Consecutive parents voting for each child."),
    keep_fraction: float = typer.Option(0.8, help="Fraction of genes a mutated parent keeps."),
    fitness: str = typer.Option("fc", help="fc (FC validation balanced accuracy) or proxy (ridge, much cheaper)."),
    hidden: str = typer.Option("64,32", help="Hidden layer widths of the FC."),
    epochs: int = typer.Option(10, help="FC training epochs per evaluation."),
    batch_size: int = typer.Option(64, help="FC training batch size."),
    dropout: float = typer.Option(0.3, help="FC dropout rate."),
    learning_rate: float = typer.Option(1e-3, help="FC Adam learning rate."),
    validation_fraction: float = typer.Option(0.2, help="Share of labelled images held out to score fitness."),
    label_threshold: Optional[float] = typer.Option(None, help="Binarise labels: >= threshold is 1."),
    individuals_per_step: Optional[int] = typer.Option(None, help="Individuals trained per batched model "
                                                                  "(default: as many as fit in memory)."),
    memory_budget_mb: float = typer.Option(4096, help="Hold fitness features in RAM up to this, else stream."),
    branches: Optional[str] = typer.Option(None, help="Comma-separated branches to use (default: all)."),
    restart: bool = typer.Option(False, help="Ignore an existing checkpoint in --out and start over."),
    engine: str = typer.Option("local", help="local | ray: each generation's fitness on Ray actors (the cluster "
                                             "in RAY_ADDRESS, else a local Ray), same result."),
) -> None:
    """Select --k features with the genetic algorithm; resumes from --out's checkpoint after a kill."""
    if out.suffix.lower() in (".h5", ".hdf5", ".json"):
        _fail(f"--out {out}: ga writes a folder (selector.h5, checkpoint.json, history.json, fitness.png), "
              f"not a single file")
    try:
        from aesthetic.feature_store import FeatureStore

        from .base import SelectionError
        from .ga import GeneticSelector

        try:
            hidden_sizes = [int(h) for h in _split(hidden) or []]
        except ValueError:
            raise SelectionError(f"--hidden: expected comma-separated ints, got {hidden!r}") from None
        selector = GeneticSelector(
            k=k, population=population, elite=elite, parents=parents, window=window,
            keep_fraction=keep_fraction, generations=generations, seed=seed, fitness=fitness,
            hidden=hidden_sizes, dropout=dropout, epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate, validation_fraction=validation_fraction,
            individuals_per_step=individuals_per_step, label_threshold=label_threshold,
            memory_budget_mb=memory_budget_mb, checkpoint_dir=str(out), resume=not restart, engine=engine)
        with FeatureStore.open(features) as store:
            selector.fit_store(store, branches=_split(branches))
        written = selector.save(out)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    from rich.console import Console

    last = selector.history_[-1]
    Console().print(
        f"GA: best validation balanced accuracy {selector.best_fitness_:.4f} after {selector.n_generations_} generations "
        f"(last generation mean {last['mean']:.4f} +- {last['std']:.4f}); {selector.n_features_out_} of "
        f"{selector.n_features_in_} features. Saved {written}, history.json and fitness.png in {out}")


def register(app: typer.Typer) -> None:
    """Add the ``select`` command group (``pca``, ``ga``) to the ``aesthetic`` app."""
    select = typer.Typer(help="Choose the features the classifier uses: PCA per branch or the genetic algorithm.",
                         no_args_is_help=True)
    select.command("pca")(pca_command)
    select.command("ga")(ga_command)
    app.add_typer(select, name="select")
