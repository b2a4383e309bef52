#!/usr/bin/env bash
# Screenshots of the real window for the README, under Xvfb with Qt's X11 backend:
# starts and seeds the local brokers, then writes resources/screenshots/*.png.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"

bash packaging/setup-debian.sh
bash tests/brokers/all.sh start
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export EVENTDESK_LOCAL_RABBITMQ_PASSWORD=guest  # the local broker's stock account
config_dir="$REPO_ROOT/.brokers/app-config"
.venv/bin/python -m tests.seed --config-dir "$config_dir"

out="$REPO_ROOT/resources/screenshots"
mkdir -p "$out"
shoot() {  # shoot NAME [screenshot.py options…]
  local name=$1
  shift
  xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \
    .venv/bin/python -m tests.gui.screenshot "$out/$name.png" \
    --profiles-file "$config_dir/connections.json" "$@"
  echo "[screenshots] $out/$name.png" >&2
}
shoot main-window --connection "Local Kafka" --endpoint demo.orders.DLT --tab "Dead letter"
shoot rabbitmq-dlq --connection "Local RabbitMQ" --endpoint demo.orders.dlq --tab "Dead letter"
shoot sqs-dlq --connection "Local SQS (moto)" --endpoint demo-orders-dlq --tab Body
shoot main-window-dark --connection "Local Kafka" --endpoint demo.orders.DLT --tab "Dead letter" \
  --theme dark
