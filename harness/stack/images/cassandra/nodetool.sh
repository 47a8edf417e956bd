#!/bin/bash
# nodetool for this image (its jars come from Maven, without Cassandra's bin/): the JMX port the
# node was started with, and the module options of the node's own Java, as Cassandra's script passes.
set -euo pipefail
: "${CASSANDRA_JMX_PORT:?the node was started without CASSANDRA_JMX_PORT}"
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
java_major=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$java_home/release")
mapfile -t module_options < <(grep -E '^--add-' "/opt/cassandra/jvm${java_major}.options")
exec java -Xmx128m "${module_options[@]}" -Dcassandra.logdir=/tmp -Dlogback.configurationFile=/opt/cassandra/logback.xml \
  -cp "/opt/cassandra/conf:/opt/cassandra/lib/*" org.apache.cassandra.tools.NodeTool \
  -h 127.0.0.1 -p "${CASSANDRA_JMX_PORT}" "$@"
