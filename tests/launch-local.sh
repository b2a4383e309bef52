#!/usr/bin/env bash
# Sets up everything, starts the local Kafka, RabbitMQ and SQS (moto) brokers, seeds them
# with realistic dead letters made the real way, and opens Eventdesk connected to all three.
# Until the built-in demo exists (eventdesk --demo), this is the way to see Eventdesk at work.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

bash packaging/setup-debian.sh
bash tests/brokers/all.sh start

# moto accepts any credentials; these dummy ones keep boto3 from looking elsewhere.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
# The local RabbitMQ's stock account. The profile names this variable; it never holds the value.
export EVENTDESK_LOCAL_RABBITMQ_PASSWORD=guest

config_dir="$REPO_ROOT/.brokers/app-config"
.venv/bin/python -m tests.seed --config-dir "$config_dir"
exec .venv/bin/eventdesk --config-dir "$config_dir" "$@"
