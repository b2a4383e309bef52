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
