"""plan_writes and CassandraSink.write: every write fenced by its generation's timestamp for the batch,
each kind into its own table; the fence grows across generations."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lww_model import LAYOUT, LwwStore, Prepared, RecordingSession, parse_insert
from pyspark.sql import Row

from pipeline import sink as sink_module
from pipeline.counting import KIND_COUNT, KIND_DEAD, KIND_LATE, sink_input
from pipeline.failpoints import Failpoints
from pipeline.generations import BATCH_ROOM, Generation, next_base
from pipeline.parse import parse_events
from pipeline.schema import DEAD_LETTERS, LATE_EVENTS, PAGEVIEWS, TABLES
from pipeline.sink import BatchWrites, CassandraSink, Fenced, plan_writes
from pipeline.window_counts import Counts, Window, WindowCounts

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
)  # what batch_rows selects


def sink_row(**values: Any) -> Row:
    return Row(**{column: values.get(column) for column in COLUMNS})


def absolute(rows: Sequence[Row]) -> dict[Window, int]:
    """Counts after the batch, as if each count row's views were the window's count before it."""
    return {(r.site_id, r.window_start, r.window_end): r.views for r in rows if r.kind == KIND_COUNT}


class CountsInMemory(WindowCounts):
    """The window counts of one checkpoint, without the checkpoint."""

    def __init__(self) -> None:
        self.saved: dict[int, dict[Window, int]] = {}

    def before(self, batch_id: int) -> dict[Window, int]:
        return dict(self.saved.get(batch_id - 1, {}))

    def save(self, batch_id: int, counts: Counts) -> None:
        self.saved[batch_id] = dict(counts)


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
        kind=KIND_LATE,
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
batch_ids = st.integers(0, 2**40)
# Microseconds since the epoch: from 1970 to beyond 2200.
clocks = st.integers(0, 2**53)
generations = st.builds(
    lambda number, base: Generation("job", number, base, f"/checkpoints/{number}"),
    st.integers(1, 1000),
    clocks,
)
GENERATION = Generation("job", 3, base_us=1_000_000, checkpoint="/checkpoints/3")


@given(
    rows=st.lists(count_rows | dead_rows | late_rows, max_size=20),
    batch_id=batch_ids,
    watermark_ms=ms,
    generation=generations,
)
def test_plan_fences_every_write_and_routes_each_kind(
    rows: list[Row], batch_id: int, watermark_ms: int, generation: Generation
) -> None:
    counts = absolute(rows)
    writes = plan_writes(rows, counts, batch_id, watermark_ms, generation)
    all_writes = writes.pageviews + writes.dead_letters + writes.late_events
    assert len(all_writes) == len(rows)
    fence = generation.base_us + batch_id
    assert all(params[-1] == fence for params in all_writes), "the write timestamp is base + batch id"
    assert all(params[-2] == batch_id for params in all_writes), "the batch_id column is the batch id"
    assert all(params[-3] == generation.number for params in all_writes)
    assert all(params[0] == "job" for params in all_writes), "every row is keyed by its job"

    # A row's parameters are its values in the column order of its table's INSERT (LAYOUT, which
    # test_model_layout_mirrors_the_sinks_statements_and_the_schema checks), then the fence.
    fixed = {"job": "job", "watermark": watermark_ms, "generation": generation.number, "batch_id": batch_id}

    def planned(table: str, kind: str) -> list[tuple[Any, ...]]:
        columns, _ = LAYOUT[table]
        values = [
            {**row.asDict(), **fixed, "views": counts.get((row.site_id, row.window_start, row.window_end))}
            for row in rows
            if row.kind == kind
        ]
        return [(*(value[column] for column in columns), fence) for value in values]

    assert writes.pageviews == planned(PAGEVIEWS, KIND_COUNT)
    assert writes.dead_letters == planned(DEAD_LETTERS, KIND_DEAD)
    assert writes.late_events == planned(LATE_EVENTS, KIND_LATE)
    assert bool(writes) == bool(rows)
    assert plan_writes(list(rows), counts, batch_id, watermark_ms, generation) == writes, (
        "a replay writes the same"
    )


@given(
    first_clock=clocks,
    moves=st.lists(
        # (batches the generation planned before it was taken over, the clock's move in between:
        # forwards, not at all, or stepped back by up to a day)
        st.tuples(st.integers(0, 10**7), st.integers(-86_400 * 10**6, 10**12)),
        min_size=1,
        max_size=12,
    ),
)
def test_fence_timestamps_strictly_grow_across_generations_and_batches(
    first_clock: int, moves: list[tuple[int, int]]
) -> None:
    """Every write of a generation, its carried windows included, beats every write of the ones
    before it, up to the batch in flight when it was taken over, however the clock moved."""
    clock = first_clock
    previous = Generation("job", 1, next_base(None, 0, clock), "/checkpoints/1")
    for planned, move in moves:
        clock = max(0, clock + move)
        current = Generation("job", previous.number + 1, next_base(previous, planned, clock), "c")
        in_flight = previous.fence(planned + 1)
        assert previous.fence(planned) < in_flight, "a later batch beats an earlier one"
        assert current.carried_fence > in_flight, "the carried counts beat the old generation"
        assert current.fence(0) > current.carried_fence, "the first batch beats the carried counts"
        assert current.base_us >= clock, "the base is the wall clock unless that would go back"
        previous = current


def test_a_generation_leaves_room_for_the_batches_planned_while_it_is_taken_over() -> None:
    old = Generation("job", 1, base_us=5_000, checkpoint="a")
    assert next_base(old, 10, now_us=0) == 5_000 + 10 + BATCH_ROOM
    assert next_base(old, 10, now_us=10**15) == 10**15


@given(carried=st.integers(0, 10**6), views=st.integers(1, 10**6))
def test_a_taken_over_window_counts_what_was_carried_plus_its_own(carried: int, views: int) -> None:
    row = sink_row(kind=KIND_COUNT, site_id="s", window_start=0, window_end=60_000, views=views)
    other = sink_row(kind=KIND_COUNT, site_id="s", window_start=60_000, window_end=120_000, views=views)
    writes = plan_writes([row, other], absolute([row, other]), 4, 0, GENERATION, {("s", 0, 60_000): carried})
    assert [params[4] for params in writes.pageviews] == [carried + views, views]


def test_plan_example() -> None:
    rows = [
        sink_row(kind=KIND_COUNT, site_id="s", window_start=0, window_end=60_000, views=4),
        sink_row(
            kind=KIND_DEAD, topic="t", partition=1, offset=7, reason="invalid_json", raw=b"x", raw_size=1
        ),
        sink_row(
            kind=KIND_LATE,
            site_id="s",
            window_start=0,
            window_end=60_000,
            topic="t",
            partition=0,
            offset=9,
            event_id="e9",
        ),
    ]
    counts = {("s", 0, 60_000): 9}  # 5 before the batch, and its 4
    writes = plan_writes(rows, counts, 12, 120_000, GENERATION)
    assert writes == BatchWrites(
        pageviews=[("job", "s", 0, 60_000, 9, 3, 12, 1_000_012)],
        dead_letters=[("job", "t", 1, 7, "invalid_json", b"x", 1, 3, 12, 1_000_012)],
        late_events=[("job", "t", 0, 9, "e9", "s", 0, 120_000, 3, 12, 1_000_012)],
    )
    assert writes == plan_writes(rows, counts, 12, 120_000, GENERATION)
    assert plan_writes(rows, counts, 13, 120_000, GENERATION) != writes


def test_empty_batch_plans_nothing() -> None:
    writes = plan_writes([], {}, 5, 0, GENERATION)
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
    sink(session)
    inserts = [parse_insert(prepared.cql) for prepared in session.prepared]
    layouts = {table: (columns, placeholders) for table, columns, placeholders in inserts}
    assert set(layouts) == set(LAYOUT) <= set(TABLES)
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
    sink(RecordingSession(), watermark_ms=60_000).write(batch, 42)

    by_table: dict[str, list[Sequence[Any]]] = {}
    for table, params in executed:
        by_table.setdefault(table, []).append(params)
    # e2's window [0, 60 s) ended at the 60 s watermark: late, and not counted.
    fence = GENERATION.fence(42)
    assert by_table["pageviews"] == [("job", "s", 60_000, 120_000, 2, 3, 42, fence)]
    assert by_table["dead_letters"] == [("job", "pageviews", 0, 2, "invalid_json", b"junk", 4, 3, 42, fence)]
    assert by_table["late_events"] == [("job", "pageviews", 1, 0, "e2", "s", 0, 60_000, 3, 42, fence)]


class SlowCounts(CountsInMemory):
    """Saves after Cassandra's writes are done, or fails to save at all."""

    def __init__(self, writes_done: threading.Event, fails: bool = False) -> None:
        super().__init__()
        self.writes_done = writes_done
        self.fails = fails

    def save(self, batch_id: int, counts: Counts) -> None:
        assert self.writes_done.wait(30), "the sink waited for the counts file before writing Cassandra"
        # Slower than the writes, so that a write() that does not wait for the file returns first.
        time.sleep(0.3)
        if self.fails:
            raise OSError("checkpoint volume full")
        super().save(batch_id, counts)


@pytest.mark.parametrize("fails", [False, True])
def test_a_batch_returns_only_after_its_counts_file_is_saved(
    kafka_frames: KafkaFrames, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """The file is saved while Cassandra is written, and Spark commits the batch when write()
    returns: it must not return before the file is there, and a file that could not be saved fails
    the batch (it replays), whatever Cassandra took."""
    batch = sink_input(
        parse_events(kafka_frames([(0, 0, b'{"event_id": "e", "site_id": "s", "ts": 61000}')]), 1024, 16),
        "1 minute",
        "1 minute",
    )
    writes_done = threading.Event()
    monkeypatch.setattr(sink_module, "execute_concurrent_with_args", lambda *_, **__: writes_done.set())
    counts = SlowCounts(writes_done, fails)
    tally = sink(RecordingSession(), counts=counts)

    if fails:
        with pytest.raises(OSError, match="volume full"):
            tally.write(batch, 3)
        assert 3 not in counts.saved
    else:
        tally.write(batch, 3)
        assert counts.saved[3] == {("s", 60_000, 120_000): 1}


def test_a_taken_over_generation_reports_late_by_the_watermark_it_carried() -> None:
    carried = Generation("job", 2, base_us=10, checkpoint="c", carried_watermark_ms=90_000)
    assert sink(RecordingSession(), carried, watermark_ms=60_000).late_watermark_ms(7) == 90_000
    assert sink(RecordingSession(), carried, watermark_ms=120_000).late_watermark_ms(7) == 120_000


def test_a_generation_taken_over_writes_nothing(kafka_frames: KafkaFrames) -> None:
    batch = sink_input(
        parse_events(kafka_frames([(0, 0, b'{"event_id": "e", "site_id": "s", "ts": 1}')]), 1024, 16),
        "1 minute",
        "1 minute",
    )
    with pytest.raises(Fenced, match="no longer owns"):
        sink(RecordingSession(), owns=False).write(batch, 5)


def sink(
    session: RecordingSession,
    generation: Generation = GENERATION,
    watermark_ms: int = 0,
    owns: bool = True,
    counts: WindowCounts | None = None,
) -> CassandraSink:
    return CassandraSink(
        session,  # type: ignore[arg-type]
        "ks",
        generation,
        lambda: owns,
        lambda batch_id: watermark_ms,
        counts or CountsInMemory(),
        Failpoints(),
    )


def test_lww_model_resolves_like_cassandra() -> None:
    """The scaffold's own negative controls: what wins a cell, and what does not."""
    store = LwwStore()
    key = ("j", "s", 0)

    def put(views: int | None, timestamp: int) -> None:
        store.insert("pageviews", ("j", "s", 0, 60_000, views, 1, timestamp, timestamp))

    put(5, 2)
    put(9, 1)  # older timestamp: loses, even with more views
    assert store.rows("pageviews") == {
        key: {"window_end": 60_000, "views": 5, "generation": 1, "batch_id": 2}
    }
    put(4, 2)  # same timestamp: the greater value stays
    assert store.rows("pageviews")[key]["views"] == 5
    put(6, 2)
    assert store.rows("pageviews")[key]["views"] == 6
    put(None, 2)  # same timestamp: a tombstone wins
    assert store.rows("pageviews")[key]["views"] is None
    put(1, 3)  # newer timestamp: wins, even with fewer views
    assert store.rows("pageviews")[key] == {"window_end": 60_000, "views": 1, "generation": 1, "batch_id": 3}
