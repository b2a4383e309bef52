#!/usr/bin/env bash
# moto's server: a real HTTP endpoint for SQS and SNS on 127.0.0.1.
# Usage: tests/brokers/moto.sh start|stop|status   (moto_server from the active Python environment)
source "$(dirname "$0")/common.sh"
PIDFILE="$BROKERS_DIR/moto.pid"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
healthy() { curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null; }

start() {
  if running && healthy; then log "already running on 127.0.0.1:$MOTO_PORT"; return; fi
  command -v moto_server >/dev/null || { log "moto_server not found: pip install 'moto[server]'"; exit 1; }
  log "starting on 127.0.0.1:$MOTO_PORT"
  nohup moto_server -H 127.0.0.1 -p "$MOTO_PORT" >>"$LOG_DIR/moto.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for 30 "moto" healthy
  log "up (pid $(cat "$PIDFILE"))"
}

stop() { stop_pidfile "$PIDFILE"; }

status() { running && healthy && log "running on 127.0.0.1:$MOTO_PORT"; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
