#!/usr/bin/env bash
# GPU benchmark in one command, on a machine with PyTorch and/or JAX but no TensorFlow or Keras and no
# internet:   bash benchmarks/gpu/run.sh [--backend torch|jax|all] [--tiny] [gpu_bench.py options]
# Needs benchmarks/gpu/wheels/ (made here by fetch_wheels.sh and carried with the tree). Uses the
# machine's Python and packages as they are (torch, jax, h5py, numpy, OpenCV, scikit-learn; a venv or
# conda env is fine: set PYTHON), installs what is missing of Keras and the project's small dependencies
# from the wheels into a side folder, puts that and the project on PYTHONPATH without building the
# project (no TensorFlow is asked for), and runs gpu_bench.py once per backend with KERAS_BACKEND set.
# Results: benchmarks/results/gpu_<backend>.{json,md} (or --out DIR), written after every step.
# About 6 minutes in all at full size (5.5 on an H200 with both backends).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WHEELS=$ROOT/benchmarks/gpu/wheels
PY=${PYTHON:-python3}
SIDE=${GPU_BENCH_DIR:-${TMPDIR:-/tmp}/aesthetic-gpu-bench}
BACKEND=all
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKEND=$2; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done

mkdir -p "$SIDE/site"
export PYTHONPATH="$SIDE/src:$SIDE/site${PYTHONPATH:+:$PYTHONPATH}"
missing=()
for pair in keras:keras namex:namex optree:optree absl:absl-py ml_dtypes:ml-dtypes pydantic:pydantic \
            pydantic_core:pydantic-core annotated_types:annotated-types typing_inspection:typing-inspection \
            typing_extensions:typing-extensions simplejpeg:simplejpeg PIL:pillow packaging:packaging; do
  # find_spec, not import: importing keras without a backend set would try TensorFlow
  "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('${pair%%:*}') is None)" \
    || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ -d "$WHEELS" ] || { echo "run.sh: $WHEELS missing: run benchmarks/gpu/fetch_wheels.sh where PyPI is reachable" >&2; exit 1; }
  "$PY" -m pip install -q --no-index --no-deps --target "$SIDE/site" --find-links "$WHEELS" "${missing[@]}"
fi

# The project without building it: a folder of links laid out as the installed package.
SRC=$SIDE/src
rm -rf "$SRC"; mkdir -p "$SRC/aesthetic"
for entry in "$ROOT"/src/aesthetic/*; do ln -s "$entry" "$SRC/aesthetic/"; done
for pkg in feature_extraction genetic_selection explain benchmarks; do ln -sfn "$ROOT/$pkg" "$SRC/aesthetic/$pkg"; done

backends=()
for b in torch jax; do
  if [ "$BACKEND" = all ] || [ "$BACKEND" = "$b" ]; then
    "$PY" -c "import $b" 2>/dev/null && backends+=("$b") || echo "run.sh: $b not installed, skipped" >&2
  fi
done
[ ${#backends[@]} -gt 0 ] || { echo "run.sh: neither torch nor jax can be imported" >&2; exit 1; }
# Seconds per backend (builds, sweep and the GA's rows inside it; GPU_BENCH_SECONDS in all, default 400),
# and a hard limit a little above it for a process that hangs.
budget=$(( ${GPU_BENCH_SECONDS:-400} / ${#backends[@]} ))
limit=$(( budget + 90 ))
case " ${ARGS[*]-} " in *" --tiny "*) limit=0 ;; esac   # a CPU proof run: building the networks alone takes minutes
for b in "${backends[@]}"; do
  echo "run.sh: $b" >&2
  KERAS_BACKEND=$b XLA_PYTHON_CLIENT_PREALLOCATE=false timeout "$limit" \
    "$PY" "$ROOT/benchmarks/gpu/gpu_bench.py" --budget-s "$budget" "${ARGS[@]}" \
    || echo "run.sh: $b run failed or ran out of time (exit $?)" >&2
done
