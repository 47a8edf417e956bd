#!/bin/bash
# KRaft, every node both broker and controller; ports and cluster id come from the harness. Alone by
# default; a cluster when KAFKA_NODE_ID, KAFKA_VOTERS and KAFKA_REPLICATION say so (the replicated
# topology: three nodes, each with its own address, so the standard ports).
set -euo pipefail
: "${KAFKA_PORT:?}" "${KAFKA_CONTROLLER_PORT:?}" "${KAFKA_CLUSTER_ID:?}"
host="${KAFKA_HOST:-127.0.0.1}"
node="${KAFKA_NODE_ID:-1}"
voters="${KAFKA_VOTERS:-1@${host}:${KAFKA_CONTROLLER_PORT}}"
replication="${KAFKA_REPLICATION:-1}"
# A write acknowledged by all in-sync replicas is on at least two of three; one alone cannot take it.
min_isr=$(( replication > 1 ? 2 : 1 ))
listeners="PLAINTEXT://${host}:${KAFKA_PORT},CONTROLLER://${host}:${KAFKA_CONTROLLER_PORT}"
advertised="PLAINTEXT://${host}:${KAFKA_PORT}"
protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
# A second listener for clients behind a proxy (Toxiproxy): it listens on KAFKA_PROXIED_PORT but
# advertises the proxy's port, so the metadata keeps those clients on the proxied path.
if [ -n "${KAFKA_PROXIED_PORT:-}" ]; then
  : "${KAFKA_PROXIED_ADVERTISED_PORT:?set with KAFKA_PROXIED_PORT}"
  listeners+=",PROXIED://${host}:${KAFKA_PROXIED_PORT}"
  advertised+=",PROXIED://${host}:${KAFKA_PROXIED_ADVERTISED_PORT}"
  protocols+=",PROXIED:PLAINTEXT"
fi
props=/var/lib/kafka/server.properties
cat > "$props" <<PROPS
process.roles=broker,controller
node.id=${node}
controller.quorum.voters=${voters}
listeners=${listeners}
advertised.listeners=${advertised}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=${protocols}
log.dirs=/var/lib/kafka/data
num.partitions=4
default.replication.factor=${replication}
min.insync.replicas=${min_isr}
unclean.leader.election.enable=false
offsets.topic.replication.factor=${replication}
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=${replication}
transaction.state.log.min.isr=${min_isr}
share.coordinator.state.topic.replication.factor=${replication}
share.coordinator.state.topic.min.isr=${min_isr}
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.flush.interval.messages=1
PROPS
cp_="/opt/kafka/libs/*"
java_opts=(-Xms${KAFKA_HEAP:-512m} -Xmx${KAFKA_HEAP:-512m} -XX:+UseG1GC
  -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties -Dlog4j.configurationFile=/opt/kafka/log4j2.properties)
# Format only once, so a restarted container keeps its log (a broker restart "with its data").
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  java "${java_opts[@]}" -cp "$cp_" kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$props" --ignore-formatted
fi
exec java "${java_opts[@]}" -cp "$cp_" kafka.Kafka "$props"
