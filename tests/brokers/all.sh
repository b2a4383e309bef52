#!/usr/bin/env bash
# Start, stop or check every local broker the tests and the demo use.
# Usage: tests/brokers/all.sh start|stop|status
here="$(dirname "$0")"
rc=0
for broker in kafka kafka-secure rabbitmq moto elasticmq nats; do
  bash "$here/$broker.sh" "${1:?usage: $0 start|stop|status}" || rc=1
done
exit $rc
