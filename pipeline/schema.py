"""The Cassandra tables Tally writes; creating them is idempotent.

Every row Tally writes carries its job in the partition key, so several jobs (one per topic, say)
share a keyspace without overwriting each other's absolute counts, and the generation that wrote it.
"""

from __future__ import annotations

from cassandra.cluster import Session

PAGEVIEWS = "pageviews"
DEAD_LETTERS = "dead_letters"
LATE_EVENTS = "late_events"
GENERATIONS = "generations"
CARRIED = "carried"

# No counter columns and no time-based keys: every row is addressed by what it describes, and its
# values are absolute, so writing it again (a replayed batch) changes nothing.
TABLES = {
    PAGEVIEWS: """
        CREATE TABLE IF NOT EXISTS {ks}.pageviews (
            job text, site_id text, window_start timestamp, window_end timestamp, views bigint,
            generation int, batch_id bigint,
            PRIMARY KEY ((job, site_id), window_start))""",
    DEAD_LETTERS: """
        CREATE TABLE IF NOT EXISTS {ks}.dead_letters (
            job text, topic text, partition int, offset bigint, reason text, raw blob, raw_size int,
            generation int, batch_id bigint,
            PRIMARY KEY ((job, topic, partition), offset))""",
    LATE_EVENTS: """
        CREATE TABLE IF NOT EXISTS {ks}.late_events (
            job text, topic text, partition int, offset bigint, event_id text, site_id text,
            window_start timestamp, watermark timestamp, generation int, batch_id bigint,
            PRIMARY KEY ((job, topic, partition), offset))""",
    # One partition per job: the generations that wrote its rows, and (static) the one that owns it
    # now, changed only by lightweight transactions.
    GENERATIONS: """
        CREATE TABLE IF NOT EXISTS {ks}.generations (
            job text, generation int, owner int static, base_us bigint, checkpoint text,
            start_offsets text, carried_watermark bigint, registered_at timestamp,
            PRIMARY KEY ((job), generation))""",
    # The counts of windows still open when a generation took over, which it adds to its own.
    CARRIED: """
        CREATE TABLE IF NOT EXISTS {ks}.carried (
            job text, generation int, site_id text, window_start timestamp, window_end timestamp,
            views bigint,
            PRIMARY KEY ((job, generation), site_id, window_start))""",
}


class SchemaOutdated(RuntimeError):
    """The keyspace holds Tally tables from before jobs and generations were part of every row."""


def ensure_schema(session: Session, keyspace: str, replication_factor: int) -> None:
    # NetworkTopologyStrategy, as production clusters use: `replication_factor` gives each datacenter
    # that many replicas (Cassandra 4.0 and later), so LOCAL_QUORUM is a majority of them.
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', 'replication_factor': {replication_factor}}}"
    )
    for ddl in TABLES.values():
        session.execute(ddl.format(ks=keyspace))
    # DDL from one client must be visible to all before the first write.
    session.cluster.control_connection.wait_for_schema_agreement()
    # CREATE IF NOT EXISTS leaves an older table as it was: writing it would fail on every batch.
    columns = {
        row.column_name
        for row in session.execute(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, PAGEVIEWS),
        )
    }
    if "job" not in columns:
        raise SchemaOutdated(
            f"{keyspace}.{PAGEVIEWS} has no job column: it was created by a Tally from before "
            "generations. Write this job into a new keyspace, or copy the rows into the new tables "
            f"(job = the topic) after renaming the old ones."
        )
