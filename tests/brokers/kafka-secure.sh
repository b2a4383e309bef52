#!/usr/bin/env bash
# A second Apache Kafka, single-node KRaft on 127.0.0.1, whose client listeners are secured:
#   SASL_PLAINTEXT  (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN)   $KAFKA_SECURE_SASL_PORT
#   SSL             (server cert for 127.0.0.1 and localhost) $KAFKA_SECURE_SSL_PORT
#   SSL             (server cert for another name only)       $KAFKA_SECURE_WRONG_NAME_PORT
#   SSL             (client certificate required)             $KAFKA_SECURE_MTLS_PORT
# Broker-internal and controller traffic stay PLAINTEXT on loopback.
# KRaft's StandardAuthorizer is on: the main user, the client certificate and the anonymous
# principal (the broker itself, and the TLS listeners without a client certificate) are super
# users; a second SCRAM user, eventdesk-noacl, has no ACLs at all, so every request it makes is
# refused: the "logged in, but not allowed" case.
# The test CA, certificates and per-setup passwords are made here at first start, into
# $BROKERS_DIR (kafka-secure-tls/, kafka-secure-credentials.json and
# kafka-secure-noacl-credentials.json, owner-only), which git
# ignores; passwords are never printed.
# Usage: tests/brokers/kafka-secure.sh start|stop|status
source "$(dirname "$0")/common.sh"

DATA="$BROKERS_DIR/kafka-secure-data"
PIDFILE="$BROKERS_DIR/kafka-secure.pid"
CONFIG="$BROKERS_DIR/kafka-secure-server.properties"
LOG4J="$BROKERS_DIR/kafka-secure-log4j2.properties"
TLS="$BROKERS_DIR/kafka-secure-tls"
CREDENTIALS="$BROKERS_DIR/kafka-secure-credentials.json"
NOACL_CREDENTIALS="$BROKERS_DIR/kafka-secure-noacl-credentials.json"
# Which users the data dir was formatted with; a different value means "format again".
FORMAT_MARKER="$BROKERS_DIR/kafka-secure-data.format"
FORMAT_VERSION="users: eventdesk, eventdesk-noacl"
USERNAME=eventdesk
NOACL_USERNAME=eventdesk-noacl

# -- certificates --------------------------------------------------------------------

make_ca() {  # make_ca NAME COMMON_NAME
  openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -keyout "$1.key" -out "$1.pem" -subj "/CN=$2" -config <(printf '%s\n' \
      '[req]' 'distinguished_name=dn' 'x509_extensions=ext' '[dn]' \
      '[ext]' 'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign' \
      'subjectKeyIdentifier=hash')
}

make_leaf() {  # make_leaf NAME CA COMMON_NAME EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
  openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$3"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -sha256 \
    -days 825 -out "$1.pem" -extfile <(printf '%s\n' \
      'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
      "extendedKeyUsage=$4" 'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' \
      ${5:+"subjectAltName=$5"})
  rm -f "$1.csr"
  # Kafka's PEM key store: the private key, then the chain. The root is left out, as
  # servers usually do, so a client without the CA sees "unable to get local issuer".
  cat "$1.key" "$1.pem" >"$1-keystore.pem"
}

make_tls() {
  [[ -f "$TLS/.complete" ]] && return
  log "generating a test CA and certificates into $TLS"
  rm -rf "$TLS" "$TLS.tmp"
  mkdir -p "$TLS.tmp"
  (
    cd "$TLS.tmp"
    make_ca ca "Eventdesk Test CA"
    # Unrelated to everything the broker presents: the "unknown CA" case.
    make_ca other-ca "Eventdesk Unrelated CA"
    make_leaf server ca 127.0.0.1 serverAuth "IP:127.0.0.1,DNS:localhost"
    # Valid chain, but for a name nobody connects by: the "wrong hostname" case.
    make_leaf wrong-name ca kafka.eventdesk.invalid serverAuth "DNS:kafka.eventdesk.invalid"
    make_leaf client ca eventdesk-client clientAuth
  ) >>"$LOG_DIR/kafka-secure-tls.log" 2>&1 || { log "openssl failed; see $LOG_DIR/kafka-secure-tls.log"; exit 1; }
  chmod 600 "$TLS.tmp"/*.key "$TLS.tmp"/*-keystore.pem
  touch "$TLS.tmp/.complete"
  mv "$TLS.tmp" "$TLS"
}

# -- passwords -----------------------------------------------------------------------

make_credentials() {
  [[ -f "$CREDENTIALS" ]] && return
  local sha256 sha512 plain
  # Hex only: nothing that needs quoting in JSON, JAAS or --add-scram.
  sha256=$(openssl rand -hex 16) sha512=$(openssl rand -hex 16) plain=$(openssl rand -hex 16)
  (
    umask 077
    printf '{"username": "%s", "passwords": {"SCRAM-SHA-256": "%s", "SCRAM-SHA-512": "%s", "PLAIN": "%s"}}\n' \
      "$USERNAME" "$sha256" "$sha512" "$plain" >"$CREDENTIALS.tmp"
  )
  mv "$CREDENTIALS.tmp" "$CREDENTIALS"
  # SCRAM users live in the cluster metadata, made at format time with these passwords.
  rm -rf "$DATA"
}

make_noacl_credentials() {
  [[ -f "$NOACL_CREDENTIALS" ]] && return
  local sha256 sha512
  sha256=$(openssl rand -hex 16) sha512=$(openssl rand -hex 16)
  (
    umask 077
    printf '{"username": "%s", "passwords": {"SCRAM-SHA-256": "%s", "SCRAM-SHA-512": "%s"}}\n' \
      "$NOACL_USERNAME" "$sha256" "$sha512" >"$NOACL_CREDENTIALS.tmp"
  )
  mv "$NOACL_CREDENTIALS.tmp" "$NOACL_CREDENTIALS"
  rm -rf "$DATA"
}

password() {  # password MECHANISM [FILE] -> the generated password, for this script's own use
  sed -E "s/.*\"$1\": \"([0-9a-f]+)\".*/\\1/" "${2:-$CREDENTIALS}"
}

formatted() {  # the data dir exists and was formatted with today's users
  [[ -f "$DATA/meta.properties" && "$(cat "$FORMAT_MARKER" 2>/dev/null)" == "$FORMAT_VERSION" ]]
}

format_storage() {
  local java_opts=("$@") cluster_id
  rm -rf "$DATA" "$FORMAT_MARKER"
  cluster_id=$(java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
  java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
    --add-scram "SCRAM-SHA-256=[name=$USERNAME,password=$(password SCRAM-SHA-256)]" \
    --add-scram "SCRAM-SHA-512=[name=$USERNAME,password=$(password SCRAM-SHA-512)]" \
    --add-scram "SCRAM-SHA-256=[name=$NOACL_USERNAME,password=$(password SCRAM-SHA-256 "$NOACL_CREDENTIALS")]" \
    --add-scram "SCRAM-SHA-512=[name=$NOACL_USERNAME,password=$(password SCRAM-SHA-512 "$NOACL_CREDENTIALS")]" \
    2>&1 | sed -E 's/UserScramCredentialRecord\([^)]*\)/UserScramCredentialRecord(...)/g' \
    >>"$LOG_DIR/kafka-secure-format.log" \
    || { log "storage format failed; see $LOG_DIR/kafka-secure-format.log"; exit 1; }
  echo "$FORMAT_VERSION" >"$FORMAT_MARKER"
}

# -- broker --------------------------------------------------------------------------

ssl_listener() {  # ssl_listener NAME KEYSTORE: PEM key store and trust store for one listener
  printf 'listener.name.%s.ssl.keystore.type=PEM\n' "$1"
  printf 'listener.name.%s.ssl.keystore.location=%s\n' "$1" "$TLS/$2-keystore.pem"
  printf 'listener.name.%s.ssl.truststore.type=PEM\n' "$1"
  printf 'listener.name.%s.ssl.truststore.location=%s\n' "$1" "$TLS/ca.pem"
}

write_config() {
  # Holds the PLAIN password: owner-only, like the credentials file.
  (
    umask 077
    cat >"$CONFIG" <<CFG
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_SECURE_CONTROLLER_PORT
listeners=INTERNAL://127.0.0.1:$KAFKA_SECURE_INTERNAL_PORT,SASL://127.0.0.1:$KAFKA_SECURE_SASL_PORT,TLS://127.0.0.1:$KAFKA_SECURE_SSL_PORT,WRONGNAME://127.0.0.1:$KAFKA_SECURE_WRONG_NAME_PORT,MTLS://127.0.0.1:$KAFKA_SECURE_MTLS_PORT,CONTROLLER://127.0.0.1:$KAFKA_SECURE_CONTROLLER_PORT
advertised.listeners=INTERNAL://127.0.0.1:$KAFKA_SECURE_INTERNAL_PORT,SASL://127.0.0.1:$KAFKA_SECURE_SASL_PORT,TLS://127.0.0.1:$KAFKA_SECURE_SSL_PORT,WRONGNAME://127.0.0.1:$KAFKA_SECURE_WRONG_NAME_PORT,MTLS://127.0.0.1:$KAFKA_SECURE_MTLS_PORT
listener.security.protocol.map=INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL:SASL_PLAINTEXT,TLS:SSL,WRONGNAME:SSL,MTLS:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$USERNAME="$(password PLAIN)";
$(ssl_listener tls server)
$(ssl_listener wrongname wrong-name)
$(ssl_listener mtls server)
listener.name.mtls.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$USERNAME;User:ANONYMOUS;User:CN=eventdesk-client
$(kafka_single_node_settings "$DATA")
CFG
  )
  kafka_log4j2 "$LOG_DIR/kafka-secure.log" >"$LOG4J"
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

all_ports_open() {
  local port
  for port in "$KAFKA_SECURE_SASL_PORT" "$KAFKA_SECURE_SSL_PORT" \
    "$KAFKA_SECURE_WRONG_NAME_PORT" "$KAFKA_SECURE_MTLS_PORT"; do
    port_open "$port" || return 1
  done
}

start() {
  # A node started by an older version of this script lacks users: it is formatted again.
  if running && ! formatted; then log "restarting to add the test users"; stop; fi
  if running && all_ports_open; then log "already running on 127.0.0.1:$KAFKA_SECURE_SASL_PORT"; return; fi
  bash "$(dirname "$0")/kafka.sh" fetch
  make_tls
  make_credentials
  make_noacl_credentials
  write_config
  local java_opts=(-Xmx384m -Xms128m -XX:+UseSerialGC -Dlog4j2.configurationFile="$LOG4J")
  # SCRAM users are made at format time; the data dir holds only test data.
  formatted || format_storage "${java_opts[@]}"
  log "starting on 127.0.0.1:$KAFKA_SECURE_SASL_PORT (SASL), :$KAFKA_SECURE_SSL_PORT (SSL)"
  nohup java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.Kafka "$CONFIG" >>"$LOG_DIR/kafka-secure.out" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for 90 "secured Kafka" all_ports_open
  log "up (pid $(cat "$PIDFILE"))"
}

stop() { stop_pidfile "$PIDFILE"; }

status() { running && all_ports_open && log "running on 127.0.0.1:$KAFKA_SECURE_SASL_PORT"; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
