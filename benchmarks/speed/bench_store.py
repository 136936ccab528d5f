"""Opening a big feature store: time and memory of ``FeatureStore.open`` on a synthetic store.

Writes a store of ``--rows`` images (ids and paths shaped like real ones, one error in a
thousand, a narrow feature branch: the string columns are what is measured), then in fresh
child processes, alternating, ``--rounds`` times each:

* lazy  = ``FeatureStore.open`` as it is (labels and status read; ids, paths, errors on demand);
* eager = open, then read every id, path and error string (what ``open`` did before issue 17).

Each child reports its wall time and the growth of its resident memory (RSS, from
``/proc/self/status``) across the open. Figures are medians; projections to 10^7 rows scale
the per-row cost linearly (both costs are linear in rows).

    python -m aesthetic.benchmarks.speed.bench_store --rows 1000000 --rounds 3

Rows follow the speed-suite contract (see benchmarks/speed/run_all.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, sys, time
import numpy as np
from aesthetic.feature_store import FeatureStore

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

path, mode = sys.argv[1], sys.argv[2]
before = rss_kb()
t = time.perf_counter()
st = FeatureStore.open(path)
if mode == "eager":
    held = [np.asarray(st.ids), np.asarray(st.paths), np.asarray(st.errors)]
seconds = time.perf_counter() - t
after = rss_kb()
probe = st.ids[len(st) // 2]  # one lazy read still answers
print(json.dumps({"seconds": seconds, "rss_mb": (after - before) / 1024, "rows": len(st), "probe": probe}))
"""


def write_synthetic_store(path: Path, rows: int, block: int = 200_000) -> Path:
    """A store of ``rows`` synthetic images, written in blocks so writing needs bounded memory."""
    import h5py

    from aesthetic.feature_store import FORMAT, FORMAT_VERSION, _STR

    with h5py.File(path, "w") as f:
        f.attrs["format"], f.attrs["format_version"] = FORMAT, FORMAT_VERSION
        f.attrs["branches"], f.attrs["metadata"] = json.dumps(["tiny"]), json.dumps({"synthetic": True})
        cols = {k: f.create_dataset(k, shape=(rows,), dtype=_STR) for k in ("ids", "paths", "errors")}
        f.create_dataset("labels", data=(np.arange(rows) % 2).astype(np.float32))
        status = np.ones(rows, np.int8)
        status[::1000] = 2
        f.create_dataset("status", data=status)
        feats = f.create_group("features").create_dataset("tiny", shape=(rows, 4), dtype=np.float16,
                                                          chunks=(min(rows, 4096), 4))
        feats.attrs["width"] = 4
        for lo in range(0, rows, block):
            hi = min(rows, lo + block)
            names = [f"2024/{i // 1000:05d}/IMG_{i:08d}.jpg" for i in range(lo, hi)]
            cols["ids"][lo:hi] = names
            cols["paths"][lo:hi] = [f"/data/photos/curated_vs_snapshot/{n}" for n in names]
            cols["errors"][lo:hi] = ["corrupt JPEG data: premature end" if i % 1000 == 0 else ""
                                     for i in range(lo, hi)]
    return path


def measure(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> str:
    return f"median of {len(values)}, range {min(values):.3g}-{max(values):.3g}"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="10^5 rows, 2 rounds")
    args = ap.parse_args(argv)
    rows, rounds = (100_000, 2) if args.quick else (args.rows, args.rounds)
    results: dict[str, list[dict]] = {"lazy": [], "eager": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_synthetic_store(Path(tmp) / "big.h5", rows)
        size_mb = path.stat().st_size / 2 ** 20
        for _ in range(rounds):  # alternating, so drift on a shared machine hits both alike
            for mode in ("lazy", "eager"):
                results[mode].append(measure(path, mode))
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "rss_mb")} for m, rs in results.items()}
    scale = 10_000_000 / rows
    note = f"{rows:,} rows, file {size_mb:.0f} MB, fresh process per open"
    out = []
    for key, unit in (("seconds", "s"), ("rss_mb", "MB")):
        lazy, eager = med["lazy"][key], med["eager"][key]
        what = "time" if key == "seconds" else "RSS growth"
        out.append({"name": f"store open {what}, {rows:,} rows (lazy strings)", "figure": round(lazy, 3), "unit": unit,
                    "baseline": f"eager (every id, path, error read): {eager:.3g} {unit}",
                    "ratio": round(eager / lazy, 1) if lazy > 0 else None,
                    "notes": f"{note}; lazy {_spread([r[key] for r in results['lazy']])}; "
                             f"eager {_spread([r[key] for r in results['eager']])}; ratio = eager / lazy"})
        out.append({"name": f"store open {what}, projected to 10,000,000 rows (lazy)", "figure": round(lazy * scale, 2),
                    "unit": unit, "baseline": f"eager projected: {eager * scale:.3g} {unit}",
                    "ratio": round(eager / lazy, 1) if lazy > 0 else None,
                    "notes": f"linear projection x{scale:g} from {rows:,} rows"})
    return out


if __name__ == "__main__":
    for row in main():
        print(json.dumps(row))
