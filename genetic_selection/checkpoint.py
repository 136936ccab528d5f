"""A GA run's files: the per-generation checkpoint, ``history.json`` and the ``fitness.png`` plot.

The checkpoint is one JSON file rewritten atomically after every generation::

    {"format": "aesthetic-ga-checkpoint", "format_version": 1, "config": {...},
     "generation": g, "population": [[...k ints...], ...], "fitness": [...],
     "rng_state": <numpy bit_generator.state>, "history": [...]}

``config`` holds every setting that changes the result plus a fingerprint of the data;
a checkpoint whose config differs from the current run's is refused, never silently
continued or overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from aesthetic.fileio import PathLike, atomic_path, atomic_write_text

from .errors import SelectionError

FORMAT = "aesthetic-ga-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT = "checkpoint.json"
HISTORY = "history.json"
PLOT = "fitness.png"


def write_checkpoint(run_dir: PathLike, *, config: Mapping[str, Any], generation: int, population: np.ndarray,
                     fitness: np.ndarray, rng: np.random.Generator, history: Sequence[Mapping[str, Any]]) -> Path:
    path = Path(run_dir) / CHECKPOINT
    body = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "config": dict(config),
        "generation": int(generation),
        "population": np.asarray(population).astype(int).tolist(),
        "fitness": [float(f) for f in fitness],
        "rng_state": rng.bit_generator.state,
        "history": list(history),
    }
    atomic_write_text(path, json.dumps(body, separators=(",", ":")))
    return path


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value and key != "layout":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"params.window: 3 in the checkpoint, 4 now"`` for every setting that differs."""
    saved, current = _flatten(saved), _flatten(current)
    return [f"{k}: {saved.get(k)!r} in the checkpoint, {current.get(k)!r} now"
            for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]


def read_checkpoint(run_dir: PathLike, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checkpoint in ``run_dir`` if there is one written with ``config``; None if there is none.

    Raises SelectionError for a checkpoint of other settings or data, or an unreadable one.
    Leftover temporary files of a write that was killed are removed.
    """
    run_dir = Path(run_dir)
    for stale in run_dir.glob(f".{CHECKPOINT}.*.tmp"):
        stale.unlink(missing_ok=True)
    path = run_dir / CHECKPOINT
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SelectionError(f"{path}: unreadable GA checkpoint ({exc}); delete it to start over") from None
    if body.get("format") != FORMAT:
        raise SelectionError(f"{path}: not a GA checkpoint (format {body.get('format')!r})")
    current = json.loads(json.dumps(dict(config)))  # same JSON normalisation as the saved one
    diffs = _differences(body.get("config", {}), current)
    if diffs:
        raise SelectionError(f"{path} was written by a run with other settings or data ("
                             + "; ".join(diffs[:4]) + (f"; {len(diffs) - 4} more" if len(diffs) > 4 else "")
                             + "); use another output folder or restart to overwrite it")
    problem = _checkpoint_problem(body, current)
    if problem:
        raise SelectionError(f"{path}: damaged GA checkpoint ({problem}); delete it or pass --restart to start over")
    body["population"] = np.asarray(body["population"], dtype=np.int64)
    body["fitness"] = np.asarray(body["fitness"], dtype=np.float64)
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checkpoint_problem(body: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """What makes a checkpoint unusable with ``config`` (None when it is sound): every value is checked
    for type and range, since a resumed run would otherwise carry a bad gene into the saved selector."""
    params = config.get("params", {})
    layout = config.get("data", {}).get("layout") or {}
    n_features = sum(int(w) for w in layout.values()) if isinstance(layout, Mapping) else 0
    k, size = params.get("k"), params.get("population")
    generation, population, fitness = body.get("generation"), body.get("population"), body.get("fitness")
    if not _is_int(generation) or generation < 0:
        return f"generation {generation!r} is not a whole number >= 0"
    if not isinstance(population, list) or not all(isinstance(row, list) for row in population):
        return "population is not a list of individuals"
    if _is_int(size) and len(population) != size:
        return f"population holds {len(population)} individuals, the run has population={size}"
    for i, row in enumerate(population):
        if not all(_is_int(g) for g in row):
            return f"individual {i} holds a gene that is not a whole number"
        if _is_int(k) and len(row) != k:
            return f"individual {i} has {len(row)} genes, the run has k={k}"
        if n_features and any(g < 0 or g >= n_features for g in row):
            bad = next(g for g in row if g < 0 or g >= n_features)
            return f"individual {i} has gene {bad}, outside the {n_features} features [0, {n_features})"
        if len(set(row)) != len(row):
            return f"individual {i} names a feature twice"
    if (not isinstance(fitness, list) or len(fitness) != len(population)
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and np.isfinite(f) for f in fitness)):
        return "fitness is not one finite number per individual"
    state = body.get("rng_state")
    if not isinstance(state, Mapping) or not isinstance(state.get("bit_generator"), str) \
            or not hasattr(np.random, state["bit_generator"]):
        return "rng_state is not a numpy generator state"
    if not isinstance(body.get("history"), list):
        return "history is not a list"
    return None


def restore_rng(state: Mapping[str, Any]) -> np.random.Generator:
    """A Generator continuing exactly where the one whose ``bit_generator.state`` was saved stopped."""
    try:
        bit_generator = getattr(np.random, state["bit_generator"])()
        bit_generator.state = dict(state)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SelectionError(f"the GA checkpoint's rng_state cannot be restored ({type(exc).__name__}: {exc}); "
                             f"pass --restart to start over") from None
    return np.random.Generator(bit_generator)


def write_history(run_dir: PathLike, *, config: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
                  best_individual: np.ndarray, best_fitness: float) -> Path:
    """``history.json``: per-generation fitness statistics and the best individual found."""
    path = Path(run_dir) / HISTORY
    body = {"config": dict(config), "generations": list(history), "best_fitness": float(best_fitness),
            "best_individual": np.asarray(best_individual).astype(int).tolist()}
    atomic_write_text(path, json.dumps(body, indent=1))
    return path


def plot_history(history: Sequence[Mapping[str, Any]], path: PathLike, title: str = "GA fitness") -> Path:
    """Best and mean (+- std) fitness per generation, as a PNG."""
    # A bare Figure on the Agg canvas: no pyplot, so no global backend switch in the caller's process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    gens = [h["generation"] for h in history]
    best = np.array([h["best"] for h in history])
    mean = np.array([h["mean"] for h in history])
    std = np.array([h["std"] for h in history])
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(gens, best, marker="o", label="best")
    ax.plot(gens, mean, label="mean")
    ax.fill_between(gens, mean - std, mean + std, alpha=0.25, label="mean +- std")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (validation balanced accuracy)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path
