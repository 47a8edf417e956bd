"""The Cassandra tables Tally writes; creating them is idempotent."""

from __future__ import annotations

from cassandra.cluster import Session

PAGEVIEWS = "pageviews"
DEAD_LETTERS = "dead_letters"
LATE_EVENTS = "late_events"

# No counter columns and no time-based keys: every row is addressed by what it describes, and its
# values are absolute, so writing it again (a replayed batch) changes nothing.
TABLES = {
    PAGEVIEWS: """
        CREATE TABLE IF NOT EXISTS {ks}.pageviews (
            site_id text, window_start timestamp, window_end timestamp, views bigint, batch_id bigint,
            PRIMARY KEY ((site_id), window_start))""",
    DEAD_LETTERS: """
        CREATE TABLE IF NOT EXISTS {ks}.dead_letters (
            topic text, partition int, offset bigint, reason text, raw blob, raw_size int,
            batch_id bigint,
            PRIMARY KEY ((topic, partition), offset))""",
    LATE_EVENTS: """
        CREATE TABLE IF NOT EXISTS {ks}.late_events (
            topic text, partition int, offset bigint, event_id text, site_id text,
            window_start timestamp, watermark timestamp, batch_id bigint,
            PRIMARY KEY ((topic, partition), offset))""",
}


def ensure_schema(session: Session, keyspace: str, replication_factor: int) -> None:
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
    )
    for ddl in TABLES.values():
        session.execute(ddl.format(ks=keyspace))
    # DDL from one client must be visible to all before the first write.
    session.cluster.control_connection.wait_for_schema_agreement()
