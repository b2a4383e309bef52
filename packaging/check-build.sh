#!/usr/bin/env bash
# Starts the PyInstaller build (dist/eventdesk/, from packaging/build.sh) under Xvfb on its
# built-in demo and checks that the main window really appears on the X display, that the
# app reports it shown, and that it then exits cleanly. Exit status 0 only if all hold.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

app="${1:-dist/eventdesk/eventdesk}"
[[ -x "$app" ]] || { echo "[check-build] no build at $app: run packaging/build.sh" >&2; exit 1; }
SHOW_SECONDS=5  # how long the window stays up once shown: the demo's first dead letters arrive

version=$("$app" --version)
echo "[check-build] $version" >&2
[[ "$version" == "eventdesk $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("eventdesk"))')" ]] \
  || { echo "[check-build] the build reports the wrong version" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Runs inside Xvfb: start the app, watch the X display for its window, wait for it to end.
cat > "$scratch/run.sh" <<'INNER'
app=$1; scratch=$2; show=$3
EVENTDESK_CONFIG_DIR="$scratch/config" EVENTDESK_DATA_DIR="$scratch/data" QT_QPA_PLATFORM=xcb \
  timeout 120 "$app" --demo --exit-after-shown "$show" >"$scratch/stdout" 2>"$scratch/stderr" &
pid=$!
# The main window: WM_CLASS "Eventdesk" (the .desktop file's StartupWMClass), full size
# (Qt's 1x1 group-leader window has the same name and must not count).
while kill -0 "$pid" 2>/dev/null; do
  xwininfo -root -tree | grep '("eventdesk" "Eventdesk")' \
    | grep -E ' [0-9]{3,}x[0-9]{3,}\+' | head -1 >"$scratch/window" || true
  [[ -s "$scratch/window" ]] && break
  sleep 0.2
done
wait "$pid"
INNER
start=$(date +%s.%N)
status=0
xvfb-run -a -s "-screen 0 1600x1000x24" bash "$scratch/run.sh" "$app" "$scratch" "$SHOW_SECONDS" \
  || status=$?
elapsed=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")

fail() {
  echo "[check-build] FAILED: $1" >&2
  echo "--- stdout" >&2; cat "$scratch/stdout" >&2
  echo "--- stderr (last 40 lines)" >&2; tail -40 "$scratch/stderr" >&2
  exit 1
}
[[ $status -eq 0 ]] || fail "the app exited with status $status"
[[ -s "$scratch/window" ]] || fail "no Eventdesk window appeared on the X display"
grep -q "^eventdesk: main window shown: " "$scratch/stdout" || fail "the app never reported its window shown"
if grep -E "Traceback|CRITICAL" "$scratch/stderr" >/dev/null; then fail "errors in the log"; fi
echo "[check-build] window on the X display:$(cat "$scratch/window")" >&2
echo "[check-build] $(cat "$scratch/stdout")" >&2
echo "[check-build] OK: shown and closed cleanly in ${elapsed}s (window up ${SHOW_SECONDS}s)" >&2
