#!/usr/bin/env bash
# The demo pipeline, offline, on real photos; prints where its report and plots are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/aesthetic demo "$@"
