"""The foreachBatch sink: writes a micro-batch's rows to Cassandra so that no replay can count twice.

It derives the batch's rows in one Spark job (`counting.BatchRows`), adds its counts to the open
windows' absolute counts after the batch before (`window_counts.py`), and writes absolute values.
Every write of batch N carries `USING TIMESTAMP base + N`, the generation's fence (`generations.py`).
Spark replays a batch with the same id, offsets and watermark, and the counts after the batch
before are in their file, so a replay rewrites identical values under the same timestamp: a no-op.
A stale attempt of batch N (a driver presumed dead that wakes up) writes under base + N, which
loses to any newer batch's write of the same row, and to every write of a later generation: counts
never go backwards. Before each batch the sink asks the
registry whether its generation still owns the job, so a generation that was taken over stops.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from cassandra import ConsistencyLevel, OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent_with_args
from pyspark.sql import DataFrame, Row

from pipeline.counting import KIND_COUNT, KIND_DEAD, KIND_LATE, BatchRows
from pipeline.failpoints import Failpoints
from pipeline.generations import Carried, Generation
from pipeline.schema import DEAD_LETTERS, LATE_EVENTS, PAGEVIEWS
from pipeline.window_counts import Counts, Window, WindowCounts, advance

TRANSIENT = (NoHostAvailable, OperationTimedOut, Unavailable, WriteTimeout, ReadTimeout)
T = TypeVar("T")


class StopRequested(RuntimeError):
    """Raised into Spark for a batch that starts after SIGTERM: it stays uncommitted and replays."""


class Fenced(RuntimeError):
    """Raised into Spark when another generation took the job over: this one must stop writing."""


class CassandraSink:
    def __init__(
        self,
        session: Session,
        keyspace: str,
        generation: Generation,
        owns: Callable[[], bool],
        watermark_of: Callable[[int], int],
        counts: WindowCounts,
        failpoints: Failpoints,
        carried: Carried | None = None,
        retry_for_s: float = 120.0,
        dedup: bool = False,
        records_of: Callable[[int], int] | None = None,
    ) -> None:
        self.session = session
        self.keyspace = keyspace
        self.generation = generation
        self.failpoints = failpoints
        self.counts = counts
        self.carried = dict(carried or {})
        # Must match the query's: deduplication changes which events Spark drops as late.
        self.dedup = dedup
        self._owns = owns
        self._watermark_of = watermark_of
        # A batch's size, which chooses its plan (`BatchRows`); unknown, the plan for a backlog.
        self._records_of = records_of
        self._retry_for_s = retry_for_s
        self._idle = threading.Condition()
        self._saver = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tally-counts")
        self._busy = False
        self._stopping = False
        prefix = f"INSERT INTO {keyspace}."
        suffix = " USING TIMESTAMP ?"
        self._pageview = self._prepare(
            prefix + PAGEVIEWS + " (job, site_id, window_start, window_end, views, generation, batch_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)" + suffix
        )
        self._dead = self._prepare(
            prefix + DEAD_LETTERS + " (job, topic, partition, offset, reason, raw, raw_size, generation,"
            " batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)" + suffix
        )
        self._late = self._prepare(
            prefix + LATE_EVENTS + " (job, topic, partition, offset, event_id, site_id, window_start,"
            " watermark, generation, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + suffix
        )

    @cached_property
    def _batch_rows(self) -> BatchRows:
        return BatchRows(self.dedup)

    def _prepare(self, cql: str) -> Any:
        statement = self.session.prepare(cql)
        statement.consistency_level = ConsistencyLevel.LOCAL_QUORUM
        statement.is_idempotent = True
        return statement

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        with self._idle:
            if self._stopping:
                raise StopRequested(f"batch {batch_id} not started: the driver is stopping")
            self._busy = True
        try:
            self.write(batch, batch_id)
        finally:
            with self._idle:
                self._busy = False
                self._idle.notify_all()

    def late_watermark_ms(self, batch_id: int) -> int:
        """What batch `batch_id` reports late events by: Spark's watermark, or the one the generation
        carried over if that is higher (Spark's own starts again from nothing on a new checkpoint)."""
        return max(self.generation.carried_watermark_ms, self._watermark_of(batch_id))

    def restore_carried(self) -> None:
        """Write the open windows this generation took over, under every batch of its own."""
        g = self.generation
        self._execute(
            self._pageview,
            [
                (g.job, site, start, end, views, g.number, -1, g.carried_fence)
                for (site, start, end), views in self.carried.items()
            ],
        )

    def write(self, batch: DataFrame, batch_id: int) -> None:
        took = _Stopwatch()
        watermark_ms = self.late_watermark_ms(batch_id)
        took.lap("watermark")
        records = self._records_of(batch_id) if self._records_of else None
        rows = self._batch_rows(batch, watermark_ms, records).collect()
        took.lap("job")
        added = ((_window(r), r.views) for r in rows if r.kind == KIND_COUNT)
        counts = advance(self.counts.before(batch_id), added, watermark_ms)
        writes = plan_writes(rows, counts, batch_id, watermark_ms, self.generation, self.carried)
        took.lap("counts")
        # The counts file is saved while Cassandra is written: only batch N+1 reads it, and Spark
        # lets N+1 start (commits N) only after this returns, which is after both.
        saving = self._saver.submit(self.counts.save, batch_id, counts)
        try:
            if writes:
                self._write(writes, batch_id, took)
        finally:
            futures.wait([saving])
        saving.result()
        took.lap("counts file")
        if writes:
            print(f"batch {batch_id}: {writes} ({took})", file=sys.stderr, flush=True)

    def _write(self, writes: BatchWrites, batch_id: int, took: _Stopwatch) -> None:
        # A transient error here (Cassandra down) retries like a write: the batch waits, it does not fail.
        if not self._retrying(self._owns):
            raise Fenced(
                f"batch {batch_id} not written: generation {self.generation.number} of job "
                f"{self.generation.job!r} no longer owns it (another checkpoint took it over)"
            )
        took.lap("owner")
        self.failpoints.hit("sink.before_write", batch_id)
        self._execute(self._dead, writes.dead_letters)
        self._execute(self._late, writes.late_events)
        half = len(writes.pageviews) // 2
        self._execute(self._pageview, writes.pageviews[:half])
        self.failpoints.hit("sink.mid_write", batch_id)
        self._execute(self._pageview, writes.pageviews[half:])
        self.failpoints.hit("sink.after_write", batch_id)
        took.lap("writes")

    def _execute(self, statement: Any, params: Sequence[tuple[Any, ...]]) -> None:
        """Write all rows, retrying the whole set on transient errors: every write is idempotent."""
        if params:
            self._retrying(
                lambda: execute_concurrent_with_args(self.session, statement, params, concurrency=64)
            )

    def _retrying(self, call: Callable[[], T]) -> T:
        """`call()`, again on transient errors with a growing pause, until `retry_for_s` is spent."""
        deadline = time.monotonic() + self._retry_for_s
        delay = 0.2
        while True:
            try:
                return call()
            except TRANSIENT as error:
                if time.monotonic() + delay > deadline:
                    raise
                print(
                    f"cassandra write failed ({error!r}); retrying in {delay:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def stop(self) -> None:
        """Refuse new batches and wait for the one being written, so SIGTERM never cuts a write."""
        with self._idle:
            self._stopping = True
            self._idle.wait_for(lambda: not self._busy)


@dataclass(frozen=True)
class BatchWrites:
    """The parameters of every INSERT of one batch; the last one of each tuple is the fence."""

    pageviews: list[tuple[Any, ...]]
    dead_letters: list[tuple[Any, ...]]
    late_events: list[tuple[Any, ...]]

    def __bool__(self) -> bool:
        return bool(self.pageviews or self.dead_letters or self.late_events)

    def __str__(self) -> str:
        return (
            f"{len(self.pageviews)} counts, {len(self.dead_letters)} dead letters, "
            f"{len(self.late_events)} late"
        )


def plan_writes(
    rows: Sequence[Row],
    counts: Counts,
    batch_id: int,
    watermark_ms: int,
    generation: Generation,
    carried: Carried | None = None,
) -> BatchWrites:
    """Rows of `batch_rows` -> the writes of batch `batch_id`, all fenced by the generation's write
    timestamp for the batch. A window the batch counted events of is written with its absolute
    count after the batch (`counts`), plus what the generation carried for it."""
    fence, job, number = generation.fence(batch_id), generation.job, generation.number
    carried = carried or {}
    return BatchWrites(
        pageviews=[
            (
                job,
                r.site_id,
                r.window_start,
                r.window_end,
                carried.get(_window(r), 0) + counts[_window(r)],
                number,
                batch_id,
                fence,
            )
            for r in rows
            if r.kind == KIND_COUNT
        ],
        dead_letters=[
            (job, r.topic, r.partition, r.offset, r.reason, r.raw, r.raw_size, number, batch_id, fence)
            for r in rows
            if r.kind == KIND_DEAD
        ],
        late_events=[
            (
                job,
                r.topic,
                r.partition,
                r.offset,
                r.event_id,
                r.site_id,
                r.window_start,
                watermark_ms,
                number,
                batch_id,
                fence,
            )
            for r in rows
            if r.kind == KIND_LATE
        ],
    )


def _window(row: Row) -> Window:
    return (row.site_id, row.window_start, row.window_end)


class _Stopwatch:
    """Milliseconds per part of a batch, for its log line: where a batch's time goes, batch by batch."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._laps: list[str] = []

    def lap(self, part: str) -> None:
        now = time.monotonic()
        self._laps.append(f"{part} {1000 * (now - self._last):.0f}")
        self._last = now

    def __str__(self) -> str:
        return ", ".join(self._laps) + " ms"
