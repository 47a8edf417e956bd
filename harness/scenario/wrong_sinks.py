"""Deliberately wrong sinks: the mutants of the mutation suite (`harness/scenario/mutants.py`) and the
negative controls of the gate, which the checker must catch on the real stack.

They run inside the real driver (`--sink harness.scenario.wrong_sinks:NAME`), with the same
failpoints as the real sink, so a fault replays a batch through them exactly as it would through
ours. Each is one small, plausible change to `pipeline.sink.CassandraSink`, named for what it gets
wrong.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from pipeline.counting import KIND_DEAD, KIND_RECORD, batch_rows
from pipeline.sink import CassandraSink, plan_writes


def _valid(batch: DataFrame) -> DataFrame:
    return batch.where((F.col("kind") == KIND_RECORD) & F.col("reason").isNull())


def _events_per_window(batch: DataFrame) -> list[Row]:
    """This batch's events per (site, window): the increments a naive sink adds to its counts."""
    return _valid(batch).groupBy("site_id", "window_start", "window_end").count().collect()


class IncrementingSink(CassandraSink):
    """Adds each batch's events to the stored count (read, add, write), with no fence: a replayed
    batch is added twice."""

    def write(self, batch: DataFrame, batch_id: int) -> None:
        deltas = _events_per_window(batch)
        if not deltas:
            return
        job = self.generation.job
        read = self.session.prepare(
            f"SELECT views FROM {self.keyspace}.pageviews WHERE job = ? AND site_id = ? AND window_start = ?"
        )
        write = self.session.prepare(
            f"INSERT INTO {self.keyspace}.pageviews (job, site_id, window_start, window_end, views, batch_id)"
            " VALUES (?, ?, ?, ?, ?, ?)"
        )
        for row in deltas:
            current = self.session.execute(read, (job, row.site_id, row.window_start)).one()
            views = (current.views if current else 0) + row["count"]
            self.session.execute(write, (job, row.site_id, row.window_start, row.window_end, views, batch_id))
        self.failpoints.hit("sink.after_write", batch_id)


class UuidRowsSink(CassandraSink):
    """The seed's design: one new row per batch per (site, window) under a fresh uuid1() key, summed
    when read (materialised here into `pageviews` so the checker reads it like ours). A replayed
    batch adds a second row."""

    def write(self, batch: DataFrame, batch_id: int) -> None:
        deltas = _events_per_window(batch)
        if not deltas:
            return
        job = self.generation.job
        self.session.execute(
            f"CREATE TABLE IF NOT EXISTS {self.keyspace}.seed_rows (job text, site_id text,"
            " window_start timestamp, ts timeuuid, views bigint,"
            " PRIMARY KEY ((job, site_id, window_start), ts))"
        )
        add = self.session.prepare(
            f"INSERT INTO {self.keyspace}.seed_rows (job, site_id, window_start, ts, views)"
            " VALUES (?, ?, ?, now(), ?)"
        )
        total = self.session.prepare(
            f"SELECT sum(views) AS views FROM {self.keyspace}.seed_rows"
            " WHERE job = ? AND site_id = ? AND window_start = ?"
        )
        put = self.session.prepare(
            f"INSERT INTO {self.keyspace}.pageviews (job, site_id, window_start, window_end, views, batch_id)"
            " VALUES (?, ?, ?, ?, ?, ?)"
        )
        for row in deltas:
            self.session.execute(add, (job, row.site_id, row.window_start, row["count"]))
        self.failpoints.hit("sink.after_write", batch_id)
        for row in deltas:
            views = self.session.execute(total, (job, row.site_id, row.window_start)).one().views
            self.session.execute(put, (job, row.site_id, row.window_start, row.window_end, views, batch_id))


class CommitThenWriteSink(CassandraSink):
    """At-most-once: marks a batch id as done before writing it, and skips ids already marked. A
    crash in the middle of the write loses the rest of that batch for good."""

    def write(self, batch: DataFrame, batch_id: int) -> None:
        job = self.generation.job
        self.session.execute(
            f"CREATE TABLE IF NOT EXISTS {self.keyspace}.done_batches"
            " (job text, batch_id bigint, PRIMARY KEY ((job), batch_id))"
        )
        done = self.session.execute(
            f"SELECT batch_id FROM {self.keyspace}.done_batches WHERE job = %s AND batch_id = %s",
            (job, batch_id),
        ).one()
        if done is not None:
            return
        self.session.execute(
            f"INSERT INTO {self.keyspace}.done_batches (job, batch_id) VALUES (%s, %s)", (job, batch_id)
        )
        super().write(batch, batch_id)


class UnfencedSink(CassandraSink):
    """Our sink without the fence: each write carries the time it is sent, as cassandra-driver's
    client-side timestamps do with no USING TIMESTAMP. A stale attempt of a batch that writes late
    wins over newer batches: counts go backwards."""

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        now_us = time.time_ns() // 1000
        super()._execute(statement, [(*row[:-1], now_us) for row in params])


class AllLateSink(CassandraSink):
    """Counts nothing and reports every event late, each with the smallest watermark that makes it
    late (its window's end); dead letters stay right. A checker that takes late reports on trust
    judges it exact: counted + dead-lettered + late = acknowledged."""

    def write(self, batch: DataFrame, batch_id: int) -> None:
        rows = batch_rows(batch, self._watermark_of(batch_id), self.dedup).collect()
        writes = plan_writes([r for r in rows if r.kind == KIND_DEAD], {}, batch_id, 0, self.generation)
        events = _valid(batch).select(
            "topic",
            "partition",
            "offset",
            "event_id",
            "site_id",
            F.unix_millis("window_start").alias("window_start"),
            F.unix_millis("window_end").alias("window_end"),
        )
        self._execute(self._dead, writes.dead_letters)
        g = self.generation
        self._execute(
            self._late,
            [
                (g.job, *row[:6], row.window_end, g.number, batch_id, g.fence(batch_id))
                for row in events.collect()
            ],
        )


class OwnWatermarkSink(CassandraSink):
    """Judges lateness by its own batch's watermark (offsets/N) instead of the previous batch's
    (offsets/N-1, the one Spark's deduplication drops by). Under a backlog the two differ by a batch
    of event time: events between them are left uncounted, reported late by a watermark that no batch
    read before the one planning it could have set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The pipeline reads offsets/(N-1) for batch N; asking for batch N+1 reads offsets/N.
        previous = self._watermark_of
        self._watermark_of = lambda batch_id: previous(batch_id + 1)


class AsyncWritesSink(CassandraSink):
    """Sends every write with `execute_async` and returns without waiting for the answers (a common
    speed-up): Spark commits the batch whether or not Cassandra took its writes."""

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        for row in params:
            self.session.execute_async(statement, row)


class ErrorsSkippedSink(CassandraSink):
    """Logs a failed write and carries on: the batch is committed without it."""

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        try:
            execute_concurrent_with_args(self.session, statement, params, concurrency=64)
        except Exception as error:
            print(f"write failed, skipped: {error!r}", file=sys.stderr, flush=True)


class RetryGivesUpSink(CassandraSink):
    """Retries a failed write for a second, then logs it and returns normally."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retry_for_s = 1.0

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        try:
            super()._execute(statement, params)
        except Exception as error:
            print(f"write failed after retries, giving up: {error!r}", file=sys.stderr, flush=True)


class ConstantFenceSink(CassandraSink):
    """Every write at one constant timestamp: a replay ties, and a tie goes to the greater value, so
    within one checkpoint counts still only grow; any other writer wins for good."""

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        super()._execute(statement, [(*row[:-1], 1) for row in params])


class BatchIdFenceSink(CassandraSink):
    """The fence without generations: USING TIMESTAMP batch id, which a new checkpoint starts again
    at 0, below everything the old one wrote."""

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        # The batch_id column is the last value before the timestamp in every INSERT.
        super()._execute(statement, [(*row[:-1], max(row[-2], 0)) for row in params])


class LateDroppedSink(CassandraSink):
    """Counts and dead-letters, but never writes the late reports: late events vanish silently."""

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        if statement is not self._late:
            super()._execute(statement, params)


class DeadLetterPerBatchSink(CassandraSink):
    """Keys a dead letter by its batch instead of its offset: the dead letters of one partition in
    one batch overwrite each other."""

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        if statement is self._dead:
            # (job, topic, partition, offset, ..., batch_id, timestamp): offset := batch_id
            params = [(*row[:3], row[-2], *row[4:]) for row in params]
        super()._execute(statement, params)


class CarryNothingSink(CassandraSink):
    """A take-over that forgets the counts it carried: the open windows start again from what the
    new generation reads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.carried = {}


class ConsistencyOneSink(CassandraSink):
    """Writes at consistency ONE instead of LOCAL_QUORUM: acknowledged by a single replica."""

    def _prepare(self, cql: str) -> Any:
        statement = super()._prepare(cql)
        statement.consistency_level = ConsistencyLevel.ONE
        return statement


class OwnershipIgnoredSink(CassandraSink):
    """Never asks whether its generation still owns the job before writing a batch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owns = lambda: True
