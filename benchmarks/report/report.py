"""Write a benchmark result as a report directory: report.md, report.html, report.json, plots/, splits/.

The directory is built beside its destination and renamed into place, so a reader
sees the previous complete report or the new complete one, never a half-written mix.
An existing destination is replaced only if it is empty or holds a previous report.

``report.md`` leads with the command that made it and the headline table (rows =
scorers, columns = sets, accuracy, as the original system's results table), then
the correlation with human ratings (sets whose labels carry 1-10 mean scores or rating
distributions, scorers that output a 1-10 score), the shortcut check against the
hand-crafted baselines, the data and its caveats,
the leakage check, per-set details with figures, robustness and the baselines'
coefficients. ``report.json`` holds every number; ``splits/<set>.csv`` lists the
exact images of each set (a labels CSV that can be re-read).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from aesthetic.fileio import atomic_dir, to_jsonable
from aesthetic.benchmarks.report.benchmark import BenchmarkResult
from aesthetic.benchmarks.report.html import render_report_html
from aesthetic.metrics import BinaryMetrics
from aesthetic.benchmarks.report.suite import split_file_name, write_split_csvs
from aesthetic.benchmarks.report.baselines import FEATURE_SIDE, baseline_name, baselines_json
from aesthetic.outputs import OutputError, check_output_dir

REPORT_FORMAT = "aesthetic-benchmark-report"
MAX_LISTED_PAIRS = 25


class ReportError(ValueError):
    """The report cannot be written where asked."""


def slug(name: str) -> str:
    """A file-name-safe form of a set or scorer name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "unnamed"


# --------------------------------------------------------------------------- formatting

def _num(value: float | None, metric: str = "", m: BinaryMetrics | None = None, digits: int = 3) -> str:
    if value is None:
        return "undefined"
    text = f"{value:.{digits}f}"
    if m is not None and metric in m.by_convention:
        text += "†"
    return text


def _table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _set_header(result: BenchmarkResult, name: str) -> str:
    ss = result.set_scores[name]
    pos = int(ss.y.sum())
    return f"{name} (n={len(ss.y)}: {pos} / {len(ss.y) - pos})"


def _headline(result: BenchmarkResult, metric: str) -> str:
    names = list(result.sets)
    rows = []
    for s in result.scorers:
        row = [s["name"]]
        for n in names:
            m = result.metrics[n].get(s["name"])
            row.append("—" if m is None else _num(getattr(m, metric), metric, m))
        rows.append(row)
    return _table(["scorer", *[_set_header(result, n) for n in names]], rows)


def _shortcut_check(result: BenchmarkResult) -> list[str]:
    """One line per (model or peer, set with both classes): its ROC-AUC beside aspect ratio alone,
    the best single hand-crafted feature and the all-feature baseline; plus the centre-crop row."""
    baselines = {s["name"]: _baseline_features(result, s["name"]) for s in result.scorers
                 if s["kind"] == "baseline"}
    single = [n for n, f in baselines.items() if len(f) == 1]
    if not single:
        return ["No single-feature baselines were fitted (the suite has no [train] section), so the "
                "shortcut check could not run."]
    aspect = next((n for n, f in baselines.items() if f == ("aspect_ratio",)), None)
    combined = next((n for n, f in baselines.items() if len(f) > 1), None)
    crop = {r.scorer: r for r in result.robustness if r.transform.startswith("center_crop")}
    lines = []
    for s in result.scorers:
        if s["kind"] == "baseline":
            continue
        for set_name, by_scorer in result.metrics.items():
            m = by_scorer.get(s["name"])
            if m is None or m.roc_auc is None:
                continue
            best = max(single, key=lambda n: by_scorer[n].roc_auc or 0.0)
            parts = [f"aspect ratio alone {_num(by_scorer[aspect].roc_auc)}" if aspect else None,
                     f"best single feature ({best.removeprefix('baseline: ')}) {_num(by_scorer[best].roc_auc)}",
                     f"all six features {_num(by_scorer[combined].roc_auc)}" if combined else None]
            beaten = [n for n in (aspect, best, combined) if n and (by_scorer[n].roc_auc or 0.0) >= m.roc_auc]
            if aspect in beaten and s["kind"] == "peer":
                verdict = ("**does not beat aspect ratio alone** here (a peer trained elsewhere: on this data "
                           "the labels reward framing more than what it rates)")
            elif aspect in beaten:
                verdict = ("**does not beat aspect ratio alone**: it has likely learned the framing of the "
                           "sources, not aesthetics")
            elif beaten:
                verdict = "**does not beat every hand-crafted baseline**"
            else:
                verdict = "beats every hand-crafted baseline"
            line = (f"- **{s['name']}** on {set_name}: ROC-AUC {m.roc_auc:.3f} vs "
                    + ", ".join(p for p in parts if p) + f": {verdict}.")
            if set_name == result.robustness_set and s["name"] in crop:
                r = crop[s["name"]]
                line += (f" Centre-cropped to squares, its accuracy goes {m.accuracy:.3f} -> {r.accuracy:.3f} "
                         f"(ROC-AUC {_num(r.roc_auc)}).")
            lines.append(line)
    return lines or ["No model or peer was scored on a set holding both classes."]


def _baseline_features(result: BenchmarkResult, scorer_name: str) -> tuple[str, ...]:
    for model in result.baselines:
        if baseline_name(model.features) == scorer_name:
            return tuple(model.features)
    return ()


def _data_section(result: BenchmarkResult) -> list[str]:
    spec = result.suite.spec
    lines = ["## Data", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    rows = []
    for name, rset in result.sets.items():
        ss = result.set_scores[name]
        n = len(ss.y)
        pos = int(ss.y.sum())
        rows.append([name, str(n), str(pos), str(n - pos), f"{pos / n:.2f}" if n else "—",
                     str(len(ss.unreadable)), f"[csv](splits/{split_file_name(name)})",
                     "; ".join(rset.provenance)])
    lines += [_table(["set", "n scored", "aesthetic", "not", "fraction aesthetic", "unreadable",
                      "members", "source"], rows), ""]
    if result.baseline_train is not None:
        bt = result.baseline_train
        lines += [f"Baselines were fitted on the suite's `[train]` set: {bt['n']} images "
                  f"({bt['n_positive']} aesthetic, {bt['n_negative']} not; "
                  f"{len(bt['unreadable'])} unreadable) from " + "; ".join(bt["provenance"])
                  + " ([csv](splits/train.csv)).", ""]
    lines += [f"Split: stratified by label, each image's part fixed by sha256(\"seed:path\") "
              f"(test_fraction {spec.split.test_fraction:g}, seed {spec.split.seed}); parts of one "
              "source never share an image.", ""]
    if spec.caveats:
        lines += ["**Caveats of this data** (read before trusting any number):", ""]
        lines += [f"- {c.strip()}" for c in spec.caveats] + [""]
    unreadable = {p: r for ss in result.set_scores.values() for p, r in ss.unreadable.items()}
    if unreadable:
        lines += [f"Unreadable images (skipped, {len(unreadable)}):", ""]
        lines += [f"- `{p}`: {r}" for p, r in sorted(unreadable.items())] + [""]
    return lines


def _leakage_section(result: BenchmarkResult) -> list[str]:
    lines = ["## Leakage check", ""]
    rep = result.audit
    if rep is None:
        return lines + ["Not run (`--no-leakage`).", ""]
    if not rep.training_sets:
        lines += ["No training set is named (no `[train]` section, no `--model-train`): leakage "
                  "between training and benchmark images could not be checked.", ""]
    leak = rep.leakage
    lines += [f"Exact (sha256 of bytes) and near duplicates (pHash Hamming distance <= "
              f"{rep.max_distance} of 64 bits) between the training set(s) "
              f"({', '.join(rep.training_sets) or 'none'}) and every benchmark set, and inside each set.", ""]
    if rep.training_sets:
        lines += [f"**{'No leakage found' if not leak else f'{len(leak)} leaked pairs found'}.**", ""]
    rows = [[k, str(sum(p.kind == 'exact' for p in v)), str(sum(p.kind == 'near' for p in v))]
            for k, v in rep.across.items()]
    rows += [[f"inside {k}", str(sum(p.kind == 'exact' for p in v)), str(sum(p.kind == 'near' for p in v))]
             for k, v in rep.within.items()]
    lines += [_table(["comparison", "exact pairs", "near pairs"], rows), ""]
    listed = leak + [p for v in rep.within.values() for p in v]
    if listed:
        lines += ["Pairs (first %d):" % min(len(listed), MAX_LISTED_PAIRS), ""]
        lines += [f"- {p.kind} (distance {p.distance}): {p.set_a} `{p.path_a}` ~ {p.set_b} `{p.path_b}`"
                  for p in listed[:MAX_LISTED_PAIRS]] + [""]
    hist = rep.nearest_distance_histogram
    nonzero = [d for d, c in enumerate(hist) if c and d < 65]
    if nonzero:
        lines += [f"Nearest-neighbour pHash distance inside the sets ranges {min(nonzero)}..{max(nonzero)} "
                  f"(threshold {rep.max_distance}); report.json holds the histogram.", ""]
    return lines


def _details_section(result: BenchmarkResult, plots: dict[str, dict[str, str]],
                     overlays: dict[str, str]) -> list[str]:
    lines = ["## Per-set details", "",
             "† set by convention, not measured (zero_division=0; see the notes under the table). "
             "ECE: expected calibration error over 10 bins, for probability scores only.", ""]
    for name in result.sets:
        lines += [f"### {_set_header(result, name)}", ""]
        by_scorer = result.metrics[name]
        if not by_scorer:
            lines += ["No readable images.", ""]
            continue
        rows = []
        notes = set()
        for s in result.scorers:
            m = by_scorer[s["name"]]
            (tn, fp), (fn, tp) = m.confusion
            ece = "—" if m.reliability is None else f"{m.reliability.ece:.3f}"
            rows.append([s["name"], s["decision"], _num(m.accuracy), _num(m.balanced_accuracy),
                         _num(m.precision, "precision", m), _num(m.recall, "recall", m),
                         _num(m.f1, "f1", m), _num(m.roc_auc), ece, str(tn), str(fp), str(fn), str(tp),
                         f"[figure]({plots[name][s['name']]})"])
            notes.update(m.notes)
        lines += [_table(["scorer", "decision", "accuracy", "balanced acc.", "precision", "recall",
                          "F1", "ROC-AUC", "ECE", "TN", "FP", "FN", "TP", "plots"], rows), ""]
        if notes:
            lines += [f"- {n}" for n in sorted(notes)] + [""]
        if name in overlays:
            lines += [f"![ROC of every scorer on {name}]({overlays[name]})", ""]
    return lines


def _ci(interval: list[float] | None) -> str:
    return "" if interval is None else f" [{interval[0]:.3f}, {interval[1]:.3f}]"


def _correlation_section(result: BenchmarkResult, scatters: dict[str, str]) -> list[str]:
    """SRCC/PLCC with bootstrap intervals, MAE and accuracy at 5.0 per rated set and rating scorer;
    nothing at all when no set carries human scores."""
    rated = {name: int(np.isfinite(ss.human).sum()) for name, ss in result.set_scores.items()
             if len(ss.human) and np.isfinite(ss.human).any()}
    if not rated:
        return []
    lines = ["## Correlation with human ratings", "",
             "Sets whose labels carry human 1-10 mean scores (or rating distributions, of which the mean is "
             "taken), scored by every scorer that outputs a 1-10 mean score. SRCC: Spearman rank correlation; "
             "PLCC: Pearson linear correlation (scipy.stats); in brackets the 95% percentile bootstrap interval "
             "over resampled images (fixed seed). Accuracy at 5.0: the scorer's `score > 5` decision agrees "
             "with the human `mean > 5`. MAE in rating points.", ""]
    for name, n_rated in rated.items():
        lines += [f"### {name} ({n_rated} rated images)", ""]
        by_scorer = result.correlations.get(name, {})
        if not by_scorer:
            lines += ["No scorer outputs a 1-10 score here (add `--nima`, or benchmark a bundle trained with "
                      "`--target distribution` or `--target mean`).", ""]
            continue
        rows, notes = [], set()
        for scorer, c in by_scorer.items():
            rows.append([scorer, str(c.n), _num(c.srcc) + _ci(c.srcc_ci), _num(c.plcc) + _ci(c.plcc_ci),
                         f"{c.accuracy_at_threshold:.3f}", f"{c.mae:.3f}"])
            notes.update(c.notes)
        lines += [_table(["scorer", "n", "SRCC [95% CI]", "PLCC [95% CI]", "accuracy at 5.0", "MAE"], rows), ""]
        lines += [f"- {n}" for n in sorted(notes)] + ([""] if notes else [])
        if name in scatters:
            lines += [f"![predicted vs human mean score on {name}]({scatters[name]})", ""]
    return lines


def _robustness_section(result: BenchmarkResult, heatmap: str | None) -> list[str]:
    lines = ["## Robustness", ""]
    if not result.robustness:
        return lines + ["Not run (no `[robustness]` section in the suite, or `--no-robustness`).", ""]
    name = result.robustness_set
    original = result.metrics[name]
    n = result.robustness[0].n
    single = {s["name"] for s in result.scorers if len(_baseline_features(result, s["name"])) == 1}
    lines += [f"Set {name} ({n} images) scored again after each test-time transformation. "
              "Mean shift is the mean change of each scorer's own score (P(aesthetic), or the NIMA "
              "peer's 1-10 mean rating); flips are the fraction of decisions that changed. "
              "Single-feature baselines are in the heatmap below and in report.json.", ""]
    rows = []
    for s in result.scorers:
        if s["name"] in single:
            continue
        base = original[s["name"]]
        rows.append([s["name"], "none", _num(base.accuracy), "", _num(base.balanced_accuracy),
                     _num(base.roc_auc), "", "", s["score_label"]])
        for r in (r for r in result.robustness if r.scorer == s["name"]):
            rows.append(["", r.transform, _num(r.accuracy), f"{r.accuracy - base.accuracy:+.3f}",
                         _num(r.balanced_accuracy), _num(r.roc_auc), f"{r.mean_shift:+.4f}",
                         f"{r.flip_rate:.3f}", ""])
    lines += [_table(["scorer", "transform", "accuracy", "Δ accuracy", "balanced acc.", "ROC-AUC",
                      "mean shift", "flips", "score units"], rows), ""]
    if heatmap:
        lines += [f"![accuracy under transformations]({heatmap})", ""]
    return lines


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.0f}%"


def _sensitivity_section(result: BenchmarkResult, figures: list[str]) -> list[str]:
    lines = ["## Sensitivity", ""]
    rows_all = result.sensitivity
    if not rows_all:
        return lines + ["Not run (`--no-sensitivity`).", ""]
    single = {s["name"] for s in result.scorers if len(_baseline_features(result, s["name"])) == 1}
    shown = [s["name"] for s in result.scorers if s["name"] not in single]
    lines += ["Does the score move the right way when a good photo is spoiled? Each aesthetic photo "
              "of a set is degraded at 2-3 strengths: *fell* is the fraction whose score went down, "
              "*not* the fraction now called not aesthetic (before any change, the fraction called not "
              "aesthetic is 100% minus the set's recall). Near-empty frames (flat colours, gradients, "
              "blurred blobs) are not photographs: every one should be called not aesthetic. "
              "Label-preserving changes should leave the call as it was: *changed* is the fraction "
              "whose call changed. Every scorer gets the same rows; single-feature baselines are in "
              "report.json.", ""]
    header = ["photos", "change"] + [f"{n}: fell / not" for n in shown]
    for check, title in (("degradation", "Degradations of the aesthetic photos"),):
        table = []
        for group in dict.fromkeys(r.group for r in rows_all if r.check == check):
            for label in dict.fromkeys(r.label for r in rows_all if r.check == check and r.group == group):
                cells = []
                for name in shown:
                    r = next((r for r in rows_all if r.check == check and r.group == group and r.label == label
                              and r.scorer == name), None)
                    cells.append("" if r is None else f"{_pct(r.score_fell)} / {_pct(r.called_not)}")
                n = next(r.n for r in rows_all if r.check == check and r.group == group and r.label == label)
                table.append([f"{group} ({n})", label] + cells)
        lines += [f"### {title}", "", _table(header, table), ""]
    table = []
    for label in dict.fromkeys(r.label for r in rows_all if r.check == "empty"):
        cells = []
        for name in shown:
            r = next((r for r in rows_all if r.check == "empty" and r.label == label and r.scorer == name), None)
            cells.append("" if r is None else f"{_pct(r.called_not)} (mean {r.mean_score:.3g})")
        n = next(r.n for r in rows_all if r.check == "empty" and r.label == label)
        table.append([f"{label} ({n})"] + cells)
    lines += ["### Near-empty frames: called not aesthetic", "",
              _table(["frames"] + [f"{n}: not (mean score)" for n in shown], table), ""]
    table = []
    for group in dict.fromkeys(r.group for r in rows_all if r.check == "preserving"):
        for label in dict.fromkeys(r.label for r in rows_all if r.check == "preserving" and r.group == group):
            cells = []
            for name in shown:
                r = next((r for r in rows_all if r.check == "preserving" and r.group == group
                          and r.label == label and r.scorer == name), None)
                cells.append("" if r is None else _pct(r.call_changed))
            n = next(r.n for r in rows_all if r.check == "preserving" and r.group == group and r.label == label)
            table.append([f"{group} ({n})", label] + cells)
    lines += ["### Label-preserving changes: call changed", "",
              _table(["photos", "change"] + [f"{n}: changed" for n in shown], table), ""]
    lines += [f"![score against strength]({f})" for f in figures] + [""]
    return lines


def _calibration_lines(result: BenchmarkResult) -> list[str]:
    rows = []
    for s in result.scorers:
        cal = s.get("calibration")
        if cal is None:
            continue
        rows.append([s["name"], cal.get("method", "none"), _num(cal.get("ece_raw")), _num(cal.get("ece_calibrated")),
                     str(cal.get("threshold_from", ""))])
    if not rows:
        return []
    return ["## Calibration", "",
            "ECE of each model's probability on its own out-of-fold training scores (class-balanced), "
            "before and after the calibration stored in its bundle; the per-set reliability diagrams "
            "above show the calibrated P on the benchmark sets.", "",
            _table(["model", "calibration", "ECE raw", "ECE calibrated", "threshold from"], rows), ""]


def _baselines_section(result: BenchmarkResult) -> list[str]:
    if not result.baselines:
        return []
    lines = ["## Hand-crafted baselines", "",
             f"Features on a copy downsized to at most {FEATURE_SIDE} px (aspect ratio from the full "
             "image); logistic regression on standardised features, class_weight=\"balanced\", "
             "decision P > 0.5. Coefficients are per standard deviation of the feature "
             "(positive = more aesthetic). All fitted values are in `baselines.json`.", ""]
    rows = [[baseline_name(m.features),
             ", ".join(f"{f} {c:+.3f}" for f, c in zip(m.features, m.coef_)), f"{m.intercept_:+.3f}",
             str(m.n_train_)] for m in result.baselines]
    return lines + [_table(["baseline", "coefficients", "intercept", "n train"], rows), ""]


def render_markdown(result: BenchmarkResult, command: str, created: str,
                    plots: dict[str, dict[str, str]], overlays: dict[str, str],
                    heatmap: str | None, scatters: dict[str, str] | None = None,
                    sensitivity_figures: list[str] | None = None) -> str:
    spec = result.suite.spec
    env = result.environment
    mach = env.get("machine", {})
    lines = [f"# Benchmark report: {spec.name}", "", "Made with:", "", "```", command, "```", "",
             f"{created} · suite `{result.suite.path}` · {mach.get('cpu', '?')}, {mach.get('usable_cores', '?')} "
             f"usable cores, {mach.get('ram_gib', '?')} GiB RAM · {env.get('platform', '')} · Python "
             f"{env.get('python', '')}", ""]
    lines += ["## Headline: accuracy per set", "",
              "Rows are scorers (the project's model(s), the NIMA peer, hand-crafted baselines), "
              "columns are sets with n: aesthetic / not. On a one-class set accuracy is the fraction "
              "classified correctly (specificity for an all-negative set).", "",
              _headline(result, "accuracy"), "", "### ROC-AUC per set", "",
              "\"undefined\" where a set holds one class only.", "",
              _headline(result, "roc_auc"), "", "### Balanced accuracy per set", "",
              _headline(result, "balanced_accuracy"), ""]
    lines += _correlation_section(result, scatters or {})
    lines += ["## Shortcut check", "",
              "A model that cannot beat a logistic regression on aspect ratio alone has learned "
              "the framing of the sources, not aesthetics.", ""]
    lines += _shortcut_check(result) + [""]
    if result.notes:
        lines += ["**Notes:**", ""] + [f"- {n}" for n in result.notes] + [""]
    lines += _data_section(result)
    lines += _leakage_section(result)
    lines += _details_section(result, plots, overlays)
    lines += _robustness_section(result, heatmap)
    lines += _sensitivity_section(result, sensitivity_figures or [])
    lines += _calibration_lines(result)
    lines += _baselines_section(result)
    t = result.timings
    lines += ["## Run", "",
              "Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) + ".", "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items()) + ".", ""]
    return "\n".join(lines)


def report_dict(result: BenchmarkResult, command: str, created: str) -> dict[str, Any]:
    spec = result.suite.spec
    return to_jsonable({
        "format": REPORT_FORMAT, "format_version": 1, "command": command, "created": created,
        "options": (result.options.model_dump(mode="json", exclude={"progress"})
                    if result.options is not None else None),
        "suite": {"path": str(result.suite.path), "spec": spec.model_dump(mode="json")},
        "scorers": result.scorers,
        "sets": {name: {"n_listed": len(rset.items), "n_scored": len(result.set_scores[name].y),
                        "n_positive": int(result.set_scores[name].y.sum()),
                        "n_negative": int(len(result.set_scores[name].y) - result.set_scores[name].y.sum()),
                        "provenance": rset.provenance, "members": f"splits/{split_file_name(name)}",
                        "unreadable": result.set_scores[name].unreadable}
                 for name, rset in result.sets.items()},
        "metrics": {set_name: {s: m.to_dict() for s, m in by.items()}
                    for set_name, by in result.metrics.items()},
        "correlations": {set_name: {s: c.to_dict() for s, c in by.items()}
                         for set_name, by in result.correlations.items()},
        "robustness": {"set": result.robustness_set,
                       "rows": [r.to_dict() for r in result.robustness]},
        "sensitivity": {"rows": [r.to_dict() for r in result.sensitivity]},
        "baselines": {"train": result.baseline_train,
                      "models": [m.to_dict() for m in result.baselines]},
        "audit": result.audit.to_dict() if result.audit is not None else None,
        "notes": result.notes, "timings": result.timings, "environment": result.environment,
    }, nan_as_none=True)


def _write_scatters(result: BenchmarkResult, root: Path) -> dict[str, str]:
    """``plots/<set>/ratings.png`` for every set with correlation rows; set -> relative path."""
    from aesthetic.benchmarks.report import plots as P

    written = {}
    for name, by_scorer in result.correlations.items():
        ss = result.set_scores[name]
        rated = np.isfinite(ss.human)
        rel = f"plots/{slug(name)}/ratings.png"
        P.rating_scatter(root / rel, name, ss.human[rated], {s: ss.scores[s][rated] for s in by_scorer}, by_scorer)
        written[name] = rel
    return written


def _write_plots(result: BenchmarkResult, root: Path) -> tuple[dict[str, dict[str, str]], dict[str, str], str | None]:
    from aesthetic.benchmarks.report import plots as P

    panels: dict[str, dict[str, str]] = {}
    overlays: dict[str, str] = {}
    for name, ss in result.set_scores.items():
        panels[name] = {}
        if len(ss.y) == 0:
            continue
        for meta in result.scorers:
            rel = f"plots/{slug(name)}/{slug(meta['name'])}.png"
            P.scorer_panel(root / rel, name, meta, ss.y, ss.scores[meta["name"]],
                           result.metrics[name][meta["name"]])
            panels[name][meta["name"]] = rel
        rel = f"plots/{slug(name)}/roc_all.png"
        aucs = {s: result.metrics[name][s].roc_auc for s in ss.scores}
        if P.roc_overlay(root / rel, name, ss.y, ss.scores, aucs) is not None:
            overlays[name] = rel
    heatmap = None
    if result.robustness:
        transforms = list(dict.fromkeys(r.transform for r in result.robustness))
        names = [s["name"] for s in result.scorers]
        acc = np.array([[next(r.accuracy for r in result.robustness
                              if r.transform == t and r.scorer == s) for t in transforms] for s in names])
        original = [result.metrics[result.robustness_set][s].accuracy for s in names]
        heatmap = "plots/robustness.png"
        P.robustness_heatmap(root / heatmap, result.robustness_set, transforms, names, acc, original)
    return panels, overlays, heatmap


def _write_sensitivity_plots(result: BenchmarkResult, root: Path) -> list[str]:
    from aesthetic.benchmarks.report import plots as P

    figures = []
    deg = [r for r in result.sensitivity if r.check == "degradation"]
    for group in dict.fromkeys(r.group for r in deg):
        for meta in result.scorers:
            if meta["kind"] == "baseline":
                continue
            rows = [r for r in deg if r.group == group and r.scorer == meta["name"]]
            if not rows:
                continue
            rel = f"plots/sensitivity_{slug(group)}_{slug(meta['name'])}.png"
            P.sensitivity_curves(root / rel, group, meta, rows)
            figures.append(rel)
    return figures


def check_report_out(out: str | Path, inputs=()) -> Path:
    """Refuse, before any work, an ``out`` that holds no previous report or holds one of ``inputs``."""

    try:
        return check_output_dir(out, what="benchmark report (no report.json in it)", inputs=inputs,
                                is_artifact=lambda p: (p / "report.json").is_file())
    except OutputError as exc:
        raise ReportError(str(exc)) from None


def write_report(result: BenchmarkResult, out_dir: str | Path, command: str, inputs=()) -> Path:
    """Write report.md, report.html (the same, browsable: :mod:`aesthetic.benchmarks.report.html`),
    report.json, baselines.json, plots/ and splits/ into ``out_dir`` atomically."""

    out = check_report_out(out_dir, inputs).resolve()
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with atomic_dir(out) as tmp:
        write_split_csvs(result.suite, tmp / "splits", relative_to=out / "splits")
        if result.baselines:
            (tmp / "baselines.json").write_text(baselines_json(result.baselines))
        panels, overlays, heatmap = _write_plots(result, tmp)
        scatters = _write_scatters(result, tmp)
        figures = _write_sensitivity_plots(result, tmp)
        (tmp / "report.json").write_text(json.dumps(report_dict(result, command, created), indent=2))
        markdown = render_markdown(result, command, created, panels, overlays, heatmap, scatters, figures)
        (tmp / "report.md").write_text(markdown)
        (tmp / "report.html").write_text(render_report_html(result, markdown, tmp), encoding="utf-8")
    return out
