#!/usr/bin/env bash
# The whole default test suite (slow-marked tests excluded; add `-m slow` to run those).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
exec .venv/bin/python -m pytest "$@"
