#!/usr/bin/env bash
# Runs every benchmark against the local brokers and prints their tables (Markdown).
# Not part of the pass/fail suite; paste the output into tests/benchmarks/RESULTS.md.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"
bash packaging/setup-debian.sh
bash tests/brokers/kafka.sh start
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
.venv/bin/python -m tests.benchmarks.bench_kafka_dlq_open "$@"
# The Monitor benchmark's reference, kafka-consumer-groups, ships in kafka-tools, not the broker jars.
bash -c 'source tests/brokers/common.sh && maven_fetch "$BROKERS_DIR/kafka-tools-$KAFKA_VERSION" kafka-tools "org.apache.kafka:kafka-tools:$KAFKA_VERSION"'
.venv/bin/python -m tests.benchmarks.bench_monitor
# Replay: Kafka vs kcat, RabbitMQ vs a shovel, SQS (ElasticMQ; moto at a few hundred) vs boto3.
for broker in rabbitmq moto elasticmq; do bash "tests/brokers/$broker.sh" start; done
.venv/bin/python -m tests.benchmarks.bench_replay
.venv/bin/python -m tests.benchmarks.bench_scan
