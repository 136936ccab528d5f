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
# JAX and PyTorch (CPU) for the cross-backend tests (pytest -m backends), on request only: about 1.3 GB.
if [ "${AESTHETIC_BACKENDS:-0}" = 1 ]; then
  bstamp=.venv/.backends-$(sha256sum requirements-backends.txt | cut -c1-16)
  if [ ! -f "$bstamp" ]; then
    echo "setup: installing JAX and PyTorch (CPU) for the backends tests (log: .venv/install.log)" >&2
    .venv/bin/python -m pip install -q -r requirements-backends.txt >>.venv/install.log 2>&1 \
      || { tail -50 .venv/install.log; exit 1; }
    rm -f .venv/.backends-*
    touch "$bstamp"
  fi
fi

# The browser tests (pytest marker `browser`) open the generated HTML pages in Debian's Chromium
# through Selenium; no browser is ever downloaded by a Python package. Install it where we can.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium + chromium-driver for the browser tests (log: .venv/apt.log)" >&2
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        chromium chromium-driver; } >.venv/apt.log 2>&1 \
      || echo "setup: could not install chromium (see .venv/apt.log); the browser tests will be skipped" >&2
  else
    echo "setup: chromium/chromedriver not found and not root: the browser tests will be skipped" \
         "(install them with: apt-get install chromium chromium-driver)" >&2
  fi
fi
