#!/usr/bin/env bash
# Runs its arguments against a real, unlocked Secret Service (gnome-keyring) on a private
# D-Bus session bus, and exits with their status:
#   bash tests/secret-service.sh .venv/bin/pytest tests/connectors/test_secrets.py
# The keyring lives in a throwaway folder, unlocked with a password made here and never
# shown, so no run touches the developer's own keyring or leaves one behind.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

if [[ -z "${EVENTDESK_SECRET_SESSION:-}" ]]; then
  for tool in dbus-run-session gnome-keyring-daemon dbus-send; do
    if ! command -v "$tool" >/dev/null; then
      echo "[secret-service] $tool is missing; install Debian's dbus and gnome-keyring" >&2
      exit 1
    fi
  done
  # dbus-run-session ends the bus (and with it the keyring daemon) when the command ends,
  # and passes the command's exit status through.
  exec dbus-run-session -- env EVENTDESK_SECRET_SESSION=1 bash "${BASH_SOURCE[0]}" "$@"
fi

keyring_home="$(mktemp -d)"
chmod 700 "$keyring_home"
mkdir -m 700 "$keyring_home/data" "$keyring_home/run"
daemon_pid=""
cleanup() {
  if [[ -n "$daemon_pid" ]]; then
    kill "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$keyring_home"
}
trap cleanup EXIT

# The password only has to unlock a keyring that dies with this run; it goes through a
# pipe, never an argument or the environment, so `ps` and logs cannot show it.
keyring_env="$(
  head -c 32 /dev/urandom | base64 | tr -d '\n' |
    XDG_DATA_HOME="$keyring_home/data" XDG_RUNTIME_DIR="$keyring_home/run" \
      gnome-keyring-daemon --unlock --components=secrets
)"
while IFS= read -r line; do
  [[ "$line" == *=* ]] && export "${line?}"
done <<<"$keyring_env"

# The daemon forks away and claims its bus name a moment later: wait for the name, then
# ask the bus which process owns it, so we stop exactly that one.
owner=""
for _ in $(seq 100); do
  if owner="$(
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>&1
  )"; then
    daemon_pid="$(awk '/uint32/ {print $2}' <<<"$owner")"
    break
  fi
  sleep 0.1
done
if [[ -z "$daemon_pid" ]]; then
  echo "[secret-service] gnome-keyring did not offer org.freedesktop.secrets: $owner" >&2
  exit 1
fi

status=0
"$@" || status=$?
exit "$status"
