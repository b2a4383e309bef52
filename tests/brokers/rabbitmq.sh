#!/usr/bin/env bash
# RabbitMQ from Debian's rabbitmq-server, management and shovel plugins on, on 127.0.0.1 only.
# Usage: tests/brokers/rabbitmq.sh start|stop|status   (needs root: it writes /etc/rabbitmq)
source "$(dirname "$0")/common.sh"

configure() {
  command -v rabbitmq-server >/dev/null || { log "rabbitmq-server is not installed (apt-get install rabbitmq-server)"; exit 1; }
  mkdir -p /etc/rabbitmq
  cat >/etc/rabbitmq/rabbitmq.conf <<CFG
listeners.tcp.1 = 127.0.0.1:$RABBITMQ_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBITMQ_MANAGEMENT_PORT
# Statistics every second instead of five, so depths in tests and the UI are fresh.
collect_statistics_interval = 1000
management.rates_mode = basic
CFG
  grep -qs rabbitmq_management /etc/rabbitmq/enabled_plugins \
    || rabbitmq-plugins enable --offline rabbitmq_management >"$LOG_DIR/rabbitmq-plugins.log" 2>&1
  # Shovels: the reference the replay benchmark (tests/benchmarks/bench_replay.py) runs against.
  grep -qs rabbitmq_shovel_management /etc/rabbitmq/enabled_plugins \
    || rabbitmq-plugins enable --offline rabbitmq_shovel rabbitmq_shovel_management \
      >>"$LOG_DIR/rabbitmq-plugins.log" 2>&1
  # RabbitMQ runs as its own user and logs to /var/log/rabbitmq: link that into our log folder.
  ln -sfn /var/log/rabbitmq "$LOG_DIR/rabbitmq"
}

management_up() {
  curl -fsS -u guest:guest "http://127.0.0.1:$RABBITMQ_MANAGEMENT_PORT/api/overview" >/dev/null
}

start() {
  if rabbitmqctl -q status >/dev/null 2>&1 && management_up; then log "already running on 127.0.0.1:$RABBITMQ_PORT"; return; fi
  configure
  log "starting on 127.0.0.1:$RABBITMQ_PORT (management :$RABBITMQ_MANAGEMENT_PORT)"
  rabbitmq-server -detached >>"$LOG_DIR/rabbitmq.out" 2>&1 || true
  wait_for 90 "RabbitMQ" rabbitmqctl -q await_startup
  wait_for 60 "RabbitMQ management" management_up
  log "up"
}

stop() {
  if rabbitmqctl -q status >/dev/null 2>&1; then
    rabbitmqctl -q stop >/dev/null 2>&1 || true
    log "stopped"
  fi
}

status() { rabbitmqctl -q status >/dev/null 2>&1 && management_up && log "running on 127.0.0.1:$RABBITMQ_PORT"; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
