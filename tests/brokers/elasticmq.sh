#!/usr/bin/env bash
# ElasticMQ, an SQS-compatible server, on 127.0.0.1: for the SQS actions moto lacks
# (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask). Jars from Maven Central.
# Usage: tests/brokers/elasticmq.sh start|stop|status|fetch
source "$(dirname "$0")/common.sh"

ELASTICMQ_VERSION="${EVENTDESK_ELASTICMQ_VERSION:-1.6.11}"
LIBS="$BROKERS_DIR/elasticmq-libs-$ELASTICMQ_VERSION"
PIDFILE="$BROKERS_DIR/elasticmq.pid"
CONFIG="$BROKERS_DIR/elasticmq.conf"
DATA="$BROKERS_DIR/elasticmq-data"

fetch_jars() {
  maven_fetch "$LIBS" elasticmq-server "org.elasticmq:elasticmq-server_2.13:$ELASTICMQ_VERSION"
}

write_config() {
  cat >"$CONFIG" <<CFG
include classpath("application.conf")
node-address { protocol = http, host = "127.0.0.1", port = $ELASTICMQ_PORT, context-path = "" }
rest-sqs { enabled = true, bind-port = $ELASTICMQ_PORT, bind-hostname = "127.0.0.1", sqs-limits = strict }
rest-stats { enabled = false }
aws { region = us-east-1, accountId = 000000000000 }
# Queues and messages survive a restart, as SQS's do: the fault tests stop it mid-replay.
queues-storage { enabled = true, path = "$DATA/queues.conf" }
messages-storage { enabled = true, uri = "jdbc:h2:$DATA/messages", prune-data-on-init = false }
CFG
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if running && port_open "$ELASTICMQ_PORT"; then log "already running on 127.0.0.1:$ELASTICMQ_PORT"; return; fi
  fetch_jars
  write_config
  mkdir -p "$DATA"
  log "starting on 127.0.0.1:$ELASTICMQ_PORT"
  nohup java -Xmx256m -XX:+UseSerialGC -Dconfig.file="$CONFIG" -cp "$LIBS/*" org.elasticmq.server.Main \
    >>"$LOG_DIR/elasticmq.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for 60 "ElasticMQ" port_open "$ELASTICMQ_PORT"
  log "up (pid $(cat "$PIDFILE"))"
}

stop() { stop_pidfile "$PIDFILE"; }

status() { running && port_open "$ELASTICMQ_PORT" && log "running on 127.0.0.1:$ELASTICMQ_PORT"; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  fetch) fetch_jars ;;
  *) echo "usage: $0 start|stop|status|fetch" >&2; exit 2 ;;
esac
