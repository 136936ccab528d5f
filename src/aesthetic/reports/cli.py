"""`aesthetic benchmark` (a report over a suite of labelled sets) and `aesthetic audit` (data checks)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, List, Optional

import typer


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
    from aesthetic.reports.sources import resolve_input

    return {_audit_set_name(s, taken): resolve_input(s) for s in specs}


def _print_audit(report: Any) -> None:
    from rich.table import Table

    from aesthetic.cli_utils import console

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
        table.add_row(name + (" (train)" if name in report.training_sets else ""), str(s["n"]),
                      ", ".join(f"{k}: {v}" for k, v in s["class_balance"].items()),
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
    from aesthetic.reports.sources import LabeledImage

    store_path = (getattr(model, "config", {}) or {}).get("training", {}).get("features")
    if not store_path:
        return [], "the bundle names no training feature store"
    from aesthetic.classifier import AUG_SEPARATOR

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


def register(app: typer.Typer) -> None:
    @app.command("benchmark")
    def benchmark_cmd(
        models: List[Path] = typer.Argument(None, help="Model bundle folder(s) (aesthetic.model.load_model); "
                                                        "several give one headline row each."),
        suite: Path = typer.Option(..., "--suite", "-s", help="Suite TOML (see benchmarks/suites/)."),
        out: Path = typer.Option(..., "--out", "-o", help="Report folder to write (replaced atomically)."),
        nima: Optional[Path] = typer.Option(None, help="NIMA weights file: adds the NIMA peer "
                                                       "(e.g. ../shared/weights/nima_mobilenet_aesthetic.hdf5)."),
        model_train: List[str] = typer.Option([], "--model-train", help="Images the model(s) were trained on "
                                              "(folder, glob or CSV; repeatable), checked for leakage."),
        baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Fit the hand-crafted baselines."),
        robustness: bool = typer.Option(True, "--robustness/--no-robustness", help="Run the suite's robustness section."),
        sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity",
                                         help="Degrade the aesthetic photos, score flat frames and label-preserving "
                                              "changes (every scorer)."),
        leakage: bool = typer.Option(True, "--leakage/--no-leakage", help="Audit duplicates train <> sets."),
        batch_size: int = typer.Option(16, min=1, help="Images decoded and scored per batch."),
        max_distance: Optional[int] = typer.Option(None, min=0, max=64, help="pHash near-duplicate threshold (bits)."),
        no_progress: bool = typer.Option(False, help="No progress bar."),
    ) -> None:
        """Score MODEL(s), the baselines and the NIMA peer on every set of a suite; write report.md/json + PNGs."""
        from aesthetic.cli_utils import console, fail
        from aesthetic.reports.benchmark import BenchmarkOptions, run_benchmark
        from aesthetic.reports.report import ReportError, write_report
        from aesthetic.reports.scorers import ModelScorer, NimaPeerScorer
        from aesthetic.reports.sources import SourceError
        from aesthetic.reports.suite import SuiteError, load_suite

        models = list(models or [])
        model_sets: dict[str, Any] = {}
        notes: list[str] = []
        try:
            loaded_suite = load_suite(suite)
            scorers = []
            if models:
                try:
                    from aesthetic.model import load_model
                except ImportError as exc:
                    fail(f"cannot load models: aesthetic.model is not available ({exc})")
                for m in models:
                    if not m.is_dir():
                        fail(f"MODEL {m}: not a model bundle folder")
                    try:
                        loaded = load_model(m)
                    except (OSError, ValueError) as exc:
                        fail(f"MODEL {m}: {exc}")
                    scorer = ModelScorer(loaded, getattr(loaded, "name", None) or m.resolve().name)
                    scorers.append(scorer)
                    items, found = model_training_items(loaded)
                    if items:
                        model_sets[f"{scorer.name} training"] = items
                    notes.append(f"Leakage check for model {scorer.name}: {found}.")
            if nima is not None:
                if not nima.is_file():
                    fail(f"--nima {nima}: weights file not found")
                from aesthetic.nima import NimaScorer

                try:
                    scorers.append(NimaPeerScorer(NimaScorer(nima)))
                except (OSError, ValueError) as exc:
                    fail(f"--nima {nima}: {exc}")
            if not scorers and not baselines:
                fail("nothing to benchmark: give MODEL, --nima or keep --baselines")
            extra = {**model_sets, **{f"--model-train {i + 1}": items
                                      for i, items in enumerate(_load_sets(model_train, set()).values())}}
            options = BenchmarkOptions(batch_size=batch_size, baselines=baselines, robustness=robustness,
                                       sensitivity=sensitivity, leakage=leakage, max_distance=max_distance, progress=not no_progress,
                                       extra_training_sets=extra)
            result = run_benchmark(loaded_suite, scorers, options)
            result.notes.extend(notes)
            flags = [f for f, on in (("--no-baselines", not baselines), ("--no-robustness", not robustness),
                                     ("--no-sensitivity", not sensitivity), ("--no-leakage", not leakage)) if on]
            if max_distance is not None:
                flags += ["--max-distance", str(max_distance)]
            command = _benchmark_command(models, suite, out, nima, flags, model_train)
            written = write_report(result, out, command)
        except (SuiteError, SourceError, ReportError) as exc:
            fail(exc)

        from rich.table import Table

        table = Table(title=f"accuracy ({loaded_suite.spec.name})")
        table.add_column("scorer")
        for name in result.sets:
            table.add_column(name, justify="right")
        for s in result.scorers:
            table.add_row(s["name"], *[f"{result.metrics[n][s['name']].accuracy:.3f}"
                                       if s["name"] in result.metrics[n] else "—" for n in result.sets])
        console.print(table)
        if result.audit is not None and result.audit.training_sets:
            n = len(result.audit.leakage)
            console.print("[green]no leakage[/green] between training and benchmark sets" if n == 0 else
                          f"[red]leakage:[/red] {n} training images duplicated in benchmark sets")
        console.print(f"report: {written / 'report.md'}")

    @app.command("splits")
    def splits_cmd(
        suite: Path = typer.Argument(..., help="Suite TOML."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for train.csv and one CSV per set."),
    ) -> None:
        """Write the exact members of a suite's sets and its training set as labels CSVs (train a model on train.csv)."""
        from aesthetic.cli_utils import console, fail
        from aesthetic.reports.suite import SuiteError, load_suite, write_split_csvs

        try:
            loaded = load_suite(suite)
        except SuiteError as exc:
            fail(exc)
        for name, path in write_split_csvs(loaded, out).items():
            rset = loaded.train if name == "train" else loaded.sets[name]
            console.print(f"{path}: {len(rset.items)} images ({rset.n_positive} aesthetic, "
                          f"{rset.n_negative} not)", markup=False)

    @app.command("audit")
    def audit_cmd(
        images: List[str] = typer.Argument(..., help="Sets to audit: each a folder, glob or labels CSV "
                                                     "(a folder with 0/ and 1/ sub-folders gives labels)."),
        against: List[str] = typer.Option([], "--against", help="Training set(s) to check for leakage "
                                                                "(folder, glob or CSV; repeatable)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the full audit as JSON."),
        max_distance: Optional[int] = typer.Option(None, min=0, max=64,
                                                   help="pHash Hamming distance for near duplicates "
                                                        "(default: aesthetic.audit.DEFAULT_MAX_DISTANCE)."),
        cross: bool = typer.Option(True, "--cross/--no-cross", help="Also compare the IMAGES sets with each other."),
        fail_on_leakage: bool = typer.Option(False, help="Exit 1 when a training image is found in a set."),
        workers: int = typer.Option(2, min=1, help="Decode threads."),
        no_progress: bool = typer.Option(False, help="No progress bar."),
    ) -> None:
        """Unreadable files, exact/near duplicates within and across sets (leakage), balance, size, orientation."""
        import json

        from aesthetic.audit import DEFAULT_MAX_DISTANCE, audit
        from aesthetic.cli_utils import console, fail
        from aesthetic.feature_store import atomic_write_text
        from aesthetic.reports.sources import SourceError

        try:
            taken: set[str] = set()
            sets = _load_sets(images, taken)
            training = _load_sets(against, taken)
        except SourceError as exc:
            fail(exc)
        report = audit(sets, training, max_distance=DEFAULT_MAX_DISTANCE if max_distance is None else max_distance,
                       cross_sets=cross, progress=not no_progress, workers=workers)
        _print_audit(report)
        if out is not None:
            atomic_write_text(out, json.dumps(report.to_dict(), indent=2))
            console.print(f"audit: {out}")
        if fail_on_leakage and report.leakage:
            raise typer.Exit(1)
