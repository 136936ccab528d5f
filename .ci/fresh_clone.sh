#!/usr/bin/env bash
# CI: the README's two commands on a new user's machine. A clone of HEAD in a temporary folder with no
# shared/ beside it, a fresh .venv (scripts/setup.sh, from the pip cache), and no way to download weights
# (every HTTP(S) request goes to a dead proxy once setup is done). Then the demo's artifacts are checked.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
die() { echo "CI fresh clone: FAILED: $*" >&2; exit 1; }

git clone -q "$src" "$tmp/aesthetic-fusion"
cd "$tmp/aesthetic-fusion"
unset AESTHETIC_SHARED
[ ! -e ../shared ] || die "$tmp/shared exists; the clone must have nothing beside it"
bash scripts/setup.sh || die "scripts/setup.sh"
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9

echo "CI fresh clone: bash scripts/demo.sh --quick in $PWD" >&2
bash scripts/demo.sh --quick --out "$tmp/demo" >"$tmp/demo.log" 2>&1 || { tail -60 "$tmp/demo.log"; die "scripts/demo.sh"; }
.venv/bin/python - "$tmp/demo" "$tmp/demo.log" <<'PY' || die "demo artifacts"
import json, sys
from pathlib import Path
out, log = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
assert "using the embedded demo set" in log and "demo complete" in log, "demo did not say it used the embedded set"
assert json.loads((out / "model" / "config.json").read_text())["extractor"]["weights"] == {"mobilenet": "nima"}
report = (out / "report" / "report.md").read_text()
assert "Demo_set" in report and "NIMA" in report, "report lacks the demo set or the NIMA row"
for must in ("features.h5", "selection_pca.h5", "selection_ga/fitness.png", "model/student/model.keras",
             "student_fc/model.keras"):
    assert (out / must).stat().st_size > 0, must
assert list((out / "explanations").glob("*.shap.json")) and list((out / "report").rglob("*.png"))
print("CI fresh clone: demo artifacts OK")
PY

echo "CI fresh clone: AESTHETIC_SHARED=/nonexistent bash scripts/test.sh" >&2
AESTHETIC_SHARED=/nonexistent bash scripts/test.sh -q -p no:cacheprovider || die "scripts/test.sh without ../shared"
echo "CI fresh clone: both README commands pass with nothing beside the checkout" >&2
