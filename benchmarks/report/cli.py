"""`aesthetic benchmark` (a report over a suite of labelled sets) and `aesthetic audit` (data checks)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, List, Optional

import typer

from aesthetic.cli_utils import EXIT_FAILED, ConfigSpec, UserError, config_option, console, esc, guarded
from aesthetic.benchmarks.report.benchmark import BenchmarkOptions

#: `benchmark`'s settings are BenchmarkOptions' fields: its options and its --config keys.
BENCHMARK = ConfigSpec(BenchmarkOptions, exclude=("progress", "extra_training_sets"))
from aesthetic.shared import nima_weights_path


def _audit_set_name(spec: str, taken: set[str]) -> str:
    path = Path(spec)
    if path.suffix.lower() == ".csv":
        name = f"{path.resolve().parent.name}/{path.name}"
    elif path.is_dir():
        name = path.resolve().name
    else:
        name = spec
    base, k = name, 2
    while name in taken:
        name, k = f"{base} ({k})", k + 1
    taken.add(name)
    return name


def _load_sets(specs: list[str], taken: set[str]) -> dict[str, Any]:
    from aesthetic.data import resolve_input

    return {_audit_set_name(s, taken): resolve_input(s) for s in specs}


def _print_audit(report: Any) -> None:
    from rich.table import Table

    table = Table(title="sets")
    for col in ("set", "n", "classes", "unreadable", "orientation per class (landscape/portrait/square)",
                "median size per class (w x h)"):
        table.add_column(col)
    for name, s in report.sets.items():
        orient, sizes = [], []
        for cls, info in s["per_class"].items():
            o = info["orientation"]
            orient.append(f"{cls}: {o.get('landscape', 0)}/{o.get('portrait', 0)}/{o.get('square', 0)}")
            if info["width"] is not None:
                sizes.append(f"{cls}: {info['width']['median']:.0f} x {info['height']['median']:.0f}")
        table.add_row(esc(name) + (" (train)" if name in report.training_sets else ""), str(s["n"]),
                      esc(", ".join(f"{k}: {v}" for k, v in s["class_balance"].items())),
                      str(len(s["unreadable"])), "; ".join(orient), "; ".join(sizes))
    console.print(table)
    for name, s in report.sets.items():
        for bad in s["unreadable"]:
            console.print(f"unreadable in {name}: {bad['path']}: {bad['reason']}", markup=False)
    pairs = [p for v in report.within.values() for p in v] + [p for v in report.across.values() for p in v]
    if pairs:
        console.print(f"duplicates (exact = same bytes; near = pHash distance <= {report.max_distance}): "
                      f"{len(pairs)} pairs")
        for p in pairs[:50]:
            console.print(f"  {p.kind} (distance {p.distance}): [{p.set_a}] {p.path_a}  ~  [{p.set_b}] {p.path_b}",
                          markup=False)
        if len(pairs) > 50:
            console.print(f"  ... and {len(pairs) - 50} more pairs (see --out)")
    else:
        console.print("no duplicates found")
    if report.training_sets:
        n = len(report.leakage)
        console.print("[green]no leakage[/green] between training and other sets" if n == 0 else
                      f"[red]leakage:[/red] {n} pairs shared between training and other sets")


def model_training_items(model: Any) -> tuple[list[Any], str]:
    """Images a loaded bundle was trained on, from the feature store its config names
    (``config["training"]["features"]``), and a sentence saying what was found."""
    import numpy as np

    from aesthetic.feature_store import FeatureStore, FeatureStoreError
    from aesthetic.data import LabeledImage

    store_path = (getattr(model, "config", {}) or {}).get("training", {}).get("features")
    if not store_path:
        return [], "the bundle names no training feature store"
    from aesthetic.classifier.fc import AUG_SEPARATOR

    try:
        with FeatureStore.open(store_path) as store:
            ids, paths, ok = list(store.ids), list(store.paths), np.asarray(store.ok)
    except (OSError, FeatureStoreError) as exc:
        return [], f"its training store {store_path} cannot be read ({exc})"
    # augmented rows (``x.jpg#aug1``) come from the same files as their originals
    unique = list(dict.fromkeys(p for i, p, good in zip(ids, paths, ok) if good and AUG_SEPARATOR not in i))
    items = [LabeledImage(Path(p).resolve(), None, p) for p in unique]
    shown = os.path.relpath(store_path) if not os.path.relpath(store_path).startswith("..") else store_path
    return items, f"{len(items)} training images from its feature store {shown}"


def _benchmark_command(models: list[Path], suite: Path, out: Path, nima: Optional[Path],
                       flags: list[str], model_train: list[str]) -> str:
    parts = ["aesthetic", "benchmark", *[str(m) for m in models], "--suite", str(suite), "--out", str(out)]
    if nima is not None:
        parts += ["--nima", str(nima)]
    for mt in model_train:
        parts += ["--model-train", mt]
    return " ".join(shlex.quote(p) for p in parts + flags)


def _model_scorers(models: list[Path]) -> tuple[list[Any], dict[str, Any], list[str]]:
    """A scorer per model bundle, the training images each names (for the leakage check), and notes."""
    from aesthetic.bundles.model import load_model
    from aesthetic.bundles.scoring import ModelScorer

    scorers, model_sets, notes = [], {}, []
    for m in models:
        if not m.is_dir():
            raise UserError(f"MODEL {m}: not a model bundle folder")
        try:
            loaded = load_model(m)
        except (OSError, ValueError) as exc:
            raise UserError(f"MODEL {m}: {exc}") from None
        scorer = ModelScorer(loaded, getattr(loaded, "name", None) or m.resolve().name)
        scorers.append(scorer)
        items, found = model_training_items(loaded)
        if items:
            model_sets[f"{scorer.name} training"] = items
        notes.append(f"Leakage check for model {scorer.name}: {found}.")
    return scorers, model_sets, notes


def _nima_scorer(nima: Path) -> Any:
    from aesthetic.feature_extraction.nima import NimaScorer
    from aesthetic.bundles.scoring import NimaPeerScorer

    if str(nima) == "nima" and not nima.exists():
        nima = nima_weights_path() or nima
    if not nima.is_file():
        raise UserError(f"--nima {nima}: weights file not found")
    try:
        return NimaPeerScorer(NimaScorer(nima))
    except (OSError, ValueError) as exc:
        raise UserError(f"--nima {nima}: {exc}") from None


def _print_benchmark(result: Any, suite_name: str, written: Path) -> None:
    from rich.table import Table

    table = Table(title=f"accuracy ({esc(suite_name)})")
    table.add_column("scorer")
    for name in result.sets:
        table.add_column(esc(name), justify="right")
    for s in result.scorers:
        table.add_row(esc(s["name"]), *[f"{result.metrics[n][s['name']].accuracy:.3f}"
                                        if s["name"] in result.metrics[n] else "—" for n in result.sets])
    console.print(table)
    if result.audit is not None and result.audit.training_sets:
        n = len(result.audit.leakage)
        console.print("[green]no leakage[/green] between training and benchmark sets" if n == 0 else
                      f"[red]leakage:[/red] {n} training images duplicated in benchmark sets")
    console.print(f"report: {esc(written / 'report.md')}")
    console.print(f"page:   {esc(written / 'report.html')}")


def register(app: typer.Typer) -> None:
    """Add `benchmark`, `splits` and `audit` to ``app``."""
    register_benchmark(app)
    register_splits(app)
    register_audit(app)


def register_benchmark(app: typer.Typer) -> None:
    @app.command("benchmark")
    @guarded
    def benchmark_cmd(
        models: List[Path] = typer.Argument(None, help="Model bundle folder(s) (aesthetic.bundles.model.load_model); "
                                                        "several give one headline row each."),
        suite: Path = typer.Option(..., "--suite", "-s", help="Suite TOML (see benchmarks/suites/)."),
        out: Path = typer.Option(..., "--out", "-o", help="Report folder to write (replaced atomically)."),
        config: Optional[Path] = config_option(),
        nima: Optional[Path] = typer.Option(None, help="NIMA weights file, or 'nima' for the built-in one: "
                                                       "adds the NIMA peer."),
        model_train: List[str] = typer.Option([], "--model-train", help="Images the model(s) were trained on "
                                              "(folder, glob or CSV; repeatable), checked for leakage."),
        baselines: Optional[bool] = BENCHMARK.option("baselines", "--baselines/--no-baselines",
                                                     help="Fit the hand-crafted baselines."),
        robustness: Optional[bool] = BENCHMARK.option("robustness", "--robustness/--no-robustness",
                                                      help="Run the suite's robustness section."),
        sensitivity: Optional[bool] = BENCHMARK.option("sensitivity", "--sensitivity/--no-sensitivity",
                                                       help="Degrade the aesthetic photos, score flat frames and "
                                                            "label-preserving changes (every scorer)."),
        leakage: Optional[bool] = BENCHMARK.option("leakage", "--leakage/--no-leakage",
                                                   help="Audit duplicates train <> sets."),
        batch_size: Optional[int] = BENCHMARK.option("batch_size", help="Images decoded and scored per batch."),
        max_distance: Optional[int] = BENCHMARK.option("max_distance", help="pHash near-duplicate threshold (bits; "
                                                                            "none: the audit's default)."),
        n_bins: Optional[int] = BENCHMARK.option("n_bins", help="Bins of the calibration plots."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    ) -> None:
        """Score MODEL(s), the baselines and the NIMA peer on every set of a suite; write report.md/html/json + PNGs.
        Settings: BenchmarkOptions, from --config and the options."""
        from aesthetic.benchmarks.report.benchmark import run_benchmark
        from aesthetic.benchmarks.report.report import check_report_out, write_report
        from aesthetic.benchmarks.report.suite import load_suite

        models = list(models or [])
        settings = BENCHMARK.merge(config, {"baselines": baselines, "robustness": robustness,
                                            "sensitivity": sensitivity, "leakage": leakage,
                                            "batch_size": batch_size, "max_distance": max_distance,
                                            "n_bins": n_bins})
        inputs = [*models, suite, nima, *[Path(t) for t in model_train]]
        check_report_out(out, inputs)  # before any scoring
        loaded_suite = load_suite(suite)
        inputs += [item.path for rset in loaded_suite.sets.values() for item in rset.items]
        check_report_out(out, inputs)  # nor may the folder hold the suite's images
        scorers, model_sets, notes = _model_scorers(models)
        if nima is not None:
            scorers.append(_nima_scorer(nima))
        if not scorers and not settings["baselines"]:
            raise UserError("nothing to benchmark: give MODEL, --nima or keep --baselines")
        extra = {**model_sets, **{f"--model-train {i + 1}": items
                                  for i, items in enumerate(_load_sets(model_train, set()).values())}}
        options = BenchmarkOptions(**settings, progress=not no_progress, extra_training_sets=extra)
        result = run_benchmark(loaded_suite, scorers, options)
        result.notes.extend(notes)
        command = _benchmark_command(models, suite, out, nima, BENCHMARK.command_flags(settings), model_train)
        written = write_report(result, out, command, inputs)
        _print_benchmark(result, loaded_suite.spec.name, written)


def register_splits(app: typer.Typer) -> None:
    @app.command("splits")
    @guarded
    def splits_cmd(
        suite: Path = typer.Argument(..., help="Suite TOML."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for train.csv and one CSV per set."),
    ) -> None:
        """Write the exact members of a suite's sets and its training set as labels CSVs (train a model on train.csv)."""
        from aesthetic.benchmarks.report.suite import load_suite, write_split_csvs

        loaded = load_suite(suite)
        for name, path in write_split_csvs(loaded, out).items():
            rset = loaded.train if name == "train" else loaded.sets[name]
            console.print(f"{path}: {len(rset.items)} images ({rset.n_positive} aesthetic, "
                          f"{rset.n_negative} not)", markup=False)


def register_audit(app: typer.Typer) -> None:
    @app.command("audit")
    @guarded
    def audit_cmd(
        images: List[str] = typer.Argument(..., help="Sets to audit: each a folder, glob or labels CSV "
                                                     "(a folder with 0/ and 1/ sub-folders gives labels)."),
        against: List[str] = typer.Option([], "--against", help="Training set(s) to check for leakage "
                                                                "(folder, glob or CSV; repeatable)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the full audit as JSON."),
        max_distance: Optional[int] = typer.Option(None, min=0, max=64,
                                                   help="pHash Hamming distance for near duplicates "
                                                        "(default: aesthetic.benchmarks.report.audit.DEFAULT_MAX_DISTANCE)."),
        cross: bool = typer.Option(True, "--cross/--no-cross", help="Also compare the IMAGES sets with each other."),
        fail_on_leakage: bool = typer.Option(False, "--fail-on-leakage", help="Exit 1 when a training image is found in a set."),
        workers: int = typer.Option(2, min=1, help="Decode threads."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    ) -> None:
        """Unreadable files, exact/near duplicates within and across sets (leakage), balance, size, orientation."""
        import json

        from aesthetic.benchmarks.report.audit import DEFAULT_MAX_DISTANCE, audit
        from aesthetic.fileio import atomic_write_text

        taken: set[str] = set()
        sets = _load_sets(images, taken)
        training = _load_sets(against, taken)
        report = audit(sets, training, max_distance=DEFAULT_MAX_DISTANCE if max_distance is None else max_distance,
                       cross_sets=cross, progress=not no_progress, workers=workers)
        _print_audit(report)
        if out is not None:
            atomic_write_text(out, json.dumps(report.to_dict(), indent=2))
            console.print(f"audit: {esc(out)}")
        if fail_on_leakage and report.leakage:
            raise typer.Exit(EXIT_FAILED)
