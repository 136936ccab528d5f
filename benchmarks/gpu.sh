#!/usr/bin/env bash
# Full-size feature branches on a GPU, bf16 and fp32, with XLA auto-clustering: images/s per branch
# and precision, the peaks, pipeline/bare and bare/peak ratios, the GPU named (run_all records the
# device TensorFlow sees). Results: benchmarks/results/gpu_full_size.{md,json}.
#
# Needs a machine with an NVIDIA GPU and a CUDA build of TensorFlow (pip install "tensorflow[and-cuda]").
# It was written on a CPU-only machine and has not been run on a GPU yet: no GPU was available to the
# session that wrote it. The project builds and tests without one.
#
#   benchmarks/gpu.sh                 # 64 photos, batch 16, 3 rounds
#   IMAGES=256 BATCH=32 benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; then
  echo "benchmarks/gpu.sh: no GPU here (nvidia-smi failed); use python -m aesthetic.benchmarks.speed.run_all --only bench_steer on a CPU" >&2
  exit 2
fi
"$PY" - <<'PY'
import sys
import tensorflow as tf
if not tf.config.list_physical_devices("GPU"):
    sys.exit("benchmarks/gpu.sh: TensorFlow sees no GPU (a CPU-only build?); install tensorflow[and-cuda]")
PY
# XLA: TensorFlow compiles the traced forward passes into fused GPU kernels.
export TF_XLA_FLAGS="--tf_xla_auto_jit=2 ${TF_XLA_FLAGS:-}"
exec "$PY" -m aesthetic.benchmarks.speed.run_all --only bench_steer --name gpu_full_size \
  --arg=--input-scale=1 --arg=--images="${IMAGES:-64}" --arg=--batch-size="${BATCH:-16}" \
  --arg=--rounds="${ROUNDS:-3}" --arg=--matmul-n=8192 --arg=--conv-side=224 \
  --arg=--branches="${BRANCHES:-multigap,efficientnet,mobilenet}" --arg=--precisions=fp32,bf16
