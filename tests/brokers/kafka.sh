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
  [[ -f "$LIBS/.complete" ]] && return
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  local pom="$BROKERS_DIR/kafka-pom.xml"
  cat >"$pom" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>eventdesk.local</groupId><artifactId>kafka-server</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$LIBS"
  mvn -q -B -f "$pom" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime >"$LOG_DIR/kafka-mvn.log" 2>&1 \
    || { log "mvn failed; see $LOG_DIR/kafka-mvn.log"; exit 1; }
  touch "$LIBS/.complete"
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
