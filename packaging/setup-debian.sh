#!/usr/bin/env bash
# Installs everything Eventdesk's tests and local brokers need on a fresh Debian machine:
# Debian packages (brokers, Xvfb, Secret Service, Qt's X11 libraries) and a .venv with
# Eventdesk installed editable plus its dev extras. Safe to run again: it only adds what is missing.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

DEBIAN_PACKAGES=(
  rabbitmq-server        # the RabbitMQ broker (tests/brokers/rabbitmq.sh)
  nats-server            # NATS with JetStream (tests/brokers/nats.sh)
  kcat                   # reference tool for the benchmarks
  curl                   # broker health checks
  xvfb xauth             # screenshots of the real window
  x11-utils              # xwininfo: packaging/check-build.sh sees the built app's window
  dbus gnome-keyring     # a real Secret Service for keyring tests
  poppler-utils          # pdftotext, pdfimages: the incident report tests read the PDF
  libegl1 libgl1 libfontconfig1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0
  fonts-dejavu-core
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Kafka's jars come from Maven Central (tests/brokers/kafka.sh): Java 17+ and mvn.
command -v mvn >/dev/null || missing+=(maven)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  # The package scripts' attempt to start rabbitmq as a service is refused in containers; that is fine.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv with $("$PYTHON" --version)" >&2
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.eventdesk-installed"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "[setup] installing Eventdesk (editable) and its dev extras into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]' >.venv/pip-install.log 2>&1 \
    || { cat .venv/pip-install.log >&2; exit 1; }
  touch "$stamp"
fi
