#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: set up, start every local broker,
# lint (ruff, import contracts), then pytest against the real brokers, then (alone, as it
# restarts brokers) the fault-injection pass. Extra arguments go to the first pytest only and
# skip the fault pass (e.g. bash tests/run.sh tests/connectors -k kafka).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

bash packaging/setup-debian.sh
export PATH="$REPO_ROOT/.venv/bin:$PATH"

bash tests/brokers/all.sh start

echo "[run] ruff" >&2
ruff check .
ruff format --check .
echo "[run] wheel layout and import contracts (connectors/ stays Qt-free)" >&2
# import-linter reads packages from disk, and the editable install maps folders through an
# import hook it cannot see; so check the contracts on a real wheel install instead, which
# also proves the wheel lays gui/ and connectors/ out as eventdesk.gui / eventdesk.connectors.
wheel_dir="$(mktemp -d)"
trap 'rm -rf "$wheel_dir"' EXIT
pip install -q --no-deps --target "$wheel_dir" . >"$wheel_dir.log" 2>&1 || { cat "$wheel_dir.log" >&2; exit 1; }
for package in connectors gui resources; do
  [[ -f "$wheel_dir/eventdesk/$package/__init__.py" ]] || { echo "wheel lacks eventdesk/$package" >&2; exit 1; }
done
(cd "$wheel_dir" && PYTHONPATH="$wheel_dir" lint-imports --config "$REPO_ROOT/pyproject.toml")

export QT_QPA_PLATFORM=offscreen
echo "[run] pytest" >&2
status=0
# Inside a private D-Bus session with an unlocked gnome-keyring: a real Secret Service.
bash tests/secret-service.sh pytest -p no:cacheprovider -ra "$@" || status=$?
if [[ $# -eq 0 ]]; then
  # Second pass, alone: these stop and start the shared brokers mid-replay.
  echo "[run] pytest -m faults (fault injection, 10,000 messages per case)" >&2
  bash tests/secret-service.sh pytest -p no:cacheprovider -ra -m "faults and not elasticmq_restart" \
    || status=$?
fi

if [[ "${CI:-}" == "true" ]]; then
  bash tests/brokers/all.sh stop || true
fi
exit $status
