#!/bin/bash
# Cassandra tuned for a fast start; ports come from the harness. Alone by default; a node of a ring
# when CASSANDRA_SEEDS and CASSANDRA_INITIAL_TOKEN say so (the replicated topology: every node a
# seed with its own token, so that the nodes start at once and none streams at its first start).
set -euo pipefail
: "${CASSANDRA_NATIVE_PORT:?}" "${CASSANDRA_STORAGE_PORT:?}"
host="${CASSANDRA_HOST:-127.0.0.1}"
seeds="${CASSANDRA_SEEDS:-${host}:${CASSANDRA_STORAGE_PORT}}"
data=/var/lib/cassandra
conf=/opt/cassandra/conf
mkdir -p "$conf"
cat > "$conf/cassandra.yaml" <<YAML
cluster_name: tally
num_tokens: 1
initial_token: ${CASSANDRA_INITIAL_TOKEN:-0}
auto_bootstrap: false
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "${seeds}"
listen_address: ${host}
rpc_address: ${host}
storage_port: ${CASSANDRA_STORAGE_PORT}
ssl_storage_port: ${CASSANDRA_SSL_STORAGE_PORT:-$((CASSANDRA_STORAGE_PORT + 1))}
native_transport_port: ${CASSANDRA_NATIVE_PORT}
start_native_transport: true
data_file_directories: [${data}/data]
commitlog_directory: ${data}/commitlog
saved_caches_directory: ${data}/saved_caches
hints_directory: ${data}/hints
cdc_raw_directory: ${data}/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 1000ms
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
auto_snapshot: false
snapshot_on_duplicate_row_detection: false
concurrent_compactors: 1
YAML
# 5.0's upgrade steps (CASSANDRA_4, then UPGRADING, then NONE) are a setting of the node; 4.x does not
# know it and would refuse the file, so a 4.x node started with it set (a rollback) leaves it out.
major=$(basename /opt/cassandra/lib/cassandra-all-*.jar | sed 's/cassandra-all-\([0-9]*\).*/\1/')
if [[ -n ${CASSANDRA_STORAGE_COMPATIBILITY_MODE:-} && $major -ge 5 ]]; then
  echo "storage_compatibility_mode: ${CASSANDRA_STORAGE_COMPATIBILITY_MODE}" >> "$conf/cassandra.yaml"
fi
# JMX on loopback only, for nodetool inside the container (drain, upgradesstables); the port comes
# from the harness, since every container shares the host's network.
jmx=()
[[ -n ${CASSANDRA_JMX_PORT:-} ]] && jmx=(-Dcassandra.jmx.local.port="${CASSANDRA_JMX_PORT}")
# Cassandra's options per Java (jvm11 from 4.1, jvm17 from 5.0), picked by the Java its base
# installed rather than by the Cassandra version, so that the two cannot disagree.
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
java_major=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$java_home/release")
options="/opt/cassandra/jvm${java_major}.options"
[[ -f $options ]] || { echo "no JVM options for Java ${java_major}: $options is missing" >&2; exit 1; }
mapfile -t jvm_options < <(grep -E '^-' "$options")
jamm=$(ls /opt/cassandra/lib/jamm-*.jar | head -n 1)
exec java -Xms${CASSANDRA_HEAP:-768m} -Xmx${CASSANDRA_HEAP:-768m} -Xss512k \
  "${jvm_options[@]}" "${jmx[@]}" -javaagent:"$jamm" \
  -Dcassandra.config="file://$conf/cassandra.yaml" -Dcassandra.storagedir="$data" \
  -Dlogback.configurationFile=/opt/cassandra/logback.xml \
  -Dcassandra-foreground=yes -Dcassandra.skip_wait_for_gossip_to_settle=0 \
  -Dcassandra.load_ring_state=false -Dcassandra.superuser_setup_delay_ms=0 \
  -Dcassandra.ring_delay_ms=0 -Dcassandra.consistent.rangemovement=false \
  -cp "/opt/cassandra/conf:/opt/cassandra/lib/*" org.apache.cassandra.service.CassandraDaemon
