"""Reads what the pipeline wrote to Cassandra into a `SinkSnapshot` for the checker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from cassandra.cluster import Cluster, Session

from harness.snapshot import LateReport, SinkSnapshot


@contextmanager
def cassandra_session(host: str, port: int) -> Iterator[Session]:
    cluster = Cluster([host], port=port, connect_timeout=30)
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


def _ms(value: datetime) -> int:
    # The driver returns naive datetimes in UTC.
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


def read_snapshot(session: Session, keyspace: str, window_ms: int) -> SinkSnapshot:
    """The tables as they are; the caller adds the settings and offset log that judge late reports."""
    counts = {
        (row.site_id, _ms(row.window_start)): row.views
        for row in session.execute(f"SELECT site_id, window_start, views FROM {keyspace}.pageviews")
    }
    dead = {
        (row.topic, row.partition, row.offset): row.reason
        for row in session.execute(f"SELECT topic, partition, offset, reason FROM {keyspace}.dead_letters")
    }
    late = {
        (row.topic, row.partition, row.offset): LateReport(
            row.site_id, _ms(row.window_start), _ms(row.watermark), row.batch_id
        )
        for row in session.execute(
            f"SELECT topic, partition, offset, site_id, window_start, watermark, batch_id"
            f" FROM {keyspace}.late_events"
        )
    }
    return SinkSnapshot(window_ms=window_ms, counts=counts, dead_letters=dead, late=late)


def snapshot_or_empty(session: Session, keyspace: str, window_ms: int) -> SinkSnapshot:
    """As `read_snapshot`, but an empty snapshot while the pipeline has not created its tables yet."""
    existing = {
        row.table_name
        for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
    }
    if not {"pageviews", "dead_letters", "late_events"} <= existing:
        return SinkSnapshot(window_ms=window_ms)
    return read_snapshot(session, keyspace, window_ms)
