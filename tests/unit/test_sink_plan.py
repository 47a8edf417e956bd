"""plan_writes and CassandraSink.write: every write fenced by its batch id, each kind into its own table."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lww_model import LAYOUT, LwwStore, Prepared, RecordingSession, parse_insert
from pyspark.sql import Row

from pipeline import sink as sink_module
from pipeline.counting import KIND_COUNT, KIND_DEAD, KIND_EVENT, sink_input
from pipeline.failpoints import Failpoints
from pipeline.parse import parse_events
from pipeline.schema import TABLES
from pipeline.sink import BatchWrites, CassandraSink, plan_writes

if TYPE_CHECKING:
    from conftest import KafkaFrames

COLUMNS = (
    "kind",
    "site_id",
    "window_start",
    "window_end",
    "views",
    "topic",
    "partition",
    "offset",
    "event_id",
    "reason",
    "raw",
    "raw_size",
)  # what sink_rows selects


def sink_row(**values: Any) -> Row:
    return Row(**{column: values.get(column) for column in COLUMNS})


ms = st.integers(0, 253_402_300_799_999)
count_rows = st.builds(
    lambda site, start, views: sink_row(
        kind=KIND_COUNT, site_id=site, window_start=start, window_end=start + 60_000, views=views
    ),
    st.text(min_size=1, max_size=5),
    ms,
    st.integers(1, 10**9),
)
dead_rows = st.builds(
    lambda offset, reason, raw: sink_row(
        kind=KIND_DEAD,
        window_start=0,
        window_end=60_000,
        topic="t",
        partition=offset % 3,
        offset=offset,
        reason=reason,
        raw=raw,
        raw_size=len(raw) if raw is not None else None,
    ),
    st.integers(0, 10**12),
    st.sampled_from(["invalid_json", "empty_value"]),
    st.none() | st.binary(max_size=8),
)
late_rows = st.builds(
    lambda offset, site, start: sink_row(
        kind=KIND_EVENT,
        site_id=site,
        window_start=start,
        window_end=start + 60_000,
        topic="t",
        partition=offset % 3,
        offset=offset,
        event_id=f"e{offset}",
    ),
    st.integers(0, 10**12),
    st.text(min_size=1, max_size=5),
    ms,
)
batch_ids = st.integers(0, 2**62)


@given(rows=st.lists(count_rows | dead_rows | late_rows, max_size=20), batch_id=batch_ids, watermark_ms=ms)
def test_plan_fences_every_write_and_routes_each_kind(
    rows: list[Row], batch_id: int, watermark_ms: int
) -> None:
    writes = plan_writes(rows, batch_id, watermark_ms)
    all_writes = writes.pageviews + writes.dead_letters + writes.late_events
    assert len(all_writes) == len(rows)
    assert all(params[-1] == batch_id for params in all_writes), "the write timestamp is the batch id"
    assert all(params[-2] == batch_id for params in all_writes), "the batch_id column is the batch id"

    def of(kind: str) -> list[Row]:
        return [row for row in rows if row.kind == kind]

    assert writes.pageviews == [
        (r.site_id, r.window_start, r.window_end, r.views, batch_id, batch_id) for r in of(KIND_COUNT)
    ]
    assert writes.dead_letters == [
        (r.topic, r.partition, r.offset, r.reason, r.raw, r.raw_size, batch_id, batch_id)
        for r in of(KIND_DEAD)
    ]
    assert writes.late_events == [
        (
            r.topic,
            r.partition,
            r.offset,
            r.event_id,
            r.site_id,
            r.window_start,
            watermark_ms,
            batch_id,
            batch_id,
        )
        for r in of(KIND_EVENT)
    ]
    assert bool(writes) == bool(rows)
    assert plan_writes(list(rows), batch_id, watermark_ms) == writes, "planning is deterministic"


def test_plan_example() -> None:
    rows = [
        sink_row(kind=KIND_COUNT, site_id="s", window_start=0, window_end=60_000, views=4),
        sink_row(
            kind=KIND_DEAD, topic="t", partition=1, offset=7, reason="invalid_json", raw=b"x", raw_size=1
        ),
        sink_row(
            kind=KIND_EVENT,
            site_id="s",
            window_start=0,
            window_end=60_000,
            topic="t",
            partition=0,
            offset=9,
            event_id="e9",
        ),
    ]
    writes = plan_writes(rows, 12, 120_000)
    assert writes == BatchWrites(
        pageviews=[("s", 0, 60_000, 4, 12, 12)],
        dead_letters=[("t", 1, 7, "invalid_json", b"x", 1, 12, 12)],
        late_events=[("t", 0, 9, "e9", "s", 0, 120_000, 12, 12)],
    )
    assert writes == plan_writes(rows, 12, 120_000)
    assert plan_writes(rows, 13, 120_000) != writes


def test_empty_batch_plans_nothing() -> None:
    writes = plan_writes([], 5, 0)
    assert not writes
    assert (writes.pageviews, writes.dead_letters, writes.late_events) == ([], [], [])
    assert str(writes) == "0 counts, 0 dead letters, 0 late"


# --- CassandraSink.write, with a session that records instead of connecting ---------------------


def primary_key(ddl: str) -> tuple[str, ...]:
    match = re.search(r"PRIMARY KEY \(\((.*?)\)(?:, *(.*?))?\)", ddl)
    assert match, ddl
    return tuple(c.strip() for part in match.groups() if part for c in part.split(","))


def test_model_layout_mirrors_the_sinks_statements_and_the_schema() -> None:
    session = RecordingSession()
    CassandraSink(session, "ks", lambda batch_id: 0, Failpoints())  # type: ignore[arg-type]
    inserts = [parse_insert(prepared.cql) for prepared in session.prepared]
    layouts = {table: (columns, placeholders) for table, columns, placeholders in inserts}
    assert set(layouts) == set(LAYOUT) == set(TABLES)
    for table, (columns, key) in LAYOUT.items():
        assert layouts[table] == (columns, len(columns) + 1), table
        assert primary_key(TABLES[table]) == key, table
    # Idempotent statements are the only ones the driver may retry on its own; the sink's retry loop
    # assumes the same.
    assert all(p.is_idempotent for p in session.prepared)


def test_sink_writes_each_kind_to_its_table_fenced_by_batch_id(
    kafka_frames: KafkaFrames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A static batch through sink_input, CassandraSink.write and a recording session."""

    def event(event_id: str, site: str, ts: int) -> bytes:
        return json.dumps({"event_id": event_id, "site_id": site, "ts": ts}).encode()

    records = [
        (0, 0, event("e0", "s", 61_000)),
        (0, 1, event("e1", "s", 62_000)),
        (0, 2, b"junk"),
        (1, 0, event("e2", "s", 1_000)),
    ]
    batch = sink_input(parse_events(kafka_frames(records), 1024, 16), "1 minute", "1 minute")
    executed: list[tuple[str, Sequence[Any]]] = []

    def execute(session: Any, statement: Prepared, params: Sequence[tuple[Any, ...]], **_: Any) -> None:
        table, _, placeholders = parse_insert(statement.cql)
        assert all(len(p) == placeholders for p in params), (table, params)
        executed.extend((table, p) for p in params)

    monkeypatch.setattr(sink_module, "execute_concurrent_with_args", execute)
    sink = CassandraSink(RecordingSession(), "ks", lambda batch_id: 60_000, Failpoints())  # type: ignore[arg-type]
    sink.write(batch, 42)

    by_table: dict[str, list[Sequence[Any]]] = {}
    for table, params in executed:
        by_table.setdefault(table, []).append(params)
    # The static aggregation counts every event; only e2's window [0, 60 s) ended at the 60 s watermark.
    assert sorted(by_table["pageviews"]) == [("s", 0, 60_000, 1, 42, 42), ("s", 60_000, 120_000, 2, 42, 42)]
    assert by_table["dead_letters"] == [("pageviews", 0, 2, "invalid_json", b"junk", 4, 42, 42)]
    assert by_table["late_events"] == [("pageviews", 1, 0, "e2", "s", 0, 60_000, 42, 42)]


def test_lww_model_resolves_like_cassandra() -> None:
    """The scaffold's own negative controls: what wins a cell, and what does not."""
    store = LwwStore()
    store.insert("pageviews", ("s", 0, 60_000, 5, 2, 2))
    store.insert("pageviews", ("s", 0, 60_000, 9, 1, 1))  # older timestamp: loses, even with more views
    assert store.rows("pageviews") == {("s", 0): {"window_end": 60_000, "views": 5, "batch_id": 2}}
    store.insert("pageviews", ("s", 0, 60_000, 4, 2, 2))  # same timestamp: the greater value stays
    assert store.rows("pageviews")[("s", 0)]["views"] == 5
    store.insert("pageviews", ("s", 0, 60_000, 6, 2, 2))
    assert store.rows("pageviews")[("s", 0)]["views"] == 6
    store.insert("pageviews", ("s", 0, 60_000, None, 2, 2))  # same timestamp: a tombstone wins
    assert store.rows("pageviews")[("s", 0)]["views"] is None
    store.insert("pageviews", ("s", 0, 60_000, 1, 3, 3))  # newer timestamp: wins, even with fewer views
    assert store.rows("pageviews")[("s", 0)] == {"window_end": 60_000, "views": 1, "batch_id": 3}
