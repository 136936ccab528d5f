"""The one binary-classification metrics engine, in plain numpy: a bundle's metrics.json
(:func:`validation_summary`) and a report's tables (:func:`binary_metrics`) compute every
number here, by the same rules.

Conventions (the same as scikit-learn's, which the tests compare against):

* labels are 0/1, scores are "higher = more aesthetic"; a prediction is positive
  when ``score >= threshold`` (the project's classifier's rule, the default). A scorer
  whose published rule is strict (LogisticRegression.predict, NIMA's "mean > 5") passes
  ``inclusive=False`` and gets ``score > threshold``; each scorer says which.
* the confusion matrix is ``[[tn, fp], [fn, tp]]`` (rows = truth, columns = prediction).
* precision with no predicted positives, recall with no positive examples and F1
  when both are zero are set to 0 (scikit-learn's ``zero_division=0``); every
  value set that way is named in ``notes`` so a report can mark it.
* balanced accuracy is the mean recall over the classes *present in the truth*,
  so on a one-class set it is that class's recall (scikit-learn does the same) - a
  defined number, never NaN.
* ROC-AUC is None ("undefined") when the truth holds one class only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def _check(y_true: np.ndarray, values: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    v = np.asarray(values)
    if y.ndim != 1 or v.ndim != 1 or len(y) != len(v):
        raise ValueError(f"y_true and {what} must be 1-D and of equal length, got shapes "
                         f"{y.shape} and {v.shape}")
    if not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise ValueError(f"y_true must hold only 0 and 1, found {bad.tolist()}")
    return y.astype(np.int64), v


def predict(scores: np.ndarray, threshold: float, inclusive: bool = True) -> np.ndarray:
    """0/1 decisions ``score >= threshold`` (``>`` when not inclusive) for ``(n,)`` scores."""
    s = np.asarray(scores, dtype=np.float64)
    return (s >= threshold if inclusive else s > threshold).astype(np.int64)


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``[[tn, fp], [fn, tp]]`` as a (2, 2) int64 array."""
    y, p = _check(y_true, y_pred, "y_pred")
    counts = np.bincount(2 * y + p.astype(np.int64), minlength=4)
    return counts.reshape(2, 2)


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); None for one class."""
    y, s = _check(y_true, scores, "scores")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    s = s.astype(np.float64)
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average rank (1-based) within each run of tied scores
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, from (0, 0) at threshold +inf.

    A point at threshold t counts ``score >= t`` as positive (the ROC convention;
    scikit-learn's ``roc_curve(..., drop_intermediate=False)`` gives the same arrays).
    A rate whose class is absent is NaN.
    """
    y, s = _check(y_true, scores, "scores")
    s = s.astype(np.float64)
    order = np.argsort(-s, kind="mergesort")
    s_desc, y_desc = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_desc)), len(s_desc) - 1]
    tps = np.cumsum(y_desc)[last_of_run]
    fps = (last_of_run + 1) - tps
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    n_pos, n_neg = tps[-1], fps[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tps / n_pos if n_pos else np.full(len(tps), np.nan)
        fpr = fps / n_neg if n_neg else np.full(len(fps), np.nan)
    thresholds = np.r_[np.inf, s_desc[last_of_run]]
    return fpr.astype(np.float64), tpr.astype(np.float64), thresholds


@dataclass
class Reliability:
    """Calibration of probability-like scores in ``n_bins`` equal-width bins of [0, 1].

    Bin k holds scores in ``(edge_k, edge_k+1]`` (the first bin includes 0), as in
    scikit-learn's ``calibration_curve(strategy="uniform")``. Empty bins have
    count 0 and NaN means. ``ece`` is the count-weighted mean |fraction positive -
    mean predicted| over non-empty bins.
    """

    edges: list[float]
    count: list[int]
    mean_predicted: list[float | None]
    fraction_positive: list[float | None]
    ece: float


def reliability(y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 10) -> Reliability:
    y, p = _check(y_true, probabilities, "probabilities")
    p = p.astype(np.float64)
    if len(p) and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"probabilities must lie in [0, 1], got range [{p.min():.4g}, {p.max():.4g}]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], p)  # left side: an edge value goes to the lower bin
    count = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    nonempty = count > 0
    mean_p = np.full(n_bins, np.nan)
    frac = np.full(n_bins, np.nan)
    mean_p[nonempty] = sum_p[nonempty] / count[nonempty]
    frac[nonempty] = sum_y[nonempty] / count[nonempty]
    ece = float(np.sum(count[nonempty] * np.abs(frac[nonempty] - mean_p[nonempty])) / max(1, len(p)))
    as_list = lambda a: [None if np.isnan(v) else float(v) for v in a]  # noqa: E731
    return Reliability(edges=edges.tolist(), count=count.astype(int).tolist(),
                       mean_predicted=as_list(mean_p), fraction_positive=as_list(frac), ece=ece)


@dataclass
class BinaryMetrics:
    """Every number a report shows for one scorer on one set."""

    n: int
    n_positive: int
    n_negative: int
    threshold: float
    accuracy: float
    balanced_accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    confusion: list[list[int]]  # [[tn, fp], [fn, tp]]
    mean_score_positive: float | None
    mean_score_negative: float | None
    reliability: Reliability | None = None
    notes: list[str] = field(default_factory=list)
    #: metric names whose value is a convention, not a measurement (see module docstring)
    by_convention: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def binary_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float,
                   probabilities: bool = True, n_bins: int = 10,
                   inclusive: bool = True) -> BinaryMetrics:
    """All metrics of ``(n,)`` scores against 0/1 truth at ``threshold``.

    ``probabilities=False`` (a score that is not P(aesthetic), e.g. NIMA's mean
    rating) skips the reliability bins, which only mean something for probabilities.
    """
    y, s = _check(y_true, scores, "scores")
    if len(y) == 0:
        raise ValueError("cannot compute metrics of an empty set")
    if not np.all(np.isfinite(s.astype(np.float64))):
        raise ValueError("scores must be finite (drop unreadable images before computing metrics)")
    (tn, fp), (fn, tp) = confusion(y, predict(s, threshold, inclusive)).tolist()
    n = len(y)
    notes: list[str] = []
    by_convention: list[str] = []
    precision = _ratio(tp, tp + fp)
    if precision is None:
        precision = 0.0
        by_convention.append("precision")
        notes.append("precision: no image predicted aesthetic; set to 0 (zero_division=0)")
    recall = _ratio(tp, tp + fn)
    if recall is None:
        recall = 0.0
        by_convention.append("recall")
        notes.append("recall: no aesthetic images in the set; set to 0 (zero_division=0)")
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)  # = harmonic mean of precision and recall
    if f1 is None:
        f1 = 0.0
        by_convention.append("f1")
        notes.append("f1: no aesthetic image in truth or prediction; set to 0 (zero_division=0)")
    per_class_recall = [r for r in (_ratio(tn, tn + fp), _ratio(tp, tp + fn)) if r is not None]
    auc = roc_auc(y, s)
    if auc is None:
        notes.append("roc_auc: undefined, the set holds one class only")
    s64 = s.astype(np.float64)
    return BinaryMetrics(
        n=n, n_positive=tp + fn, n_negative=tn + fp, threshold=float(threshold),
        accuracy=(tp + tn) / n,
        balanced_accuracy=float(np.mean(per_class_recall)),
        precision=float(precision), recall=float(recall), f1=float(f1), roc_auc=auc,
        confusion=[[tn, fp], [fn, tp]],
        mean_score_positive=float(s64[y == 1].mean()) if tp + fn else None,
        mean_score_negative=float(s64[y == 0].mean()) if tn + fp else None,
        reliability=reliability(y, s64, n_bins) if probabilities else None,
        notes=notes, by_convention=by_convention)


def validation_summary(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The flat dict a trained model records in its bundle (metrics.json): ``n``, ``n_aesthetic``,
    ``threshold``, ``accuracy``, ``balanced_accuracy``, ``f1`` and ``auc``, decided ``p >= threshold``.

    The numbers are :func:`binary_metrics`'s. ``auc`` is NaN where the set holds one class
    (undefined); every value is NaN for an empty set.
    """
    y = np.asarray(labels).astype(np.int64)
    summary = {"n": int(len(y)), "n_aesthetic": int(y.sum()), "threshold": float(threshold)}
    if len(y) == 0:
        return {**summary, **dict.fromkeys(("accuracy", "balanced_accuracy", "f1", "auc"), float("nan"))}
    m = binary_metrics(y, np.asarray(probabilities, dtype=np.float64), threshold, probabilities=False)
    return {**summary, "accuracy": float(m.accuracy), "balanced_accuracy": float(m.balanced_accuracy),
            "f1": float(m.f1), "auc": float("nan") if m.roc_auc is None else float(m.roc_auc)}


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = 10,
                               weights: np.ndarray | None = None) -> float:
    """ECE: over ``n_bins`` equal-width bins of P, the (weighted) share of rows in each bin times
    |fraction aesthetic - mean P| in it (the binning of the benchmark report's reliability diagram)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(y) == 0 or w.sum() <= 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        m = bins == b
        wb = w[m].sum()
        if wb > 0:
            total += wb * abs(np.average(y[m], weights=w[m]) - np.average(p[m], weights=w[m]))
    return float(total / w.sum())


# --------------------------------------------------------------------------- correlation with human scores

@dataclass
class CorrelationMetrics:
    """Agreement of a scorer's 1-10 mean scores with human mean scores on one set.

    ``srcc``/``plcc``: Spearman's and Pearson's correlation (scipy.stats); ``*_ci``: the
    ``level`` percentile bootstrap interval over ``n_resamples`` resamples of the image pairs
    (numpy generator seeded with ``seed``; resamples where either side is constant are skipped).
    ``accuracy_at_threshold``: fraction of images where ``predicted > threshold`` (``>=`` when the
    scorer decides inclusively) agrees with ``human > threshold`` (AVA's rule). ``mae`` in
    rating points. A value is None when undefined (fewer than 3 images, or a constant vector).
    """

    n: int
    srcc: float | None
    srcc_ci: list[float] | None
    plcc: float | None
    plcc_ci: list[float] | None
    accuracy_at_threshold: float
    threshold: float
    mae: float
    n_resamples: int
    seed: int
    level: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _corr(kind: str, a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import pearsonr, spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float((spearmanr if kind == "srcc" else pearsonr)(a, b).statistic)


def bootstrap_interval(kind: str, a: np.ndarray, b: np.ndarray, n_resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> list[float] | None:
    """Percentile bootstrap interval ``[low, high]`` of SRCC (``kind="srcc"``) or PLCC (``"plcc"``)
    over paired resamples of ``(a, b)``; None with fewer than 3 pairs or fewer than half the
    resamples defined."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        idx = rng.integers(0, len(a), len(a))
        v = _corr(kind, a[idx], b[idx])
        if v is not None and np.isfinite(v):
            values.append(v)
    if len(values) < n_resamples / 2:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return [float(low), float(high)]


def correlation_metrics(human: np.ndarray, predicted: np.ndarray, threshold: float = 5.0,
                        inclusive: bool = False, n_resamples: int = 2000, seed: int = 0,
                        level: float = 0.95) -> CorrelationMetrics:
    """:class:`CorrelationMetrics` of ``predicted`` 1-10 mean scores against ``human`` ones ``(n,)``."""
    h = np.asarray(human, np.float64)
    p = np.asarray(predicted, np.float64)
    if h.ndim != 1 or h.shape != p.shape:
        raise ValueError(f"human and predicted scores must be 1-D and of equal length, got {h.shape} and {p.shape}")
    if len(h) == 0 or not (np.isfinite(h).all() and np.isfinite(p).all()):
        raise ValueError("correlation needs at least one image with finite human and predicted scores")
    notes = []
    if len(h) < 3:
        notes.append(f"only {len(h)} rated image(s): correlations undefined")
    elif len(h) < 30:
        notes.append(f"only {len(h)} rated images: the intervals are wide and the point estimates unstable")
    srcc, plcc = _corr("srcc", h, p), _corr("plcc", h, p)
    agree = predict(p, threshold, inclusive) == predict(h, threshold, False)
    return CorrelationMetrics(
        n=int(len(h)), srcc=srcc, srcc_ci=bootstrap_interval("srcc", h, p, n_resamples, seed, level),
        plcc=plcc, plcc_ci=bootstrap_interval("plcc", h, p, n_resamples, seed, level),
        accuracy_at_threshold=float(np.mean(agree)), threshold=float(threshold),
        mae=float(np.mean(np.abs(p - h))), n_resamples=int(n_resamples), seed=int(seed), level=float(level),
        notes=notes)
