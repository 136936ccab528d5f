"""Run every speed benchmark of the project and write one table of figures and ratios.

    python -m aesthetic.benchmarks.speed.run_all [--quick] [--only NAME ...] [--out benchmarks/results]

Contract for a speed benchmark (any module ``benchmarks/speed/bench_*.py``)::

    def main(argv: list[str] | None = None) -> list[dict]:
        ...

``argv`` holds command-line style options; every benchmark accepts ``--quick`` (small
sizes, seconds not minutes). Each returned row is one measured figure with the keys

    name      what was measured, e.g. "extract mobilenet 224px batch 16"
    figure    the number (float), e.g. 41.7
    unit      its unit, e.g. "images/s" or "s"
    baseline  what the figure is compared with, measured in the same run, e.g.
              "naive per-image loop: 12.1 images/s" (or "" when there is none)
    ratio     figure / baseline figure as a float (> 1 = faster for rates), or None
    notes     anything a reader needs (sizes, caveats)

A benchmark that raises (or exits) does not stop the others: its error is recorded
as a row with ``figure`` None and the message in ``notes``. The results go to
``speed.md`` (a Markdown table with the machine and the device named) and
``speed.json`` (the same rows plus machine details), written atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import platform
import pkgutil
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger("aesthetic.benchmarks.speed.run_all")

ROW_KEYS = ("name", "figure", "unit", "baseline", "ratio", "notes")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results"


def discover(package: str = "aesthetic.benchmarks.speed") -> list[str]:
    """Module names ``<package>.bench_*``, sorted."""
    pkg = importlib.import_module(package)
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                  if m.name.startswith("bench_"))


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM and OS of this machine, and its name."""
    from aesthetic.benchmarks.report.benchmark import machine as describe

    return {**describe(), "hostname": platform.node()}


def _nvidia_smi_gpus() -> list[str]:
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def device() -> str:
    """GPU name(s) as TensorFlow sees them, else "CPU only" (saying so when a GPU is present
    but this TensorFlow build cannot use it, e.g. tensorflow-cpu on a GPU machine)."""
    try:
        import tensorflow as tf
    except Exception as exc:  # no TF: still a CPU-only run
        return f"CPU only (TensorFlow not importable: {exc.__class__.__name__})"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        present = _nvidia_smi_gpus()
        return ("CPU only" if not present else
                f"CPU only (TensorFlow sees no GPU although {', '.join(present)} is present)")
    names = []
    for gpu in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        except Exception:
            names.append(gpu.name)
    return ", ".join(names)


def _check_rows(rows: Any, module: str) -> list[dict[str, Any]]:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError(f"{module}.main must return a list of dicts, got {type(rows).__name__}")
    for r in rows:
        missing = [k for k in ROW_KEYS if k not in r]
        if missing:
            raise TypeError(f"{module}.main returned a row without {', '.join(missing)}: {r}")
    return [{k: r[k] for k in ROW_KEYS} for r in rows]


def run_one(module: str, argv: Sequence[str]) -> tuple[list[dict[str, Any]], float]:
    """Rows of one benchmark (or one error row) and its wall time in seconds."""
    short = module.rsplit(".", 1)[-1]
    start = time.perf_counter()
    try:
        rows = _check_rows(importlib.import_module(module).main(list(argv)), module)
    except (Exception, SystemExit) as exc:  # record and go on with the next benchmark
        log.error("%s failed: %s", module, exc)
        log.debug("%s", traceback.format_exc())
        message = f"{exc.__class__.__name__}: {exc}".strip()
        rows = [{"name": "(failed)", "figure": None, "unit": "", "baseline": "", "ratio": None,
                 "notes": f"FAILED {message}"}]
    elapsed = time.perf_counter() - start
    return [{"bench": short, **r} for r in rows], elapsed


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    m = info["machine"]
    lines = ["# Speed suite", "", "Made with:", "", "```", info["command"], "```", "",
             f"{info['created']} · machine: {m['cpu']}, {m['usable_cores']} usable of {m['logical_cores']} "
             f"logical cores ({m['physical_cores']} physical), {m['ram_gib']} GiB RAM, {m['os']} · "
             f"device: **{info['device']}**" + (" · quick sizes" if info["quick"] else ""), "",
             "Ratios compare each figure with a baseline measured in the same run on the same machine.", "",
             "| bench | measured | figure | unit | baseline | ratio | notes | bench time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for k in
                                         ("bench", "name", "figure", "unit", "baseline", "ratio", "notes"))
                     + f" | {r['seconds']:.1f} |")
    failed = sorted({r["bench"] for r in rows if r["figure"] is None and str(r["notes"]).startswith("FAILED")})
    if failed:
        lines += ["", f"**Failed:** {', '.join(failed)} (see notes)."]
    return "\n".join(lines) + "\n"


def run_all(quick: bool = False, only: Sequence[str] = (), out: Path = DEFAULT_OUT,
            package: str = "aesthetic.benchmarks.speed", command: str | None = None,
            name: str = "speed", extra: Sequence[str] = ()) -> dict[str, Any]:
    """Run the benchmarks, write ``<name>.md`` and ``<name>.json`` (``speed`` by default) into ``out``,
    return what was written. ``extra``: options passed on to every benchmark run (with ``only``)."""
    from aesthetic.fileio import atomic_write_text

    modules = discover(package)
    if only:
        unknown = sorted(set(only) - {m.rsplit(".", 1)[-1] for m in modules})
        if unknown:
            raise SystemExit(f"--only: no benchmark named {', '.join(unknown)} "
                             f"(found: {', '.join(m.rsplit('.', 1)[-1] for m in modules) or 'none'})")
        modules = [m for m in modules if m.rsplit(".", 1)[-1] in only]
    argv = (["--quick"] if quick else []) + list(extra)
    rows: list[dict[str, Any]] = []
    for module in modules:
        log.info("running %s %s", module, " ".join(argv))
        got, seconds = run_one(module, argv)
        rows += [{**r, "seconds": seconds} for r in got]
    info = {"command": command or "python -m aesthetic.benchmarks.speed.run_all" + (" --quick" if quick else ""),
            "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "device": device(), "quick": quick, "benchmarks": modules}
    out = Path(out)
    atomic_write_text(out / f"{name}.json", json.dumps({**info, "rows": rows}, indent=2, default=str))
    atomic_write_text(out / f"{name}.md", render_markdown(rows, info))
    return {**info, "rows": rows}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aesthetic.benchmarks.speed.run_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes in every benchmark")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="run only these (e.g. bench_predict)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for speed.md and speed.json")
    parser.add_argument("--name", default="speed", help="result files NAME.md and NAME.json (default speed)")
    parser.add_argument("--arg", action="append", default=[], metavar="OPTION",
                        help="an option passed to every benchmark run, e.g. --arg=--rows=100000 (use with --only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = "python -m aesthetic.benchmarks.speed.run_all " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    result = run_all(args.quick, args.only, args.out, command=command.strip(), name=args.name, extra=args.arg)
    print((args.out / f"{args.name}.md").read_text())
    return 1 if any(r["figure"] is None and str(r["notes"]).startswith("FAILED") for r in result["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
