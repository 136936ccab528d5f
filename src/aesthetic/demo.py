"""`aesthetic demo`: the whole pipeline, offline, on real photos, as the commands a user would type.

Stages: split the benchmark suite (so no benchmark photo is trained on) -> extract
features -> select (PCA and a short GA) -> train the FC -> distil (FC student and
end-to-end student) -> benchmark report -> explain one photo -> cull bursts made from held-out
photos (best frame of each). Each stage is the
real `aesthetic ...` command, printed before it runs, so the demo doubles as a
tutorial.

Photos: ``../shared/data`` beside the checkout when present (see :mod:`aesthetic.shared`);
otherwise the demo set embedded in the package (30 CC0 / public-domain photos: a smoke
run, not a benchmark). Weights: the built-in NIMA MobileNet file (``--weights
mobilenet=nima``, shipped with the package) for the ``mobilenet`` branch; with
``--two-branch auto`` the ImageNet two-branch model is extracted too when the ImageNet
weights can be had (internet or Keras cache).
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

from aesthetic.cli_utils import EXIT_FAILED, UserError, console, esc, fail, guarded
from aesthetic.fileio import atomic_write_text
from aesthetic.shared import demo_set_dir, nima_weights_path, package_file, shared_data_dir, shared_set

log = logging.getLogger(__name__)


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


def _shared_suite(out: Path) -> Optional[Path]:
    """The shared-data suite, its paths pointing at the shared folder :mod:`aesthetic.shared` found;
    None when that folder lacks the two photo sets the suite reads."""
    data = shared_data_dir()
    if data is None or shared_set("curated_vs_snapshot") is None or shared_set("snapshots") is None:
        return None
    suite = package_file("benchmarks/suites/shared_data.toml")
    written_for = (suite.parent / "../../../shared/data").resolve()
    if written_for == data.resolve():
        return suite
    rebased = out / "shared_data.toml"  # the same suite, pointing at $AESTHETIC_SHARED/data
    atomic_write_text(rebased, suite.read_text().replace('"../../../shared/data/', f'"{data.resolve().as_posix()}/'))
    return rebased


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


def make_bursts(photos: list[Path], folder: Path) -> Path:
    """Four frames per photo as a hand-held burst would give them: the original, a 2 % pan, a brighter
    frame and a 4 % pan a little darker; each frame carries an EXIF capture time one second after the
    last, and each photo's burst starts a minute after the previous one. Returns ``folder``."""
    from PIL import Image

    from aesthetic.imageio import read_image
    from aesthetic.degradations import exposure

    def pan(image: np.ndarray, fraction: float) -> np.ndarray:
        h, w = image.shape[:2]
        return image[int(h * fraction / 2):, int(w * fraction):]

    frames = [lambda im: im, lambda im: pan(im, 0.02), lambda im: exposure(im, 0.5),
              lambda im: exposure(pan(im, 0.04), -0.3)]
    folder.mkdir(parents=True, exist_ok=True)
    for k, photo in enumerate(photos):
        image = read_image(photo)
        for j, frame in enumerate(frames):
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0x9003] = f"2024:06:01 10:{k:02d}:{j:02d}"  # DateTimeOriginal
            Image.fromarray(frame(image)).save(folder / f"burst{k + 1}_frame{j + 1}.jpg", "JPEG", quality=92,
                                               exif=exif)
    return folder


class _Runner:
    """Runs `aesthetic ...` commands in this process, printing each one first."""

    def __init__(self, app: typer.Typer, console):
        self.command = typer.main.get_command(app)
        self.console = console
        self.timings: list[tuple[str, float]] = []

    def __call__(self, stage: str, *args: str) -> None:
        text = "aesthetic " + " ".join(shlex.quote(str(a)) for a in args)
        self.console.print(f"\n[bold cyan]== {esc(stage)}[/bold cyan]\n$ {esc(text)}")
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


def _two_branch_stage(run: _Runner, paths: DemoPaths, train_csv: Path, quick: bool, two_branch: str,
                      two_branch_weights: str) -> list[Path]:
    """The ImageNet two-branch model (multigap + efficientnet), when its weights can be had; its bundles."""
    out = paths.root
    use_two_branch = two_branch == "on" or (two_branch == "auto" and _imagenet_reachable())
    models: list[Path] = []
    if use_two_branch:
        two = paths.add("features_two_branch", "features_two_branch.h5")
        run("extract the two-branch ImageNet features (multigap + efficientnet)",
            "extract", train_csv, "--out", two, "--branches", "multigap,efficientnet",
            *[arg for item in two_branch_weights.split(",") for arg in ("--weights", item.strip())],
            "--input-scale", "0.25" if quick else "1.0", "--no-progress")
        models.append(paths.add("model_two_branch", "model_two_branch"))
        run("select: PCA per branch for the two-branch model (half of each width, as the original 8464 and 1280)",
            "select", "pca", two, "--out", out / "selection_two_branch_pca", "--components", "0.5")
        # a quick run skips this model's sensitivity rows: they would mean a second, two-network extraction
        run("train the two-branch FC on the PCA features", "train", two, "--selection",
            out / "selection_two_branch_pca", "--out", models[-1], "--epochs", "60" if quick else "200",
            *(["--no-sensitivity"] if quick else []))
    else:
        run.console.print("\n(two-branch ImageNet model skipped: the ImageNet weights cannot be downloaded here; "
                      "pass them with --weights multigap=PATH --weights efficientnet=PATH to `aesthetic extract`)")

    return models


def _explain_and_cull(run: _Runner, paths: DemoPaths, model: Path, source: Path, quick: bool) -> Path:
    """Explain one held-out photo of the labels CSV ``source``, then cull bursts made from held-out
    photos; the explanations folder."""
    out = paths.root
    # A photo the model never saw: the first aesthetic one of the held-out set.
    photo = next(r for r in csv.DictReader(open(source)) if r["label"] == "1")["path"]
    photo_path = Path(photo) if Path(photo).is_absolute() else (source.parent / photo).resolve()
    explain_dir = paths.add("explanations", "explanations")
    run("explain one photo (LIME and SHAP over superpixels)", "explain", model, photo_path, "--method", "both",
        "--out", explain_dir, "--samples", "150" if quick else "600", "--no-progress")

    # Bursts of four frames made from held-out photos: which frame of each would the model keep?
    # Two of each class, from four different scenes: a degraded copy of a chosen photo (the embedded set
    # has them, sharing its ``group``) would rightly fall into that photo's burst.
    rows = list(csv.DictReader(open(source)))
    chosen, scenes = [], set()
    for label in ("1", "0"):
        for r in (r for r in rows if r["label"] == label):
            scene = r.get("group") or r["path"]
            if scene not in scenes and len(chosen) < (2 if label == "1" else 4):
                chosen.append(r["path"])
                scenes.add(scene)
    bursts = make_bursts([Path(p) if Path(p).is_absolute() else (source.parent / p).resolve() for p in chosen],
                         out / "bursts")
    picks = paths.add("picks", "picks.csv")
    paths.add("picks_page", "picks.html")
    run("cull: group the bursts and keep the best frame of each (CSV + HTML page)", "cull", model, bursts,
        "--out", picks, "--no-progress")

    return explain_dir


def run_demo(out: Path, quick: bool = False, two_branch: str = "auto", app: Optional[typer.Typer] = None,
             two_branch_weights: str = "imagenet") -> DemoPaths:
    """Run every stage into ``out``; returns the artifact paths (each checked to exist)."""
    from aesthetic.cli import app as default_app

    run = _Runner(app or default_app, console)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    paths = DemoPaths(out)
    nima = nima_weights_path()
    if nima is None:
        raise RuntimeError("the built-in NIMA MobileNet weights (aesthetic/data/weights/nima_mobilenet_aesthetic.hdf5) "
                           "are missing from this installation; reinstall the package")
    console.print(f"weights: {esc(nima)} (NIMA MobileNet, AVA; Apache-2.0)")

    suite = _shared_suite(out)
    if suite is not None:
        console.print(f"photos: {esc(shared_data_dir())} (curated wallpapers vs Flickr snapshots; see its README)")
        held_out_set = "Curated_vs_Snapshot"
    else:
        suite = demo_set_dir() / "suite.toml"
        console.print(f"photos: no ../shared/data beside the checkout; using the embedded demo set {demo_set_dir()} "
                      "(30 CC0 / public-domain photos: every stage runs, but the figures are a smoke test, "
                      "not a benchmark; see its README)")
        held_out_set = "Demo_set"
    run("split the suite: train on one part, benchmark on the other", "splits", suite, "--out", out / "splits")
    train_csv = out / "splits" / "train.csv"
    if quick and held_out_set == "Curated_vs_Snapshot":
        train_csv = _subsample(train_csv, out / "splits" / "train_quick.csv", per_class=40)
        suite = _quick_suite(out / "splits", train_csv, out / "splits" / "quick_suite.toml")

    features = paths.add("features", "features.h5")
    run("extract features (mobilenet branch, built-in NIMA/AVA weights: real features offline)",
        "extract", train_csv, "--out", features, "--branches", "mobilenet",
        "--weights", "mobilenet=nima", "--batch-size", "16", "--no-progress")

    models = _two_branch_stage(run, paths, train_csv, quick, two_branch, two_branch_weights)

    k, population, parents, generations = ("300", "10", "5", "2") if quick else ("1000", "20", "10", "4")
    pca = paths.add("pca", "selection_pca.h5")
    run("select: PCA per branch", "select", "pca", features, "--out", pca, "--components", "mobilenet=64")
    ga = paths.add("ga", "selection_ga")
    run("select: genetic algorithm (short run)", "select", "ga", features, "--out", ga, "--k", k,
        "--population", population, "--parents", parents, "--generations", generations, "--epochs", "5", "--seed", "0")
    paths.add("ga_plot", "selection_ga/fitness.png")

    model = paths.add("model", "model")
    # sensitivity training (the default, two heads): degraded copies of the photos and flat frames teach a
    # quality head what a spoiled photo looks like, crops and mirrors keep the aesthetic head off shape
    # cues; fewer copies in a quick run
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
    paths.add("report_page", "report/report.html")
    bench_args = ["benchmark", model, *models, "--suite", suite, "--out", out / "report", "--nima", "nima",
                  "--model-train", train_csv, "--no-progress"]
    run("benchmark report: the model beside the baselines and the NIMA peer", *bench_args)

    explain_dir = _explain_and_cull(run, paths, model, out / "splits" / f"{held_out_set}.csv", quick)

    missing = [f"{k}: {p}" for k, p in paths.artifacts.items() if not p.exists()]
    if missing:
        raise RuntimeError("demo finished but these artifacts are missing: " + "; ".join(missing))
    console.print(f"\n[bold green]demo complete[/bold green] in {sum(t for _, t in run.timings):.0f} s "
                  f"({len(run.timings)} commands)")
    console.print(f"  report:       {esc(report)}")
    console.print(f"  report page:  {esc(paths['report_page'])}  (plots inline, sortable tables, hits and misses)")
    console.print(f"  plots:        {esc(out / 'report')} (*.png)")
    console.print(f"  explanations: {esc(explain_dir)}")
    console.print(f"  best frames:  {esc(paths['picks_page'])}  (open in a browser; CSV: {esc(paths['picks'])})")
    console.print(f"  model:        {esc(model)}  (try: aesthetic predict {esc(model)} PHOTO)")
    console.print(f"  GA fitness:   {esc(paths['ga_plot'])}")
    return paths


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @guarded
    def demo_cmd(
        out: Path = typer.Option(Path("demo_output"), "--out", "-o", help="Folder for every artifact."),
        quick: bool = typer.Option(False, "--quick", help="Fewer photos, generations and epochs (a few minutes)."),
        two_branch: str = typer.Option("auto", help="auto | on | off: also build the two-branch model "
                                                    "(auto: when ImageNet weights can be had)."),
        two_branch_weights: str = typer.Option("imagenet", help="Weights for the two-branch extraction: imagenet, "
                                                                "none, or BRANCH=PATH,BRANCH=PATH (local files)."),
    ) -> None:
        """Run the whole pipeline offline on real photos and print where the report and plots are."""
        if two_branch not in ("auto", "on", "off"):
            raise UserError(f"--two-branch {two_branch}: expected auto, on or off")
        try:
            run_demo(out, quick=quick, two_branch=two_branch, app=app, two_branch_weights=two_branch_weights)
        except RuntimeError as exc:  # a stage failed (its own error is printed above) or an artifact is missing
            fail(exc, EXIT_FAILED)
