#!/usr/bin/env bash
# Builds the one-folder desktop app with PyInstaller into dist/eventdesk/ (git ignores
# build/ and dist/), then prints how long it took and how big it is.
# Check the result with: bash packaging/check-build.sh
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

[[ -x .venv/bin/python ]] || bash packaging/setup-debian.sh
# `package` brings PyInstaller; `dev` brings moto, which the built-in demo serves.
if ! .venv/bin/python -c "import PyInstaller, moto" 2>/dev/null; then
  .venv/bin/pip install -q -e '.[dev,package]'
fi

start=$(date +%s)
site=build/pyinstaller/site
rm -rf "$site" dist/eventdesk
mkdir -p build/pyinstaller
# A real install of Eventdesk (not the editable mapping) for PyInstaller to analyse.
.venv/bin/pip install -q --no-deps --no-compile --target "$site" . >build/pyinstaller/pip.log 2>&1 \
  || { cat build/pyinstaller/pip.log >&2; exit 1; }
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller/work packaging/eventdesk.spec
seconds=$(($(date +%s) - start))

size=$(du -sh dist/eventdesk | cut -f1)
files=$(find dist/eventdesk -type f | wc -l)
echo "[build] dist/eventdesk/eventdesk built in ${seconds}s: ${size} in ${files} files" >&2
