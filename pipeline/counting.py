"""What a micro-batch writes, from its records read and parsed once.

The streaming query keeps no state of its own (`sink_input`): every record leaves it once, with its
event-time window, under a watermark Spark tracks and records in the checkpoint's offset log. The
sink then derives, in one Spark job (`batch_rows`), what the batch adds to each (site, window), its
dead letters, and the events the watermark made too late to count; the absolute counts are kept by
`window_counts.py`.

With `dedup`, copies of an event (same `event_id` and event time, as an at-least-once producer
re-sends them) are counted once: Spark's deduplication keeps each (event_id, event_time) in its
state until the watermark passes it, and the query adds the events it kept as a second stream. That
reads the batch twice, because the ids seen are the one thing that cannot be derived from the batch
alone; Spark drops, as late, every event at or before the watermark before it deduplicates.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# Rows of the query's output: every input record, and with dedup, each event the deduplication kept.
KIND_RECORD = "record"
KIND_KEPT = "kept"
# Rows the sink writes: a window's count, a dead letter, a late event.
KIND_COUNT = "count"
KIND_DEAD = "dead"
KIND_LATE = "late"
# What each input record carries to the sink: where it came from, and what a dead letter keeps.
RECORD_COLUMNS = ("topic", "partition", "offset", "event_id", "reason", "raw", "raw_size")
# The column that brings each batch's watermark to the expressions `BatchRows` built once.
_WATERMARK = "_tally_watermark"
# A batch of up to this many records is read, classified and counted in one task (`BatchRows`). One
# task takes 15-25 us a record; a task per Kafka partition and a shuffle into a second stage first
# cost 250-600 ms of task launches (measured on the benchmark's 2 cores): 50,000 is about where the
# two meet. A backlog's batches are far larger.
ONE_TASK_RECORDS = 50_000


def sink_input(events: DataFrame, window: str, allowed_lateness: str, dedup: bool = False) -> DataFrame:
    """Parsed records -> the query's output: each record once (kind `record`), with its window.

    Dead letters have no event time, so they never move the watermark."""
    records = _windowed(events.withWatermark("event_time", allowed_lateness), window)
    output = records.select(F.lit(KIND_RECORD).alias("kind"), "*")
    if not dedup:
        return output
    # event_time in the key gives the operator its watermark: without it the state never shrinks.
    kept = records.where(F.col("reason").isNull()).dropDuplicates(["event_id", "event_time"])
    return output.unionByName(kept.select(F.lit(KIND_KEPT).alias("kind"), *records.columns))


def _windowed(records: DataFrame, window: str) -> DataFrame:
    # window() filters out null times; dead letters have none, and must not be filtered.
    bounds = F.window(F.coalesce("event_time", F.timestamp_millis(F.lit(0))), window)
    return records.select("*", bounds.start.alias("window_start"), bounds.end.alias("window_end"))


def batch_rows(
    batch: DataFrame, watermark_ms: int, dedup: bool = False, records: int | None = None
) -> DataFrame:
    """One batch of `sink_input` -> what it adds to each window's count, its dead letters, and its
    late events, in one Spark job over the batch (so the source is read once).

    An event is late when its window ended at or before `watermark_ms`, the watermark Spark planned
    the previous batch with (see `checkpoint.late_event_watermark_ms`); every other valid event is
    counted: counted + late = valid. With `dedup`, the deduplication already dropped, by that same
    watermark, every event whose own time is at or before it (a superset: its window ends later):
    those are the late ones, and the events it kept are the ones counted.

    `records`, the batch's size when known, only chooses the plan (see `BatchRows`), never the rows.
    """
    return BatchRows(dedup)(batch, watermark_ms, records)


class BatchRows:
    """`batch_rows`, with its columns built once for every batch of a driver. A PySpark column is
    built by calls into the JVM, and py4j looks each one up under every one of PySpark's imports,
    where each miss looks into every jar of Spark's: built again each batch, these columns cost the
    driver 124 ms of CPU a batch (56 ms now), more than the executor spends on the 10,000 records of
    a batch at 10,000 events/s."""

    def __init__(self, dedup: bool = False) -> None:
        record = F.col("kind") == KIND_RECORD
        valid = record & F.col("reason").isNull()
        too_old = F.struct((F.col("event_time") if dedup else F.col("window_end")).alias("t")) <= F.col(
            _WATERMARK
        )
        counted = (F.col("kind") == KIND_KEPT if dedup else valid) & ~too_old
        out: Column = (
            F.when(record & F.col("reason").isNotNull(), F.lit(KIND_DEAD))
            .when(valid & too_old, F.lit(KIND_LATE))
            .when(counted, F.lit(KIND_COUNT))
        )
        per_record = F.col("kind") != KIND_COUNT
        window = [F.col("site_id"), F.col("window_start"), F.col("window_end")]
        self._all = F.col("*")
        self._classified = [out.alias("kind"), *window, *(F.col(name) for name in RECORD_COLUMNS)]
        self._written = F.col("kind").isNotNull()
        self._kept = [
            F.col("kind"),
            *window,
            *(F.when(per_record, F.col(name)).alias(name) for name in RECORD_COLUMNS),
        ]
        # One aggregation for all three: its key is the window for a counted event, and the whole
        # record for a dead letter or a late event (its position makes it one row of its own). Only a
        # count is aggregated, so Spark keeps its fast hash aggregation: an aggregate over a string or
        # binary column (first(raw), say) would make it sort every record of the batch instead.
        self._key = [F.col("kind"), *window, *(F.col(name) for name in RECORD_COLUMNS)]
        self._views = F.count(F.lit(1)).alias("views")
        # Times leave Spark as epoch milliseconds: collect() would turn timestamps into naive
        # datetimes in the driver's local time zone.
        self._out = [
            F.col("kind"),
            F.col("site_id"),
            F.unix_millis("window_start").alias("window_start"),
            F.unix_millis("window_end").alias("window_end"),
            F.col("views"),
            *(F.col(name) for name in RECORD_COLUMNS),
        ]

    def __call__(self, batch: DataFrame, watermark_ms: int, records: int | None = None) -> DataFrame:
        # Compared as one-field structs: Spark writes a timestamp literal into the code it generates,
        # so a new watermark each batch would compile the batch's whole job again (0.1-1 s, on the
        # driver and on every executor), while a struct literal is passed to the same code by
        # reference. (Valid events, the only ones compared, have an event time and a window.)
        watermark = F.struct(F.timestamp_millis(F.lit(watermark_ms)).alias("t")).alias(_WATERMARK)
        # A small batch (a live one) is read, classified and counted in one task, in one stage: a task
        # per Kafka partition and a shuffle into a second stage cost the batch more in task launches
        # than its few thousand records cost one core. A large one (a backlog) keeps its parallelism.
        if records is not None and records <= ONE_TASK_RECORDS:
            batch = batch.coalesce(1)
        return (
            batch.select(self._all, watermark)
            .select(*self._classified)
            .where(self._written)
            .select(*self._kept)
            .groupBy(*self._key)
            .agg(self._views)
            .select(*self._out)
        )
