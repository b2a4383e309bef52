# Shared settings for the local broker scripts; sourced, not run.
# Everything they create lives under $EVENTDESK_BROKERS_DIR (default: <repo>/.brokers),
# which git ignores: jars, data and, in logs/, one log file per broker.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BROKERS_DIR="${EVENTDESK_BROKERS_DIR:-$REPO_ROOT/.brokers}"
LOG_DIR="$BROKERS_DIR/logs"
mkdir -p "$LOG_DIR"

KAFKA_PORT="${EVENTDESK_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${EVENTDESK_KAFKA_CONTROLLER_PORT:-19093}"
RABBITMQ_PORT="${EVENTDESK_RABBITMQ_PORT:-5672}"
RABBITMQ_MANAGEMENT_PORT="${EVENTDESK_RABBITMQ_MANAGEMENT_PORT:-15672}"
MOTO_PORT="${EVENTDESK_MOTO_PORT:-5055}"
ELASTICMQ_PORT="${EVENTDESK_ELASTICMQ_PORT:-19324}"
NATS_PORT="${EVENTDESK_NATS_PORT:-14222}"
NATS_MONITOR_PORT="${EVENTDESK_NATS_MONITOR_PORT:-18222}"
KAFKA_VERSION="${EVENTDESK_KAFKA_VERSION:-4.4.0}"
KAFKA_LIBS="$BROKERS_DIR/kafka-libs-$KAFKA_VERSION"
# The second, secured Kafka (kafka-secure.sh): one port per kind of listener.
KAFKA_SECURE_SASL_PORT="${EVENTDESK_KAFKA_SECURE_SASL_PORT:-19192}"
KAFKA_SECURE_SSL_PORT="${EVENTDESK_KAFKA_SECURE_SSL_PORT:-19193}"
KAFKA_SECURE_CONTROLLER_PORT="${EVENTDESK_KAFKA_SECURE_CONTROLLER_PORT:-19194}"
KAFKA_SECURE_INTERNAL_PORT="${EVENTDESK_KAFKA_SECURE_INTERNAL_PORT:-19195}"
KAFKA_SECURE_WRONG_NAME_PORT="${EVENTDESK_KAFKA_SECURE_WRONG_NAME_PORT:-19196}"
KAFKA_SECURE_MTLS_PORT="${EVENTDESK_KAFKA_SECURE_MTLS_PORT:-19197}"

maven_fetch() {  # maven_fetch DIR NAME GROUP:ARTIFACT:VERSION... -> their runtime jars in DIR, once
  local dir=$1 name=$2
  shift 2
  [[ -f "$dir/.complete" ]] && return
  log "fetching $name jars from Maven Central into $dir"
  local pom="$BROKERS_DIR/$name-pom.xml" deps="" coordinate group artifact version
  for coordinate in "$@"; do
    IFS=: read -r group artifact version <<<"$coordinate"
    deps+="<dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$version</version></dependency>"
  done
  cat >"$pom" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>eventdesk.local</groupId><artifactId>$name</artifactId><version>1</version>
  <dependencies>$deps</dependencies>
</project>
POM
  rm -rf "$dir"
  mvn -q -B -f "$pom" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DoutputDirectory="$dir" -DincludeScope=runtime >"$LOG_DIR/$name-mvn.log" 2>&1 \
    || { log "mvn failed; see $LOG_DIR/$name-mvn.log"; exit 1; }
  touch "$dir/.complete"
}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

port_open() {  # port_open PORT -> 0 when something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND... -> polls COMMAND until it succeeds
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$what did not come up in time; see $LOG_DIR"
      return 1
    fi
    sleep 0.5
  done
}

stop_pidfile() {  # stop_pidfile FILE -> ends its process (TERM, up to 30 s, then KILL), removes FILE
  local pid
  if [[ -f "$1" ]] && pid=$(cat "$1") && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped"
  fi
  rm -f "$1"
}

kafka_single_node_settings() {  # kafka_single_node_settings DATA_DIR -> what every local node shares
  cat <<CFG
log.dirs=$1
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
CFG
}

kafka_log4j2() {  # kafka_log4j2 LOG_FILE -> log4j2 properties: warnings and up, to that file
  # (and the transaction and group coordinators' INFO: what a stalled replay waited on)
  cat <<L4J
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $1
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.txn.name = kafka.coordinator.transaction
logger.txn.level = INFO
logger.coordinators.name = org.apache.kafka.coordinator
logger.coordinators.level = INFO
L4J
}
