#!/usr/bin/env bash
# NATS with JetStream (Debian's nats-server) on 127.0.0.1; /healthz on the monitoring port.
# Usage: tests/brokers/nats.sh start|stop|status
source "$(dirname "$0")/common.sh"
PIDFILE="$BROKERS_DIR/nats.pid"
DATA_DIR="$BROKERS_DIR/nats-data"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
# /healthz answers 200 only once JetStream is ready, not merely when the port is open.
healthy() { curl -fsS "http://127.0.0.1:$NATS_MONITOR_PORT/healthz" >/dev/null; }

start() {
  if running && healthy; then log "already running on 127.0.0.1:$NATS_PORT"; return; fi
  command -v nats-server >/dev/null || { log "nats-server not found: apt-get install nats-server"; exit 1; }
  mkdir -p "$DATA_DIR"
  log "starting on 127.0.0.1:$NATS_PORT (JetStream in $DATA_DIR)"
  nohup nats-server -js -sd "$DATA_DIR" -a 127.0.0.1 -p "$NATS_PORT" \
    -m "$NATS_MONITOR_PORT" --pid "$PIDFILE" >>"$LOG_DIR/nats.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for 30 "nats-server" healthy
  log "up (pid $(cat "$PIDFILE"))"
}

stop() { stop_pidfile "$PIDFILE"; }

status() { running && healthy && log "running on 127.0.0.1:$NATS_PORT"; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
