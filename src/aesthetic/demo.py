"""`aesthetic demo`: the whole pipeline, offline, on real photos, as the commands a user would type.

Stages: split the benchmark suite (so no benchmark photo is trained on) -> extract
features -> select (PCA and a short GA) -> train the FC -> distil (FC student and
end-to-end student) -> benchmark report -> explain one photo. Each stage is the
real `aesthetic ...` command, printed before it runs, so the demo doubles as a
tutorial.

Photos: ``../shared/data`` beside the checkout when present; otherwise the CC0
wallpapers in ``examples/photos`` plus scikit-image's sample photos as negatives
(a smoke run, not a benchmark). Weights: the NIMA MobileNet file for the
``mobilenet`` branch; with ``--two-branch auto`` the ImageNet two-branch model is
extracted too when the ImageNet weights can be had (internet or Keras cache).
"""

from __future__ import annotations

import csv
import logging
import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import typer

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class DemoPaths:
    """Every artifact the demo promises, relative to its output folder."""

    root: Path
    artifacts: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Path:
        return self.artifacts[key]

    def add(self, key: str, relative: str) -> Path:
        self.artifacts[key] = self.root / relative
        return self.artifacts[key]


def _find_shared() -> Optional[Path]:
    for parent in [REPO, *REPO.parents][:3]:
        candidate = parent.parent / "shared" if parent == REPO else parent / "shared"
        if (candidate / "data" / "curated_vs_snapshot" / "labels.csv").is_file():
            return candidate
    return None


def _imagenet_reachable() -> bool:
    """True when Keras could fetch ImageNet weights (they are cached, or the host answers)."""
    cache = Path.home() / ".keras" / "models"
    cached = {"inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "efficientnetb7_notop.h5"}
    if cache.is_dir() and cached <= {p.name for p in cache.iterdir()}:
        return True
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


def _fallback_data(folder: Path) -> Path:
    """CC0 wallpapers (1) + scikit-image's public-domain sample photos (0) as a labels CSV."""
    import cv2
    from skimage import data as skdata

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in csv.DictReader(open(REPO / "examples" / "photos" / "labels.csv")):
        rows.append((str(REPO / "examples" / "photos" / row["path"]), "1"))
    for name in ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "hubble_deep_field",
                 "retina", "camera", "brick"):
        try:
            image = getattr(skdata, name)()
        except Exception:  # a sample that needs a download (pooch) is skipped
            continue
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        path = folder / f"skimage_{name}.jpg"
        cv2.imwrite(str(path), image[:, :, :3][:, :, ::-1])
        rows.append((str(path), "0"))
    labels = folder / "labels.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return labels


def _fallback_suite(folder: Path, labels: Path) -> Path:
    suite = folder / "suite.toml"
    suite.write_text(
        'name = "fallback"\n'
        'description = "Smoke run on the repository\'s CC0 wallpapers and scikit-image sample photos."\n'
        'caveats = ["Tiny set, and the model was trained on these very photos: not a benchmark."]\n\n'
        f'[train]\nlabels = "{labels.as_posix()}"\n\n'
        f'[sets.Fallback]\nlabels = "{labels.as_posix()}"\n')
    return suite


def _quick_suite(splits: Path, train_csv: Path, out: Path) -> Path:
    """A small version of the shared-data suite from its own held-out splits (same photos, fewer)."""
    balanced = _subsample(splits / "Curated_vs_Snapshot.csv", splits / "quick_balanced.csv", per_class=15)
    negatives = _subsample(splits / "Snapshots.csv", splits / "quick_snapshots.csv", per_class=20)
    out.write_text(
        'name = "shared-data-quick"\n'
        'description = "A quick subset of benchmarks/suites/shared_data.toml (same held-out photos, fewer)."\n'
        'caveats = ["Quick demo run: 30 + 20 held-out photos; see the full suite for the real figures."]\n\n'
        f'[train]\nlabels = "{train_csv.as_posix()}"\n\n'
        f'[sets.Curated_vs_Snapshot]\nlabels = "{balanced.as_posix()}"\n\n'
        f'[sets.Snapshots]\nlabels = "{negatives.as_posix()}"\n\n'
        '[robustness]\nset = "Curated_vs_Snapshot"\n'
        'transforms = [{ kind = "center_crop" }, { kind = "blur", sigma = 3.0 }]\n')
    return out


def _subsample(csv_path: Path, out: Path, per_class: int, seed: int = 0) -> Path:
    """Stratified subset of a labels CSV (quick runs)."""
    rows = list(csv.DictReader(open(csv_path)))
    rng = np.random.default_rng(seed)
    keep = []
    for label in sorted({r["label"] for r in rows}):
        members = [r for r in rows if r["label"] == label]
        idx = rng.permutation(len(members))[:per_class]
        keep += [members[i] for i in sorted(idx)]
    base = csv_path.parent
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        for r in keep:
            p = Path(r["path"])
            writer.writerow([str(p if p.is_absolute() else (base / p).resolve()), r["label"]])
    return out


class _Runner:
    """Runs `aesthetic ...` commands in this process, printing each one first."""

    def __init__(self, app: typer.Typer, console):
        self.command = typer.main.get_command(app)
        self.console = console
        self.timings: list[tuple[str, float]] = []

    def __call__(self, stage: str, *args: str) -> None:
        text = "aesthetic " + " ".join(shlex.quote(str(a)) for a in args)
        self.console.print(f"\n[bold cyan]== {stage}[/bold cyan]\n$ {text}")
        start = time.perf_counter()
        try:
            # With standalone_mode=False click returns a command's exit code instead of exiting.
            code = self.command.main([str(a) for a in args], prog_name="aesthetic", standalone_mode=False)
        except typer.Exit as exc:
            code = exc.exit_code
        except SystemExit as exc:
            code = exc.code
        if isinstance(code, int) and code != 0:
            raise RuntimeError(f"demo stage '{stage}' failed (exit {code}): {text}")
        self.timings.append((stage, time.perf_counter() - start))


def run_demo(out: Path, quick: bool = False, two_branch: str = "auto", app: Optional[typer.Typer] = None,
             two_branch_weights: str = "imagenet") -> DemoPaths:
    """Run every stage into ``out``; returns the artifact paths (each checked to exist)."""
    from aesthetic.cli import app as default_app
    from aesthetic.cli_utils import console

    run = _Runner(app or default_app, console)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    paths = DemoPaths(out)
    shared = _find_shared()
    nima = (shared / "weights" / "nima_mobilenet_aesthetic.hdf5") if shared else None
    if nima is None or not nima.is_file():
        raise RuntimeError("the demo needs the NIMA MobileNet weights (../shared/weights/nima_mobilenet_aesthetic.hdf5) "
                           "for real features offline")

    if shared is not None:
        suite = REPO / "benchmarks" / "suites" / "shared_data.toml"
        console.print(f"photos: {shared / 'data'} (curated wallpapers vs Flickr snapshots; see its README)")
        run("split the suite: train on one half, benchmark on the other", "splits", suite, "--out", out / "splits")
        train_csv = out / "splits" / "train.csv"
        if quick:
            train_csv = _subsample(train_csv, out / "splits" / "train_quick.csv", per_class=40)
            suite = _quick_suite(out / "splits", train_csv, out / "splits" / "quick_suite.toml")
    else:
        console.print("photos: ../shared/data not found; using examples/photos (CC0) + scikit-image samples")
        train_csv = _fallback_data(out / "fallback")
        suite = _fallback_suite(out / "fallback", train_csv)

    features = paths.add("features", "features.h5")
    run("extract features (mobilenet branch, NIMA/AVA weights: real features offline)",
        "extract", train_csv, "--out", features, "--branches", "mobilenet",
        "--weights", f"mobilenet={nima}", "--batch-size", "16", "--no-progress")

    use_two_branch = two_branch == "on" or (two_branch == "auto" and _imagenet_reachable())
    models = []
    if use_two_branch:
        two = paths.add("features_two_branch", "features_two_branch.h5")
        run("extract the two-branch ImageNet features (multigap + efficientnet)",
            "extract", train_csv, "--out", two, "--branches", "multigap,efficientnet",
            *[arg for item in two_branch_weights.split(",") for arg in ("--weights", item.strip())],
            "--input-scale", "0.25" if quick else "1.0", "--no-progress")
        models.append(paths.add("model_two_branch", "model_two_branch"))
        run("select: PCA per branch for the two-branch model (half of each width, as the original 8464 and 1280)",
            "select", "pca", two, "--out", out / "selection_two_branch_pca", "--components", "0.5")
        run("train the two-branch FC on the PCA features", "train", two, "--selection",
            out / "selection_two_branch_pca", "--out", models[-1], "--epochs", "60" if quick else "200")
    else:
        console.print("\n(two-branch ImageNet model skipped: the ImageNet weights cannot be downloaded here; "
                      "pass them with --weights multigap=PATH --weights efficientnet=PATH to `aesthetic extract`)")

    k, population, parents, generations = ("300", "10", "5", "2") if quick else ("1000", "20", "10", "4")
    pca = paths.add("pca", "selection_pca.h5")
    run("select: PCA per branch", "select", "pca", features, "--out", pca, "--components", "mobilenet=64")
    ga = paths.add("ga", "selection_ga")
    run("select: genetic algorithm (short run)", "select", "ga", features, "--out", ga, "--k", k,
        "--population", population, "--parents", parents, "--generations", generations, "--epochs", "5", "--seed", "0")
    paths.add("ga_plot", "selection_ga/fitness.png")

    model = paths.add("model", "model")
    # sensitivity training (the default): degraded copies of the aesthetic photos, square/portrait crops and
    # flat frames teach the FC what a spoiled photo looks like; fewer copies in a quick run
    sensitivity = ["--sensitivity-copies", "4", "--synthetic-frames", "30"] if quick else []
    run("train the FC classifier on the GA's features, with sensitivity training", "train", features,
        "--selection", ga, "--out", model, "--epochs", "60" if quick else "200", *sensitivity)
    run("distil: smaller FC student on the selected features", "distill", model, "--out", out / "student_fc",
        "--epochs", "60" if quick else "200")
    paths.add("student_fc", "student_fc")
    student = paths.add("student", "model/student")
    run("distil: end-to-end MobileNet student on pixels (teacher's soft labels)", "distill", model, "--end-to-end",
        "--out", student, "--epochs", "1" if quick else "4")

    report = paths.add("report", "report/report.md")
    bench_args = ["benchmark", model, *models, "--suite", suite, "--out", out / "report", "--nima", nima,
                  "--model-train", train_csv, "--no-progress"]
    run("benchmark report: the model beside the baselines and the NIMA peer", *bench_args)

    # A photo the model never saw: the first aesthetic one of the held-out set (fallback: training set).
    held_out = out / "splits" / "Curated_vs_Snapshot.csv"
    source = held_out if held_out.is_file() else train_csv
    photo = next(r for r in csv.DictReader(open(source)) if r["label"] == "1")["path"]
    photo_path = Path(photo) if Path(photo).is_absolute() else (source.parent / photo).resolve()
    explain_dir = paths.add("explanations", "explanations")
    run("explain one photo (LIME and SHAP over superpixels)", "explain", model, photo_path, "--method", "both",
        "--out", explain_dir, "--samples", "150" if quick else "600", "--no-progress")

    missing = [f"{k}: {p}" for k, p in paths.artifacts.items() if not p.exists()]
    if missing:
        raise RuntimeError("demo finished but these artifacts are missing: " + "; ".join(missing))
    console.print(f"\n[bold green]demo complete[/bold green] in {sum(t for _, t in run.timings):.0f} s "
                  f"({len(run.timings)} commands)")
    console.print(f"  report:       {report}")
    console.print(f"  plots:        {out / 'report'} (*.png)")
    console.print(f"  explanations: {explain_dir}")
    console.print(f"  model:        {model}  (try: aesthetic predict {model} PHOTO)")
    console.print(f"  GA fitness:   {paths['ga_plot']}")
    return paths


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("demo_output"), "--out", "-o", help="Folder for every artifact."),
        quick: bool = typer.Option(False, "--quick", help="Fewer photos, generations and epochs (a few minutes)."),
        two_branch: str = typer.Option("auto", help="auto | on | off: also build the two-branch model "
                                                    "(auto: when ImageNet weights can be had)."),
        two_branch_weights: str = typer.Option("imagenet", help="Weights for the two-branch extraction: imagenet, "
                                                                "none, or BRANCH=PATH,BRANCH=PATH (local files)."),
    ) -> None:
        """Run the whole pipeline offline on real photos and print where the report and plots are."""
        from aesthetic.cli_utils import fail

        if two_branch not in ("auto", "on", "off"):
            fail(f"--two-branch {two_branch}: expected auto, on or off")
        try:
            run_demo(out, quick=quick, two_branch=two_branch, app=app, two_branch_weights=two_branch_weights)
        except RuntimeError as exc:
            fail(exc)
