"""Reads what the pipeline wrote to Cassandra into a `SinkSnapshot` for the checker."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from cassandra import ConsistencyLevel, ProtocolVersion
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, RetryPolicy

from harness.model.snapshot import LateReport, SinkSnapshot


class NextNode(RetryPolicy):
    """A read that its coordinator could not get a quorum for (a node cut off from its peers still
    answers its clients) is asked of the next node, twice at most: reads change nothing."""

    def _next(self, retry_num: int) -> tuple[int, ConsistencyLevel | None]:
        return (self.RETRY_NEXT_HOST, None) if retry_num < 2 else (self.RETHROW, None)

    def on_read_timeout(
        self,
        query: Any,
        consistency: Any,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> tuple[int, ConsistencyLevel | None]:
        return self._next(retry_num)

    def on_unavailable(
        self, query: Any, consistency: Any, required_replicas: int, alive_replicas: int, retry_num: int
    ) -> tuple[int, ConsistencyLevel | None]:
        return self._next(retry_num)


def reader(hosts: Sequence[str], port: int, connect_timeout: float = 30) -> Cluster:
    """A client of the nodes at `hosts` that reads and writes at QUORUM: with replicas, a read meets
    the last write any quorum acknowledged, so the checker never judges from a replica that missed
    it (one node: QUORUM is that node)."""
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy(),
        consistency_level=ConsistencyLevel.QUORUM,
        retry_policy=NextNode(),
    )
    return Cluster(
        list(hosts),
        port=port,
        connect_timeout=connect_timeout,
        protocol_version=ProtocolVersion.V5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )


@contextmanager
def cassandra_session(hosts: Sequence[str], port: int) -> Iterator[Session]:
    cluster = reader(hosts, port)
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


def epoch_ms(value: datetime) -> int:
    # The driver returns naive datetimes in UTC.
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


def read_snapshot(session: Session, keyspace: str, job: str, window_ms: int) -> SinkSnapshot:
    """The job's rows as they are; the caller adds the settings and offset log that judge late
    reports. Other jobs' rows in the keyspace are left out: they are not this history's. The job is
    the first part of every partition key, and the rest (sites, partitions) is what is being judged,
    so the node filters its partitions by job (ALLOW FILTERING) instead of listing them."""

    def rows(columns: str, table: str) -> Any:
        return session.execute(
            f"SELECT {columns} FROM {keyspace}.{table} WHERE job = %s ALLOW FILTERING", (job,)
        )

    counts = {
        (row.site_id, epoch_ms(row.window_start)): row.views
        for row in rows("site_id, window_start, views", "pageviews")
    }
    dead = {
        (row.topic, row.partition, row.offset): row.reason
        for row in rows("topic, partition, offset, reason", "dead_letters")
    }
    late = {
        (row.topic, row.partition, row.offset): LateReport(
            row.site_id, epoch_ms(row.window_start), epoch_ms(row.watermark), row.batch_id, row.generation
        )
        for row in rows(
            "topic, partition, offset, site_id, window_start, watermark, generation, batch_id", "late_events"
        )
    }
    return SinkSnapshot(window_ms=window_ms, counts=counts, dead_letters=dead, late=late)


def generation_checkpoints(session: Session, keyspace: str, job: str) -> dict[int, str]:
    """Generation number -> its checkpoint, from the pipeline's registry."""
    rows = session.execute(
        f"SELECT generation, checkpoint FROM {keyspace}.generations WHERE job = %s", (job,)
    )
    return {row.generation: row.checkpoint for row in rows if row.generation is not None}


def snapshot_or_empty(session: Session, keyspace: str, job: str, window_ms: int) -> SinkSnapshot:
    """As `read_snapshot`, but an empty snapshot while the pipeline has not created its tables yet."""
    existing = {
        row.table_name
        for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
    }
    if not {"pageviews", "dead_letters", "late_events", "generations"} <= existing:
        return SinkSnapshot(window_ms=window_ms)
    return read_snapshot(session, keyspace, job, window_ms)
