#!/usr/bin/env bash
# Apache Kafka 4.x, single-node KRaft on 127.0.0.1, from Maven Central jars.
# Usage: tests/brokers/kafka.sh start|stop|status
source "$(dirname "$0")/common.sh"

KAFKA_VERSION="${EVENTDESK_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION=2.24.3
LIBS="$BROKERS_DIR/kafka-libs-$KAFKA_VERSION"
DATA="$BROKERS_DIR/kafka-data"
PIDFILE="$BROKERS_DIR/kafka.pid"
CONFIG="$BROKERS_DIR/kafka-server.properties"

fetch_jars() {
  maven_fetch "$LIBS" kafka-server \
    "org.apache.kafka:kafka_2.13:$KAFKA_VERSION" \
    "org.apache.logging.log4j:log4j-slf4j-impl:$LOG4J_VERSION" \
    "org.apache.logging.log4j:log4j-core:$LOG4J_VERSION"
}

write_config() {
  cat >"$CONFIG" <<CFG
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
$(kafka_single_node_settings "$DATA")
CFG
  kafka_log4j2 "$LOG_DIR/kafka.log" >"$BROKERS_DIR/kafka-log4j2.properties"
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if running && port_open "$KAFKA_PORT"; then log "already running on 127.0.0.1:$KAFKA_PORT"; return; fi
  fetch_jars
  write_config
  local java_opts=(-Xmx512m -Xms256m -XX:+UseSerialGC -Dlog4j2.configurationFile="$BROKERS_DIR/kafka-log4j2.properties")
  if [[ ! -f "$DATA/meta.properties" ]]; then
    rm -rf "$DATA"
    local cluster_id
    cluster_id=$(java -cp "$LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    java -cp "$LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
      >>"$LOG_DIR/kafka-format.log" 2>&1 || { log "storage format failed; see $LOG_DIR/kafka-format.log"; exit 1; }
  fi
  log "starting on 127.0.0.1:$KAFKA_PORT"
  nohup java -cp "$LIBS/*" "${java_opts[@]}" kafka.Kafka "$CONFIG" >>"$LOG_DIR/kafka.out" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for 90 "Kafka" port_open "$KAFKA_PORT"
  log "up (pid $(cat "$PIDFILE"))"
}

stop() { stop_pidfile "$PIDFILE"; }

status() { running && port_open "$KAFKA_PORT" && log "running on 127.0.0.1:$KAFKA_PORT"; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  fetch) fetch_jars ;;
  *) echo "usage: $0 start|stop|status|fetch" >&2; exit 2 ;;
esac
