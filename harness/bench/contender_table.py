"""The Cassandra table a reference contender writes its counts to, created on start.

Imported by contenders that run in the Spark image, so it needs nothing but cassandra-driver.
"""

from __future__ import annotations

from typing import Any


def open_table(cassandra_hosts: str, keyspace: str, table: str, columns: str) -> tuple[Any, Any]:
    """Connect to `host:port`, create `keyspace.table (columns)` if missing; returns (cluster, session)."""
    from cassandra.cluster import Cluster

    host, _, port = cassandra_hosts.rpartition(":")
    cluster = Cluster([host], port=int(port), connect_timeout=30)
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.{table} ({columns})")
    session.cluster.control_connection.wait_for_schema_agreement()
    return cluster, session
