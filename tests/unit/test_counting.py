"""The real streaming path, parse -> count -> sink, against a model of Cassandra's last-write-wins cells.

Each scenario stages its micro-batches as parquet files shaped like Kafka source rows, then feeds them
one file per trigger to a local streaming query. Its foreachBatch is a real CassandraSink, wired as
job.run wires it (watermark from the checkpoint via late_event_watermark_ms; batch_rows; the window counts
under the checkpoint; plan_writes), whose
session only records and whose INSERTs go to `LwwStore`. Oracles are plain Python: a Counter of the
valid events, and the watermark rule of the sink (Spark's, with deduplication).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from hypothesis import currently_in_test_context, event, given, note, settings
from hypothesis import strategies as st
from lww_model import LwwStore, Prepared, RecordingSession
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline import sink as sink_module
from pipeline.checkpoint import late_event_watermark_ms
from pipeline.counting import ONE_TASK_RECORDS, batch_rows, sink_input
from pipeline.failpoints import Failpoints
from pipeline.generations import Carried, Generation
from pipeline.parse import parse_events
from pipeline.sink import BatchWrites, CassandraSink
from pipeline.window_counts import WindowCounts

if TYPE_CHECKING:
    from conftest import KafkaFrames

BASE_MS = 1_700_000_000_000  # a multiple of the window, so windows start at BASE_MS + k * WINDOW_MS
WINDOW, WINDOW_MS = "10 seconds", 10_000
GENEROUS = "1 hour"  # nothing in these scenarios is ever late
SMALL, SMALL_MS = "5 seconds", 5_000
MAX_EVENT_BYTES, COPY_BYTES = 1024, 64
GENERATION = Generation("tally", 1, base_us=1_700_000_000_000_000, checkpoint="checkpoint")
STRIDE = 1_000  # offsets of file k are k * STRIDE + i
SITES = ("a", "b", "c")
NO_DATA_BATCHES = "spark.sql.streaming.noDataMicroBatches.enabled"

# A streaming example costs a few seconds (the query, then ~1 s per trigger), about ten parse
# examples: run a third of the profile's examples, several micro-batches each.
STREAMING = settings(max_examples=max(2, settings.default.max_examples // 3))


@dataclass(frozen=True)
class Pageview:
    site: str
    at_ms: int  # event time, after BASE_MS


@dataclass(frozen=True)
class Keyed(Pageview):
    """A pageview whose event_id is its content: sent twice, the second is a re-sent copy."""

    @property
    def event_id(self) -> str:
        return f"k-{self.site}-{self.at_ms}"


Record = Pageview | bytes  # bytes: a value that is not an event


@dataclass(frozen=True)
class Attempt:
    """One run of the sink for one batch: the watermark it read last and what it wrote."""

    batch_id: int
    watermark_ms: int | None
    writes: BatchWrites


@dataclass
class Run:
    files: list[list[Record]]
    idle_batches: bool  # whether Spark ran a no-data batch after each move of the watermark
    attempts: list[Attempt] = field(default_factory=list)
    store: LwwStore = field(default_factory=LwwStore)
    input_rows: int = 0  # numInputRows over every batch's progress


def offset_of(file: int, index: int) -> int:
    return file * STRIDE + index


def value_of(record: Record, offset: int) -> bytes:
    if isinstance(record, bytes):
        return record
    event_id = record.event_id if isinstance(record, Keyed) else f"e{offset}"
    return json.dumps({"event_id": event_id, "site_id": record.site, "ts": BASE_MS + record.at_ms}).encode()


def window_start(at_ms: int) -> int:
    return (BASE_MS + at_ms) // WINDOW_MS * WINDOW_MS


def stage(frames: KafkaFrames, files: Sequence[Sequence[Record]], staging: Path) -> list[Path]:
    """Writes every micro-batch in one Spark job; returns one parquet file per micro-batch."""
    records = [
        (0, offset_of(k, i), value_of(record, offset_of(k, i)))
        for k, file in enumerate(files)
        for i, record in enumerate(file)
    ]
    (
        frames(records)
        .withColumn("file", F.floor(F.col("offset") / STRIDE))
        .repartition(1)
        .write.partitionBy("file")
        .parquet(str(staging))
    )
    parts = [sorted((staging / f"file={k}").glob("*.parquet")) for k in range(len(files))]
    assert all(len(part) == 1 for part in parts), parts
    return [part[0] for part in parts]


@dataclass(frozen=True)
class Streaming:
    """What every scenario streams with: the session's Spark and Kafka-shaped frames, and where each
    run gets a directory of its own."""

    spark: SparkSession
    frames: KafkaFrames
    dirs: pytest.TempPathFactory


@pytest.fixture(scope="session")
def streaming(
    spark: SparkSession, kafka_frames: KafkaFrames, tmp_path_factory: pytest.TempPathFactory
) -> Streaming:
    """Session-scoped, so that Hypothesis's examples may share it."""
    return Streaming(spark, kafka_frames, tmp_path_factory)


def run_stream(
    streaming: Streaming,
    files: list[list[Record]],
    lateness: str,
    idle_batches: bool = True,
    crash_after: Callable[[Attempt], bool] = lambda attempt: False,
    dedup: bool = False,
    generation: Generation = GENERATION,
    carried: Carried | None = None,
) -> Run:
    """Streams `files` one per trigger; `crash_after` fails the first attempt it matches after its writes.

    With `idle_batches` (Spark's default), a stateful query (deduplication) follows a batch that moves
    the watermark by a no-data batch, which records the same watermark as the next data batch. Without,
    as under a steady backlog, and always without deduplication (a query without state has nothing
    to evict, so Spark runs no such batch), each data batch directly follows the one that moved the
    watermark: only then do a batch's own watermark and the previous batch's differ.
    """
    spark, frames, workdir = streaming.spark, streaming.frames, streaming.dirs.mktemp("stream")
    run = Run(files, idle_batches and dedup)
    source, checkpoint = workdir / "source", workdir / "checkpoint"
    source.mkdir()
    staged = stage(frames, files, workdir / "staging")
    crashed: list[Attempt] = []
    read: list[int] = []  # the watermarks the sink read in the current batch
    written: dict[str, list[tuple[Any, ...]]] = {}  # table -> parameters, in the current batch

    def watermark_of(batch_id: int) -> int:  # as job.run wires it
        read.append(late_event_watermark_ms(spark, str(checkpoint), batch_id))
        return read[-1]

    def execute(session: Any, statement: Prepared, params: Sequence[tuple[Any, ...]], **_: Any) -> None:
        written.setdefault(run.store.execute(statement.cql, params), []).extend(params)

    sink = CassandraSink(
        RecordingSession(),  # type: ignore[arg-type]
        "tally",
        generation,
        lambda: True,
        watermark_of,
        WindowCounts(spark, str(checkpoint)),
        Failpoints(),
        carried=carried,
        dedup=dedup,
    )

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        read.clear()
        written.clear()
        sink(batch, batch_id)
        writes = BatchWrites(
            *(written.get(table, []) for table in ("pageviews", "dead_letters", "late_events"))
        )
        attempt = Attempt(batch_id, read[-1] if read else None, writes)
        run.attempts.append(attempt)
        if not crashed and crash_after(attempt):
            crashed.append(attempt)
            raise RuntimeError(f"crash after the writes of batch {batch_id}, before Spark commits it")

    def start() -> Any:
        records = spark.readStream.schema(frames.schema).option("maxFilesPerTrigger", 1).parquet(str(source))
        # The query copies the session's configuration when it starts.
        spark.conf.set(NO_DATA_BATCHES, str(idle_batches).lower())
        try:
            return (
                sink_input(parse_events(records, MAX_EVENT_BYTES, COPY_BYTES), WINDOW, lateness, dedup)
                .writeStream.outputMode("append")
                .option("checkpointLocation", str(checkpoint))
                .foreachBatch(write_batch)
                .start()
            )
        finally:
            spark.conf.unset(NO_DATA_BATCHES)

    patch = mock.patch.object(sink_module, "execute_concurrent_with_args", execute)
    patch.start()
    query = start()
    try:
        for k, part in enumerate(staged):
            part.rename(source / f"{k:05d}.parquet")
            try:
                query.processAllAvailable()
            except StreamingQueryException:
                if not crashed or crashed[0].batch_id != run.attempts[-1].batch_id:
                    raise
                query.stop()
                query = start()  # a new driver: Spark replays the uncommitted batch from the checkpoint
                query.processAllAvailable()
        return run
    finally:
        run.input_rows += sum(progress["numInputRows"] for progress in query.recentProgress)
        query.stop()
        patch.stop()
        if currently_in_test_context():
            note(f"attempts: {[(a.batch_id, a.watermark_ms, str(a.writes)) for a in run.attempts]}")


# --- oracles ------------------------------------------------------------------------------------


def pageviews(run: Run) -> list[tuple[int, str, int]]:
    """(offset, site, event time) of every valid event, in input order."""
    return [
        (offset_of(k, i), record.site, record.at_ms)
        for k, file in enumerate(run.files)
        for i, record in enumerate(file)
        if isinstance(record, Pageview)
    ]


def expected_watermarks(files: Sequence[Sequence[Record]], lateness_ms: int) -> list[int]:
    """The watermark each file's batch runs with: max event time of earlier batches - lateness, or 0."""
    watermarks, watermark = [], 0
    for file in files:
        watermarks.append(watermark)
        times = [BASE_MS + record.at_ms for record in file if isinstance(record, Pageview)]
        if times:
            watermark = max(watermark, max(times) - lateness_ms)
    return watermarks


def dropping_watermarks(run: Run, lateness_ms: int) -> list[int]:
    """Per file, the watermark by which Spark's aggregation drops its events (window end <= it).

    Spark drops input by the previous batch's watermark (`eventTimeWatermarkForLateEvents`, SPARK-40925)
    and evicts state by the batch's own. With idle batches, the batch before a data batch is either the
    no-data batch Spark runs when the watermark moves, or one that left it unmoved: both agree. Under a
    backlog the previous batch is the previous file's, whose watermark lags by one file.
    """
    own = expected_watermarks(run.files, lateness_ms)
    return own if run.idle_batches else [0, *own[:-1]]


def stored(run: Run, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The job's rows of `table`, keyed without the job."""
    return {key[1:]: row for key, row in run.store.rows(table).items() if key[0] == GENERATION.job}


def counted(run: Run) -> dict[tuple[str, int], int]:
    """(site, window start) -> views, as the pageviews table reads; checks each row's window end."""
    rows = stored(run, "pageviews")
    for (_, start), row in rows.items():
        assert row["window_end"] == start + WINDOW_MS
    return {key: row["views"] for key, row in rows.items()}


def windows(run: Run) -> dict[tuple[str, int], int]:
    """`counted`, with window starts after BASE_MS, as the examples write event times."""
    return {(site, start - BASE_MS): views for (site, start), views in counted(run).items()}


def assert_dead_letters(run: Run) -> None:
    expected = {
        ("pageviews", 0, offset_of(k, i)): (value[:COPY_BYTES], len(value))
        for k, file in enumerate(run.files)
        for i, value in enumerate(file)
        if isinstance(value, bytes)
    }
    rows = stored(run, "dead_letters")
    assert {key: (row["raw"], row["raw_size"]) for key, row in rows.items()} == expected
    assert all(row["reason"] is not None for row in rows.values())


def assert_replays_change_nothing(run: Run) -> None:
    """Any batch's writes applied again, after everything newer, leave every cell as it is."""
    final = run.store.snapshot()
    for attempt in run.attempts:
        run.store.apply(attempt.writes)
        assert run.store == final, (
            f"re-applying batch {attempt.batch_id} ({attempt.writes}) changed the tables"
        )


# --- strategies ---------------------------------------------------------------------------------

junk = st.sampled_from(
    [b"", b"not json", b"\xff\xfe", b'{"site_id": "a", "ts": 1}', b"x" * (MAX_EVENT_BYTES + 1)]
)
times = st.one_of(st.integers(0, 120).map(lambda s: s * 1000), st.integers(0, 120_000))
records = st.one_of(st.builds(Pageview, st.sampled_from(SITES), times), junk)
micro_batches = st.lists(st.lists(records, min_size=1, max_size=8), min_size=1, max_size=4)


@st.composite
def drifting_batches(draw: st.DrawFn) -> list[list[Record]]:
    """Micro-batches whose event times jump forward and back by more than the allowed lateness."""
    files = []
    for _ in range(draw(st.integers(2, 4))):
        start = draw(st.integers(0, 9)) * 10  # seconds: each batch spans 15 s from a window boundary
        near = st.one_of(
            st.integers(start, start + 15).map(lambda s: s * 1000),
            st.integers(start * 1000, start * 1000 + 15_000),
        )
        pageview = st.builds(Pageview, st.sampled_from(SITES), near)
        files.append(draw(st.lists(st.one_of(pageview, pageview, junk), min_size=1, max_size=8)))
    return files


# --- (a) counts equal a Counter of the valid events ---------------------------------------------


def check_counts_are_exact(run: Run) -> None:
    expected = Counter((site, window_start(at)) for _, site, at in pageviews(run))
    assert counted(run) == expected
    assert stored(run, "late_events") == {}
    assert_dead_letters(run)
    assert_replays_change_nothing(run)


def test_counts_example(streaming: Streaming) -> None:
    files: list[list[Record]] = [
        [Pageview("a", 0), Pageview("a", 9_999), Pageview("b", 10_000), b"not json"],
        [Pageview("a", 1_000), Pageview("b", 25_000), b""],
        [Pageview("a", 10_000), Pageview("a", 2_000)],
    ]
    run = run_stream(streaming, files, GENEROUS)
    assert windows(run) == {("a", 0): 4, ("b", 10_000): 1, ("a", 10_000): 1, ("b", 20_000): 1}
    check_counts_are_exact(run)


@STREAMING
@given(files=micro_batches, idle_batches=st.booleans())
def test_counts_equal_a_counter_of_valid_events(
    streaming: Streaming,
    files: list[list[Record]],
    idle_batches: bool,
) -> None:
    run = run_stream(streaming, files, GENEROUS, idle_batches)
    check_counts_are_exact(run)


# --- (b) late events: counted + late == valid; late means window end <= the dropping watermark ---


def check_late_events_are_exactly_the_dropped_ones(run: Run, lateness_ms: int) -> None:
    watermarks = dropping_watermarks(run, lateness_ms)
    late = stored(run, "late_events")
    expected_late = {}
    for offset, site, at in pageviews(run):
        watermark = watermarks[offset // STRIDE]
        if window_start(at) + WINDOW_MS <= watermark:
            expected_late[("pageviews", 0, offset)] = (f"e{offset}", site, window_start(at), watermark)
    for key, row in late.items():
        assert row["window_start"] + WINDOW_MS <= row["watermark"], f"{key} reported late but {row}"
    assert {
        key: (row["event_id"], row["site_id"], row["window_start"], row["watermark"])
        for key, row in late.items()
    } == expected_late

    valid = Counter((site, window_start(at)) for _, site, at in pageviews(run))
    reported = Counter((row["site_id"], row["window_start"]) for row in late.values())
    assert Counter(counted(run)) + reported == valid, "every valid event is counted or reported late, once"
    assert_dead_letters(run)
    assert_replays_change_nothing(run)


def late_rows(run: Run) -> dict[int, tuple[str, int]]:
    """offset -> (site, watermark after BASE_MS) of each late_events row."""
    return {
        key[2]: (row["site_id"], row["watermark"] - BASE_MS)
        for key, row in stored(run, "late_events").items()
    }


@pytest.mark.parametrize("idle_batches", [False, True], ids=["backlog", "idle_batches"])
def test_late_events_example(streaming: Streaming, idle_batches: bool) -> None:
    files: list[list[Record]] = [
        [Pageview("a", 20_000), Pageview("a", 25_000)],  # watermark becomes 20 s
        [Pageview("c", 21_000)],  # leaves it at 20 s
        # windows [0, 10) and [10, 20) end at or before 20 s: late; [20, 30) counts
        [Pageview("a", 9_999), Pageview("b", 10_000), Pageview("a", 19_999), Pageview("a", 20_000), b"\xff"],
        [Pageview("c", 44_000)],  # watermark becomes 39 s
        [Pageview("c", 43_000)],  # leaves it at 39 s
        [Pageview("a", 29_000), Pageview("a", 30_000)],  # [20, 30) ended at 30 <= 39: late; [30, 40) counts
    ]
    run = run_stream(streaming, files, SMALL, idle_batches)
    assert windows(run) == {("a", 20_000): 3, ("c", 20_000): 1, ("c", 40_000): 2, ("a", 30_000): 1}
    assert late_rows(run) == {
        2000: ("a", 20_000),
        2001: ("b", 20_000),
        2002: ("a", 20_000),
        5000: ("a", 39_000),
    }
    check_late_events_are_exactly_the_dropped_ones(run, SMALL_MS)


def test_late_events_right_after_the_watermark_moves(streaming: Streaming) -> None:
    """Under a backlog (no idle batch between) input is judged by the previous batch's watermark."""
    files: list[list[Record]] = [
        [Pageview("a", 20_000)],  # watermark becomes 15 s
        [Pageview("a", 35_000)],  # judged by 0; watermark becomes 30 s
        # judged by 15 s: [0, 10) is late, [20, 30) still counts; Spark then evicts it by 30 s
        [Pageview("b", 1_000), Pageview("b", 22_000)],
    ]
    run = run_stream(streaming, files, SMALL, idle_batches=False)
    assert windows(run) == {("a", 20_000): 1, ("a", 30_000): 1, ("b", 20_000): 1}
    assert late_rows(run) == {2000: ("b", 15_000)}
    check_late_events_are_exactly_the_dropped_ones(run, SMALL_MS)


@pytest.mark.parametrize("dedup", [False, True], ids=["counts", "dedup"])
def test_a_taken_over_generation_counts_on_top_of_what_it_carried_and_reports_the_rest_late(
    streaming: Streaming, dedup: bool
) -> None:
    """Windows ending at or before the carried watermark were final in the generation before: their
    events are late by it, though Spark's own watermark starts again from nothing. Open windows
    count what was carried plus their own."""
    carried_watermark = BASE_MS + 20_000
    taken_over = Generation("tally", 2, GENERATION.base_us + 10**9, "c2", "{}", carried_watermark)
    open_window = ("a", BASE_MS + 20_000, BASE_MS + 30_000)
    files: list[list[Record]] = [
        # [0, 10) and [10, 20) ended at or before 20 s: late; [20, 30) is open and carried 5
        [Pageview("a", 1_000), Pageview("b", 15_000), Pageview("a", 21_000), Pageview("a", 25_000)],
        [Pageview("a", 19_999), Pageview("b", 20_001)],
    ]
    run = run_stream(
        streaming,
        files,
        GENEROUS,
        dedup=dedup,
        generation=taken_over,
        carried={open_window: 5},
    )
    assert windows(run) == {("a", 20_000): 5 + 2, ("b", 20_000): 1}
    assert late_rows(run) == {0: ("a", 20_000), 1: ("b", 20_000), 1000: ("a", 20_000)}
    assert all(params[-3] == 2 for attempt in run.attempts for params in attempt.writes.pageviews)


# Both with a no-data batch after each watermark move and under a backlog (none): the late rule
# differs between the two only when a batch directly follows the one that moved the watermark.
LATE_IDLE_BATCHES = st.booleans()


@STREAMING
@given(files=drifting_batches(), idle_batches=LATE_IDLE_BATCHES)
def test_late_events_complement_the_counts(
    streaming: Streaming,
    files: list[list[Record]],
    idle_batches: bool,
) -> None:
    run = run_stream(streaming, files, SMALL, idle_batches)
    event(f"late events: {len(stored(run, 'late_events'))}")
    check_late_events_are_exactly_the_dropped_ones(run, SMALL_MS)


# --- (b') deduplication: copies count once; any copy at or before the watermark is reported late ---


def check_each_event_counts_once_or_is_late(run: Run, lateness_ms: int) -> None:
    """Spark's deduplication drops, by the same watermark as the aggregation, every event whose time
    is at or before it (reported late), then every copy of an event already kept (dropped silently).
    An event's state is evicted only once the watermark passes its time: a later copy is late anyway."""
    watermarks = dropping_watermarks(run, lateness_ms)
    kept: set[tuple[str, int]] = set()
    expected_counts: Counter[tuple[str, int]] = Counter()
    expected_late = {}
    for offset, site, at in pageviews(run):
        watermark = watermarks[offset // STRIDE]
        if BASE_MS + at <= watermark:
            expected_late[("pageviews", 0, offset)] = (site, window_start(at), watermark)
        elif (site, at) not in kept:
            kept.add((site, at))
            expected_counts[(site, window_start(at))] += 1
    assert counted(run) == expected_counts
    late = stored(run, "late_events")
    assert {key: (row["site_id"], row["window_start"], row["watermark"]) for key, row in late.items()} == (
        expected_late
    )
    assert_dead_letters(run)
    assert_replays_change_nothing(run)


def as_copies(files: list[list[Record]]) -> list[list[Record]]:
    return [[Keyed(r.site, r.at_ms) if isinstance(r, Pageview) else r for r in file] for file in files]


def test_dedup_example(streaming: Streaming) -> None:
    files: list[list[Record]] = [
        [Keyed("a", 20_000), Keyed("a", 20_000), Keyed("b", 21_000)],  # a copy in the same batch
        # the copy of a 20 s is dropped; a 14 s is at or before the watermark (16 s): late, although
        # its window [10, 20) is still open (without dedup it would count)
        [Keyed("a", 20_000), Keyed("a", 14_000)],
        [Keyed("c", 40_000)],  # watermark becomes 35 s
        [Keyed("b", 21_000)],  # a copy after the watermark: reported late, its event counted once
    ]
    run = run_stream(streaming, files, SMALL, dedup=True)
    assert windows(run) == {("a", 20_000): 1, ("b", 20_000): 1, ("c", 40_000): 1}
    assert late_rows(run) == {1001: ("a", 16_000), 3000: ("b", 35_000)}
    check_each_event_counts_once_or_is_late(run, SMALL_MS)


@STREAMING
@given(files=drifting_batches().map(as_copies), idle_batches=LATE_IDLE_BATCHES)
def test_with_dedup_each_event_counts_once_or_is_reported_late(
    streaming: Streaming,
    files: list[list[Record]],
    idle_batches: bool,
) -> None:
    run = run_stream(streaming, files, SMALL, idle_batches, dedup=True)
    event(f"copies: {len(pageviews(run)) - len({(site, at) for _, site, at in pageviews(run)})}")
    check_each_event_counts_once_or_is_late(run, SMALL_MS)


def file_1_batch(attempt: Attempt) -> bool:
    """The batch of the file with the example's `not json`: the only one that writes a dead letter."""
    return bool(attempt.writes.dead_letters)


def test_with_dedup_a_replayed_batch_keeps_the_dedup_state_of_the_one_before(streaming: Streaming) -> None:
    """A crash after batch 1's writes: its replay restores state version 0, so its copy is dropped again."""
    files: list[list[Record]] = [
        [Keyed("a", 20_000), Keyed("b", 21_000)],
        [Keyed("a", 20_000), Keyed("a", 22_000), b"not json"],
        [Keyed("a", 22_000), Keyed("b", 40_000)],
    ]

    run = run_stream(streaming, files, SMALL, crash_after=file_1_batch, dedup=True)
    assert windows(run) == {("a", 20_000): 2, ("b", 20_000): 1, ("b", 40_000): 1}
    check_each_event_counts_once_or_is_late(run, SMALL_MS)


# --- (c) replays: a batch re-run after a crash writes the same, and changes nothing ---------------


def test_batch_replayed_after_a_crash_writes_the_same(streaming: Streaming) -> None:
    files: list[list[Record]] = [
        [Pageview("a", 20_000), Pageview("b", 21_000)],
        [Pageview("a", 22_000)],
        # late by the watermark batch 1 was planned with (16 s); and a dead letter
        [Pageview("a", 23_000), Pageview("a", 1_000), b"not json"],
        [Pageview("b", 40_000)],
    ]

    run = run_stream(streaming, files, SMALL, crash_after=file_1_batch)
    replayed = [a for a in run.attempts if any(b.batch_id == a.batch_id for b in run.attempts if b is not a)]
    assert len(replayed) == 2, f"expected exactly one batch run twice: {run.attempts}"
    first, again = replayed
    assert first.writes.dead_letters
    assert first.writes.late_events
    assert first.writes.pageviews
    assert (again.watermark_ms, again.writes) == (first.watermark_ms, first.writes)
    assert windows(run) == {("a", 20_000): 3, ("b", 20_000): 1, ("b", 40_000): 1}
    check_late_events_are_exactly_the_dropped_ones(run, SMALL_MS)


def test_older_batch_after_newer_changes_nothing(streaming: Streaming) -> None:
    files: list[list[Record]] = [[Pageview("a", 0)], [Pageview("a", 1_000)], [Pageview("a", 2_000)]]
    run = run_stream(streaming, files, GENEROUS)
    writing = [attempt for attempt in run.attempts if attempt.writes]
    assert [attempt.writes.pageviews[0][4] for attempt in writing] == [1, 2, 3]
    store = LwwStore()
    store.apply(writing[2].writes)
    store.apply(writing[0].writes)  # a zombie driver's stale batch, or a replay of an old one
    store.apply(writing[1].writes)
    store.apply(writing[2].writes)
    assert store == run.store
    assert windows(run) == {("a", 0): 3}


@pytest.mark.parametrize("dedup", [False, True], ids=["counts", "dedup"])
def test_each_record_is_parsed_once_by_the_query(kafka_frames: KafkaFrames, dedup: bool) -> None:
    # Throughput guard: if the optimizer can inline the parsed struct, every field read from it
    # gets its own from_json (a dozen in this plan), and the pipeline drains at half the rate. Two
    # parses per branch: the fast schema, and the string one for the records the fast one does not
    # fit. With deduplication the kept events are a second branch, parsed again.
    records = kafka_frames([(0, 0, b'{"event_id": "e", "site_id": "s", "ts": 0}')])
    plan = sink_input(parse_events(records, MAX_EVENT_BYTES, COPY_BYTES), WINDOW, "1 minute", dedup)
    executed = plan._jdf.queryExecution().executedPlan().toString()
    assert executed.count("from_json(") == (4 if dedup else 2), executed


@pytest.mark.parametrize("size", [None, 2], ids=["backlog-plan", "one-task-plan"])
@pytest.mark.parametrize("dedup", [False, True], ids=["counts", "dedup"])
def test_a_new_watermark_compiles_no_new_code(
    kafka_frames: KafkaFrames, dedup: bool, size: int | None
) -> None:
    """Each batch has a new watermark; if it reached the generated code as a literal, every batch
    would compile its whole job again (twice: the stages before and after the shuffle)."""
    records = kafka_frames([(0, 0, b'{"event_id": "e", "site_id": "s", "ts": 0}'), (0, 1, b"x")])
    plan = sink_input(parse_events(records, MAX_EVENT_BYTES, COPY_BYTES), WINDOW, "1 minute", dedup)
    compiles = (
        records.sparkSession._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
    )
    batch_rows(plan, 1_000, dedup, size).collect()
    before = compiles.getCount()
    for watermark_ms in (61_000, 3_600_000):
        batch_rows(plan, watermark_ms, dedup, size).collect()
    assert compiles.getCount() == before


@pytest.mark.parametrize("dedup", [False, True], ids=["counts", "dedup"])
def test_a_small_batch_is_counted_in_one_stage_with_the_same_rows(
    kafka_frames: KafkaFrames, dedup: bool
) -> None:
    """A live batch (up to ONE_TASK_RECORDS) is read and counted by one task, without the shuffle a
    backlog's task per partition needs; the plan changes what a batch costs, never what it writes."""

    def event(event_id: str, site: str, ts: int) -> bytes:
        return json.dumps({"event_id": event_id, "site_id": site, "ts": ts}).encode()

    records = kafka_frames(
        [
            (0, 0, event("e0", "a", 61_000)),
            (1, 0, event("e1", "a", 62_000)),
            (2, 0, event("e2", "b", 125_000)),
            (2, 1, event("e0", "a", 61_000)),
            (3, 0, event("e3", "a", 1_000)),
            (3, 1, b"junk"),
        ]
    ).repartition(4, "partition")
    plan = sink_input(parse_events(records, MAX_EVENT_BYTES, COPY_BYTES), WINDOW, "1 minute", dedup)
    small = batch_rows(plan, 60_000, dedup, ONE_TASK_RECORDS)
    backlog = batch_rows(plan, 60_000, dedup, ONE_TASK_RECORDS + 1)

    def shuffles(rows: DataFrame) -> int:
        return str(rows._jdf.queryExecution().executedPlan().toString()).count("Exchange hashpartitioning")

    assert shuffles(small) == shuffles(backlog) - 1
    assert sorted(small.collect()) == sorted(backlog.collect())
    # e0 was sent twice: counted once with dedup. e3's window ended at the watermark: late.
    assert {(r.kind, r.site_id, r.window_start, r.views) for r in small.collect() if r.kind != "dead"} == {
        ("count", "a", 60_000, 2 if dedup else 3),
        ("count", "b", 120_000, 1),
        ("late", "a", 0, 1),
    }


def test_each_record_is_read_once_per_batch(streaming: Streaming) -> None:
    """Spark's numInputRows counts what the source produced for the batch's plan: once per record,
    though the sink derives counts, dead letters and late events from it."""
    files: list[list[Record]] = [
        [Pageview("a", 20_000), b"not json", Pageview("b", 21_000)],
        [Pageview("a", 1_000), Pageview("c", 40_000)],
    ]
    run = run_stream(streaming, files, SMALL)
    assert run.input_rows == 5
    assert windows(run) == {("a", 0): 1, ("a", 20_000): 1, ("b", 20_000): 1, ("c", 40_000): 1}
