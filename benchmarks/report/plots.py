"""PNG figures of a benchmark report (matplotlib, Agg backend: no display needed).

* :func:`scorer_panel`: one scorer on one set: confusion matrix, score histogram
  per class with the threshold, ROC curve, reliability diagram.
* :func:`roc_overlay`: every scorer's ROC on one set, so "does the model beat aspect
  ratio?" is one glance.
* :func:`robustness_heatmap`: accuracy of every scorer under every transformation.
* :func:`rating_scatter`: predicted vs human mean score of every rating scorer on one set.
* :func:`sensitivity_curves`: one scorer's mean score on the aesthetic photos against the
  strength of each degradation, with the fraction still called aesthetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from aesthetic.metrics import BinaryMetrics, roc_curve  # noqa: E402

DPI = 72
CLASS_NAMES = {0: "not aesthetic (0)", 1: "aesthetic (1)"}
CLASS_COLOURS = {0: "tab:blue", 1: "tab:orange"}


def _save(fig, path: Path) -> Path:
    """PNG with a 128-colour palette: charts have few colours, and reports are committed,
    so a third of the bytes of full RGBA is worth it."""
    import io

    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # no bbox_inches="tight": it draws every figure twice
    plt.close(fig)
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _confusion(ax, m: BinaryMetrics) -> None:
    cm = np.asarray(m.confusion)
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(1, cm.max()))
    for (r, c), v in np.ndenumerate(cm):
        ax.text(c, r, str(v), ha="center", va="center",
                color="white" if v > cm.max() / 2 else "black", fontsize=12)
    ax.set_xticks([0, 1], ["pred 0", "pred 1"])
    ax.set_yticks([0, 1], ["true 0", "true 1"])
    ax.set_title(f"confusion (acc {m.accuracy:.3f})")


def _histogram(ax, y: np.ndarray, scores: np.ndarray, meta: Mapping[str, Any]) -> None:
    lo, hi = (0.0, 1.0) if meta["probabilistic"] else (float(scores.min()), float(scores.max()))
    if hi <= lo:
        hi = lo + 1.0
    bins = np.linspace(lo, hi, 21)
    for label in (0, 1):
        if np.any(y == label):
            ax.hist(scores[y == label], bins=bins, alpha=0.6, color=CLASS_COLOURS[label],
                    label=f"{CLASS_NAMES[label]} n={int(np.sum(y == label))}")
    ax.axvline(meta["threshold"], color="black", linestyle="--", linewidth=1, label="threshold")
    ax.set_xlabel(meta["score_label"])
    ax.set_ylabel("images")
    ax.set_title("scores per class")
    ax.legend(fontsize=7)


def _roc(ax, y: np.ndarray, scores: np.ndarray, m: BinaryMetrics) -> None:
    if m.roc_auc is None:
        _message(ax, "ROC undefined:\nthe set holds one class only")
        ax.set_title("ROC")
        return
    fpr, tpr, _ = roc_curve(y, scores)
    ax.plot(fpr, tpr, color="tab:green")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC (AUC {m.roc_auc:.3f})")
    ax.set_aspect("equal")


def _reliability(ax, m: BinaryMetrics) -> None:
    ax.set_title("reliability")
    if m.reliability is None:
        _message(ax, "not a probability:\nno reliability diagram")
        return
    rel = m.reliability
    centres = (np.asarray(rel.edges[:-1]) + np.asarray(rel.edges[1:])) / 2
    width = rel.edges[1] - rel.edges[0]
    frac = np.array([np.nan if v is None else v for v in rel.fraction_positive])
    ax.bar(centres, np.nan_to_num(frac), width=width * 0.9, color="tab:purple", alpha=0.7,
           label="fraction aesthetic")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    for c, n in zip(centres, rel.count):
        if n:
            ax.text(c, 0.02, str(n), ha="center", fontsize=6, rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean P(aesthetic) in bin")
    ax.set_ylabel("fraction aesthetic")
    ax.set_title(f"reliability (ECE {rel.ece:.3f})")
    ax.legend(fontsize=7, loc="upper left")


def scorer_panel(path: Path, set_name: str, meta: Mapping[str, Any], y: np.ndarray,
                 scores: np.ndarray, m: BinaryMetrics) -> Path:
    fig, axes = plt.subplots(2, 2, figsize=(8, 7))
    _confusion(axes[0, 0], m)
    _histogram(axes[0, 1], y, scores, meta)
    _roc(axes[1, 0], y, scores, m)
    _reliability(axes[1, 1], m)
    fig.suptitle(f"{meta['name']} on {set_name} (n={m.n}, {meta['decision']})", fontsize=11)
    return _save(fig, path)


def roc_overlay(path: Path, set_name: str, y: np.ndarray, scores: Mapping[str, np.ndarray],
                aucs: Mapping[str, float | None]) -> Path | None:
    """All scorers' ROC curves on one set; None (nothing written) when ROC is undefined."""
    if len(np.unique(y)) < 2:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        style = "-" if not name.startswith("baseline:") else "--"
        ax.plot(fpr, tpr, style, linewidth=1.5 if style == "-" else 1,
                label=f"{name} ({aucs[name]:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC on {set_name} (AUC in legend)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_aspect("equal")
    return _save(fig, path)


def robustness_heatmap(path: Path, set_name: str, transforms: Sequence[str], scorers: Sequence[str],
                       accuracy: np.ndarray, original: Sequence[float]) -> Path:
    """``accuracy`` is ``(len(scorers), len(transforms))``; ``original`` the untransformed accuracy."""
    data = np.column_stack([np.asarray(original), accuracy])
    cols = ["original", *transforms]
    fig, ax = plt.subplots(figsize=(1.1 * len(cols) + 3, 0.45 * len(scorers) + 1.8))
    ax.imshow(data, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for (r, c), v in np.ndenumerate(data):
        ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(scorers)), scorers, fontsize=8)
    ax.set_title(f"accuracy under test-time transformations ({set_name})")
    return _save(fig, path)


def rating_scatter(path: Path, set_name: str, human: np.ndarray, predicted: Mapping[str, np.ndarray],
                   stats: Mapping[str, Any], threshold: float = 5.0) -> Path:
    """One panel per rating scorer: predicted vs human 1-10 mean score of the rated images, the
    identity line and the ``threshold`` lines (the four quadrants are the agreements and
    disagreements of the 5.0 decision); SRCC/PLCC from ``stats`` (scorer -> CorrelationMetrics)."""
    names = list(predicted)
    fig, axes = plt.subplots(1, len(names), figsize=(max(4.6 * len(names), 5.0), 4.8), squeeze=False)
    h = np.asarray(human, np.float64)
    for ax, name in zip(axes[0], names):
        p = np.asarray(predicted[name], np.float64)
        lo = float(min(h.min(), p.min(), threshold)) - 0.3
        hi = float(max(h.max(), p.max(), threshold)) + 0.3
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":", linewidth=1, label="identity")
        ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8)
        ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8)
        ax.scatter(h, p, s=18, alpha=0.7, color="tab:blue")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel("human mean score (1-10)")
        ax.set_ylabel("predicted mean score (1-10)")
        m = stats.get(name)
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        ax.set_title(f"{name}\nSRCC {fmt(getattr(m, 'srcc', None))}, PLCC {fmt(getattr(m, 'plcc', None))}",
                     fontsize=9)
    fig.suptitle(f"{set_name}: predicted vs human mean (n={len(h)})", fontsize=10)
    return _save(fig, path)


def sensitivity_curves(path: Path, group: str, scorer: Mapping[str, Any], rows: Sequence[Any]) -> Path:
    """Per degradation kind: mean score of the aesthetic photos against strength (strength 0 is the
    untouched photo) and the threshold; the fraction still called aesthetic on a second axis."""
    kinds = list(dict.fromkeys(r.kind for r in rows))
    cols = min(4, len(kinds))
    nrows = int(np.ceil(len(kinds) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        rs = sorted((r for r in rows if r.kind == kind), key=lambda r: r.strength)
        x = [0.0] + [r.strength for r in rs]
        y = [rs[0].mean_before] + [r.mean_score for r in rs]
        ax.plot(x, y, "o-", color="tab:orange", label="mean score")
        ax.axhline(scorer["threshold"], color="grey", ls="--", lw=1, label="threshold")
        ax.set_title(kind, fontsize=9)
        ax.set_xlabel("strength", fontsize=8)
        ax.set_ylabel(scorer["score_label"], fontsize=7)
        if scorer.get("probabilistic"):
            ax.set_ylim(-0.02, 1.02)
        twin = ax.twinx()
        twin.plot([r.strength for r in rs], [1 - r.called_not for r in rs], "s:", color="tab:blue",
                  label="called aesthetic")
        twin.set_ylim(-0.02, 1.02)
        twin.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    fig.suptitle(f"{scorer['name']} on the aesthetic photos of {group}: orange mean score, "
                 "blue dotted fraction called aesthetic", fontsize=9)
    return _save(fig, path)
