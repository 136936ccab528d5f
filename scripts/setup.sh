#!/usr/bin/env bash
# Create ./.venv with the pinned dependencies and the package (editable). Idempotent:
# re-running only installs what changed. Everything the project needs is installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing pinned dependencies into .venv (log: .venv/install.log)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >.venv/install.log 2>&1 || { cat .venv/install.log; exit 1; }
  .venv/bin/python -m pip install -q -r requirements.txt >>.venv/install.log 2>&1 || { tail -50 .venv/install.log; exit 1; }
  .venv/bin/python -m pip install -q --no-deps -e . >>.venv/install.log 2>&1 || { tail -50 .venv/install.log; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
