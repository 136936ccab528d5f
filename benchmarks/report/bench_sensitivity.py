"""Issue #13's acceptance check: does a model judge the photo, or the source it came from?

On a labels CSV of held-out photos (the suite's ``Curated_vs_Snapshot`` test half, from
``aesthetic splits``), for each model bundle:

- balanced accuracy on the photos and on their centred square crops;
- for the aesthetic photos, each of blur sigma 3, 8x down-up, JPEG q10, -2 EV and noise sigma 25:
  the fraction called not aesthetic and the fraction whose P fell;
- flat and gradient frames (and blurred blobs): the fraction called not aesthetic;
- horizontal flip and 90% centre crop: the fraction whose call changed;
- what a person would ask: P of a uniform grey 500x375 frame.

Targets (issue #13): balanced accuracy >= 0.93, square >= 0.90; each degradation not >= 90% and
fell >= 95%; every flat/gradient frame not; flip/crop changed <= 5%.

    python -m aesthetic.benchmarks.report.bench_sensitivity runs/shared_data_mobilenet/splits/Curated_vs_Snapshot.csv \\
        MODEL_DIR [MODEL_DIR ...] --out benchmarks/results/sensitivity
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

TARGETS = {"balanced_accuracy": 0.93, "balanced_accuracy_square": 0.90, "degraded_not": 0.90,
           "degraded_fell": 0.95, "empty_not": 1.0, "preserving_changed": 0.05}


def evaluate(model, items) -> dict:
    from sklearn.metrics import balanced_accuracy_score

    from aesthetic import degradations as D
    from aesthetic.bundles.scoring import ModelScorer, score_items
    from aesthetic.benchmarks.report.sensitivity import Degradation, empty_frames, run_sensitivity

    scorer = ModelScorer(model, Path(model.path).name)
    base = score_items([scorer], items, progress=False)
    ok = base.ok
    y = np.array([i.label for i in items])[ok]
    p = base.scores[scorer.name][ok]
    square = score_items([scorer], [i for i, good in zip(items, ok) if good], transform=D.center_crop_square,
                         progress=False).scores[scorer.name]
    t = scorer.threshold
    accept = [Degradation("blur", 3, "blur sigma 3", lambda im: D.gaussian_blur(im, 3.0)),
              Degradation("down_up", 8, "8x down-up", lambda im: D.down_up(im, 8.0)),
              Degradation("jpeg", 10, "JPEG q10", lambda im: D.jpeg_roundtrip(im, 10)),
              Degradation("underexpose", 2, "-2 EV", lambda im: D.exposure(im, -2.0)),
              Degradation("noise", 25, "noise sigma 25", lambda im: D.gaussian_noise(im, 25.0, 0))]
    keep = [Degradation("hflip", 0, "horizontal flip", D.horizontal_flip),
            Degradation("crop", 0.9, "90% centre crop", lambda im: D.center_crop_fraction(im, 0.9))]
    positives = [i for i, good in zip(items, ok) if good and i.label == 1]
    rows = run_sensitivity([scorer], {"aesthetic": positives}, {"all": [i for i, g in zip(items, ok) if g]},
                           accept, keep, empty_frames(27), progress=False)
    grey = float(model.predict_images([D.flat_frame(375, 500, (128, 128, 128))])[0])
    out = {"model": str(model.path), "threshold": t, "n": int(len(y)), "n_aesthetic": int(y.sum()),
           "balanced_accuracy": float(balanced_accuracy_score(y, p >= t)),
           "balanced_accuracy_square": float(balanced_accuracy_score(y, square >= t)),
           "grey_frame_p": grey, "rows": [r.to_dict() for r in rows]}
    checks = [out["balanced_accuracy"] >= TARGETS["balanced_accuracy"],
              out["balanced_accuracy_square"] >= TARGETS["balanced_accuracy_square"]]
    for r in rows:
        if r.check == "degradation":
            checks += [r.called_not >= TARGETS["degraded_not"], r.score_fell >= TARGETS["degraded_fell"]]
        elif r.check == "empty" and r.kind != "blurred blobs":
            checks.append(r.called_not >= TARGETS["empty_not"])
        elif r.check == "preserving":
            checks.append(r.call_changed <= TARGETS["preserving_changed"])
    out["targets_met"] = f"{sum(checks)} of {len(checks)}"
    return out


def markdown(results: list[dict], command: str) -> str:
    lines = ["# Sensitivity acceptance (issue #13)", "", "Made with:", "", "```", command, "```", "",
             "Targets: balanced accuracy >= 0.93 (square crops >= 0.90); each degradation of the aesthetic "
             "photos called not aesthetic >= 90% and P lowered >= 95%; every flat/gradient frame not "
             "aesthetic; flip / 90% crop change the call <= 5%.", ""]
    names = [Path(r["model"]).name for r in results]
    lines += ["| check | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label, values):
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("threshold", [f"{r['threshold']:.3f}" for r in results])
    row("balanced accuracy", [f"{r['balanced_accuracy']:.3f}" for r in results])
    row("balanced accuracy, square crops", [f"{r['balanced_accuracy_square']:.3f}" for r in results])
    row("P(grey 500x375 frame)", [f"{r['grey_frame_p']:.3f}" for r in results])
    labels = list(dict.fromkeys((x["check"], x["label"]) for x in results[0]["rows"]))
    for check, label in labels:
        cells = []
        for r in results:
            x = next(x for x in r["rows"] if x["check"] == check and x["label"] == label)
            if check == "degradation":
                cells.append(f"not {100 * x['called_not']:.0f}%, fell {100 * x['score_fell']:.0f}%")
            elif check == "empty":
                cells.append(f"not {100 * x['called_not']:.0f}% (n={x['n']})")
            else:
                cells.append(f"changed {100 * x['call_changed']:.0f}%")
        row(f"{check}: {label}", cells)
    row("targets met", [r["targets_met"] for r in results])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import sys

    from aesthetic.bundles.model import load_model
    from aesthetic.fileio import atomic_write_text
    from aesthetic.data import read_labels_csv

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labels", type=Path, help="labels CSV of held-out photos (path,label)")
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    items = read_labels_csv(args.labels)
    results = [evaluate(load_model(m), items) for m in args.models]
    command = "python -m aesthetic.benchmarks.report.bench_sensitivity " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(f"{args.out}.json", json.dumps({"command": command, "results": results}, indent=2))
    atomic_write_text(f"{args.out}.md", markdown(results, command))
    print(markdown(results, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
