#!/usr/bin/env bash
# The whole default test suite (slow-marked tests excluded; add `-m slow` to run those), in two worker
# processes (pytest-xdist), each test file in one of them: most tests wait on single-threaded work (Python,
# graph tracing, subprocess start-up), so two cores run two files at once. AESTHETIC_TEST_WORKERS=0 runs
# everything in this process; a later -n on the command line wins.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
exec .venv/bin/python -m pytest -n "${AESTHETIC_TEST_WORKERS:-2}" --dist loadfile "$@"
