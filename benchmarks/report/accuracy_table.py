"""Accuracy on the real photos in ../shared/data: the FC on real MobileNet features, its distilled
FC student, the end-to-end student and the NIMA baseline, in one table.

Split (stated in the output): the shared-data suite's own (benchmarks/suites/shared_data.toml),
so the bundle written here can be benchmarked by `aesthetic benchmark` without leakage. Each
source is split 50/50 stratified by label, by sha256 of ``"0:<path key>"`` (seed 0):

- train: half of curated_vs_snapshot + half of snapshots (48 aesthetic, 452 not: about the
  original's 1:7 imbalance); the FC's early stopping and threshold use a stratified 20 % of it;
- test "Curated_vs_Snapshot": the other half of curated_vs_snapshot (48 + 48, balanced);
- test "Imbalanced": that plus the other half of snapshots (48 + 453).

Models:

- FC (teacher): the three-layer FC on all 5952 MobileNet features (NIMA's AVA-trained
  MobileNet v1, multi-level GAP, 224x224);
- distilled FC: a smaller FC (128-32-8) on GA-selected features, trained on the teacher's
  logits (T = 4, alpha = 0.3) over the same training images;
- end-to-end student: MobileNet v1 on pixels (NIMA backbone, frozen) + a small head,
  trained on the teacher's soft labels (T = 2, alpha = 0.2); no feature extraction at scoring;
- NIMA baseline: the NIMA file's own mean score > 5 (AVA's rule), no training on this data.

    python -m aesthetic.benchmarks.report.accuracy_table --bundle-out runs/mobilenet_model

writes benchmarks/results/accuracy.md and .json; the teacher bundle goes to --bundle-out with
the end-to-end student in BUNDLE/student and the distilled FC beside it (BUNDLE_fc_student).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from aesthetic.shared import CHECKOUT, package_file

log = logging.getLogger("aesthetic.benchmarks.report.accuracy_table")
REPO = CHECKOUT
DEFAULT_SUITE = package_file("benchmarks/suites/shared_data.toml")
DEFAULT_OUT = REPO / "benchmarks" / "results"


def extract_store(paths: list[str], labels: list[float], out: Path, nima_file: Path) -> Path:
    """MobileNet (NIMA) features of ``paths`` into a store at ``out``, by the extraction job (which
    reuses a complete store of the same images and settings, and resumes a partial one)."""
    from aesthetic.data import Manifest
    from aesthetic.feature_extraction import ExtractionConfig, extract

    config = ExtractionConfig(branches=["mobilenet"], weights={"mobilenet": str(nima_file)}, batch_size=16,
                              dtype="float32")
    extract(Manifest(list(paths), list(paths), np.asarray(labels, np.float32)), out, config)
    return out


def subset_store(store, rows: np.ndarray, out: Path) -> Path:
    from aesthetic.feature_store import BranchData, write_store

    return write_store(out, ids=store.ids[rows], paths=store.paths[rows], labels=store.labels[rows],
                       status=store.status[rows], errors=store.errors[rows],
                       branches={b: BranchData(store.read(b, rows), store.branch_attrs(b)) for b in store.branches},
                       metadata=store.metadata, dtype="float32")


def nima_mean_scores(store, rows: np.ndarray, nima_file: Path) -> np.ndarray:
    """NIMA mean scores from stored features: the branch's last 1024 columns are NIMA's pooled
    features, and NIMA's dense head maps them to its 10-bin distribution (no backbone rerun)."""
    from aesthetic.feature_extraction.nima import NimaScorer, mean_score

    kernel, bias = NimaScorer(nima_file).head()
    pooled = store.read("mobilenet", rows)[:, -1024:].astype(np.float64)
    logits = pooled @ kernel + bias
    dist = np.exp(logits - logits.max(axis=1, keepdims=True))
    return mean_score(dist / dist.sum(axis=1, keepdims=True))


def evaluate(y: np.ndarray, score: np.ndarray, threshold: float, inclusive: bool = True) -> dict[str, float]:
    """The bundle-style summary at ``threshold``; ``inclusive=False`` for NIMA's "mean > 5"."""
    from aesthetic.metrics import validation_summary

    cut = threshold if inclusive else np.nextafter(threshold, np.inf)
    return validation_summary(y, score, cut)


def score_test_sets(store_path: Path, test_sets: dict[str, list], teacher, fc_student, e2e,
                    nima_file: Path) -> dict[str, dict[str, Any]]:
    """Every model's metrics on each test set (features from the store; the end-to-end student on pixels)."""
    from aesthetic.classifier.distillation import agreement
    from aesthetic.feature_store import FeatureStore

    results: dict[str, dict[str, Any]] = {}
    with FeatureStore.open(store_path) as store:
        row_of = {p: k for k, p in enumerate(store.paths)}
        for set_name, items in test_sets.items():
            rows = np.array([row_of[str(i.path)] for i in items])
            rows = rows[store.ok[rows]]
            y = store.labels[rows].astype(int)
            p_teacher = teacher.predict_store(store, rows)
            p_fc = fc_student.predict_store(store, rows)
            t = time.perf_counter()
            scored = e2e.predict(list(store.paths[rows]), progress=False)
            e2e_rate = len(rows) / (time.perf_counter() - t)
            p_e2e = scored.p_aesthetic
            nima = nima_mean_scores(store, rows, nima_file)
            results[set_name] = {
                "n": int(len(rows)), "n_aesthetic": int(y.sum()),
                "FC on MobileNet features (teacher)": evaluate(y, p_teacher, teacher.threshold),
                "distilled FC student (GA-selected)": {
                    **evaluate(y, p_fc, fc_student.threshold),
                    "agreement_with_teacher": agreement(p_fc, fc_student.threshold, p_teacher, teacher.threshold)},
                "end-to-end student (MobileNet on pixels)": {
                    **evaluate(y[scored.ok], p_e2e[scored.ok], e2e.threshold),
                    "agreement_with_teacher": agreement(p_e2e[scored.ok], e2e.threshold, p_teacher[scored.ok],
                                                        teacher.threshold),
                    "images_per_s": e2e_rate},
                "NIMA baseline (mean score > 5)": evaluate(y, nima, 5.0, inclusive=False),
            }
    return results


def describe_models(teacher, fc_student, e2e, e2e_metrics: dict[str, Any]) -> dict[str, str]:
    """One line per model of the table: what it is and the threshold it decides at."""
    return {
        "FC on MobileNet features (teacher)":
            f"FC {'-'.join(map(str, teacher.config['fc']['hidden']))} on all 5952 features, "
            f"threshold {teacher.threshold:.3f}",
        "distilled FC student (GA-selected)":
            f"FC {'-'.join(map(str, fc_student.config['fc']['hidden']))} on {fc_student.config['n_features_selected']} "
            f"GA-selected features, T=4, alpha=0.3, threshold {fc_student.threshold:.3f}",
        "end-to-end student (MobileNet on pixels)":
            f"MobileNet v1 224x224 (NIMA init, frozen) + head 128, T=2, alpha=0.2, "
            f"{e2e_metrics['epochs_run']} epochs, threshold {e2e.threshold:.3f}",
        "NIMA baseline (mean score > 5)": "NIMA MobileNet (AVA), no training on this data",
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=DEFAULT_SUITE)
    parser.add_argument("--nima", type=Path, default=None, help="NIMA file (default: ../shared/weights).")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "accuracy", help="Feature cache folder.")
    parser.add_argument("--bundle-out", type=Path, default=REPO / "runs" / "mobilenet_model")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--student-epochs", type=int, default=8)
    parser.add_argument("--ga-k", type=int, default=512, help="Features the GA keeps for the distilled FC.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    from aesthetic.classifier.fc import FCConfig
    from aesthetic.classifier.distillation import DistillConfig
    from aesthetic.feature_store import FeatureStore
    from aesthetic.fileio import atomic_write_text
    from aesthetic.genetic_selection.ga import GeneticSelector
    from aesthetic.feature_extraction.nima import default_weights_path
    from aesthetic.benchmarks.report.suite import load_suite
    from aesthetic.classifier.student import StudentConfig
    from aesthetic.bundles.build import distill_end_to_end, distill_from_bundle, train_from_store

    nima_file = args.nima or default_weights_path()
    if nima_file is None:
        parser.error("NIMA weights not found; pass --nima PATH")
    suite = load_suite(args.suite)
    test_sets = {name: suite.sets[name].items for name in ("Curated_vs_Snapshot", "Imbalanced")}
    everything = {str(i.path): i.label for i in suite.train.items}
    for items in test_sets.values():
        everything.update({str(i.path): i.label for i in items})
    paths = sorted(everything)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    store_path = extract_store(paths, [float(everything[p]) for p in paths], args.work / "features.h5", nima_file)
    timings = {"extract_s": time.perf_counter() - started}

    with FeatureStore.open(store_path) as store:
        row_of = {p: k for k, p in enumerate(store.paths)}
        train_rows = np.array(sorted(row_of[str(i.path)] for i in suite.train.items))
        train_rows = train_rows[store.ok[train_rows]]
        n_train_aesthetic = int(store.labels[train_rows].sum())
        train_path = subset_store(store, train_rows, args.work / "train.h5")

    t = time.perf_counter()
    teacher, teacher_fit = train_from_store(train_path, args.bundle_out, fc_config=FCConfig(seed=args.seed))
    timings["teacher_s"] = time.perf_counter() - t

    t = time.perf_counter()
    with FeatureStore.open(train_path) as train_store:
        ga = GeneticSelector(k=args.ga_k, population=24, elite=2, parents=12, generations=15, fitness="proxy",
                             seed=args.seed, progress=False).fit_store(train_store)
    ga_path = ga.save(args.work / "ga_selector")
    fc_student_dir = args.bundle_out.with_name(args.bundle_out.name + "_fc_student")
    fc_student, fc_fit = distill_from_bundle(args.bundle_out, fc_student_dir, selection=ga_path,
                                             config=DistillConfig(seed=args.seed))
    timings["fc_student_s"] = time.perf_counter() - t

    t = time.perf_counter()
    e2e, e2e_metrics = distill_end_to_end(args.bundle_out, config=StudentConfig(
        epochs=args.student_epochs, patience=3, seed=args.seed), backbone_weights=nima_file)
    timings["end_to_end_student_s"] = time.perf_counter() - t

    results = score_test_sets(store_path, test_sets, teacher, fc_student, e2e, nima_file)
    describe = describe_models(teacher, fc_student, e2e, e2e_metrics)
    command = "python -m aesthetic.benchmarks.report.accuracy_table " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    report = {"command": command, "split": {
        "rule": "shared-data suite split: each source 50/50 stratified by label, ordered by sha256('0:<key>')",
        "train_images": int(len(train_rows)), "train_aesthetic": n_train_aesthetic,
        "fc_internal_validation_rows": int(len(teacher_fit.validation_rows))},
        "models": describe, "results": results, "timings_s": timings,
        "bundles": {"teacher": str(args.bundle_out), "end_to_end_student": str(e2e.path),
                    "fc_student": str(fc_student_dir)}}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "accuracy.json", json.dumps(report, indent=2, default=float))
    atomic_write_text(args.out / "accuracy.md", render(report))
    print(render(report))
    return report


def render(report: dict[str, Any]) -> str:
    lines = ["# Accuracy on ../shared/data (real photos)", "",
             f"Command: `{report['command']}`", "",
             f"Split: {report['split']['rule']}. Training: {report['split']['train_images']} images "
             f"(half of curated_vs_snapshot + half of snapshots); the FC's early stopping and threshold use "
             f"{report['split']['fc_internal_validation_rows']} of them. Test sets are the other halves.", ""]
    for set_name, res in report["results"].items():
        lines += [f"## {set_name}: {res['n']} test images ({res['n_aesthetic']} aesthetic)", "",
                  "| model | accuracy | balanced accuracy | AUC | F1 | agreement with teacher |",
                  "|---|---|---|---|---|---|"]
        for name in report["models"]:
            m = res[name]
            agree = m.get("agreement_with_teacher")
            lines.append(f"| {name} | {m['accuracy']:.3f} | {m['balanced_accuracy']:.3f} | {m['auc']:.3f} | "
                         f"{m['f1']:.3f} | {'-' if agree is None else f'{agree:.3f}'} |")
        lines.append("")
    lines += ["Models:", ""] + [f"- **{k}**: {v}" for k, v in report["models"].items()] + [""]
    lines += ["Caveats (from ../shared/data/README.md): labels are source-derived (wallpaper collections vs "
              "Flickr8k snapshots), not per-image ratings; content and orientation differ between classes, "
              "so these figures overstate what any of the models knows about aesthetics. Small sets: the "
              "balanced set's accuracy has a standard error of about 0.03-0.05.", ""]
    t = report["timings_s"]
    lines.append("Run time (s): " + ", ".join(f"{k.removesuffix('_s')} {v:.0f}" for k, v in t.items()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    main()
