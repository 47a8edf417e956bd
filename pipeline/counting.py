"""Absolute pageview counts per (site, event-time window), kept in Spark's checkpointed state.

The sink receives one stream per micro-batch: the count rows this batch updated, plus every input
record, from which it keeps the dead letters and the events the watermark made too late to count.

With `dedup`, copies of an event (same `event_id` and event time, as an at-least-once producer
re-sends them) are counted once: Spark keeps each (event_id, event_time) in its state until the
watermark passes it, drops later copies, and drops as late every event at or before the watermark.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

KIND_COUNT = "count"
KIND_EVENT = "event"
KIND_DEAD = "dead"
# What each input record carries to the sink: where it came from, and what a dead letter keeps.
RECORD_COLUMNS = ("topic", "partition", "offset", "event_id", "reason", "raw", "raw_size")


def count_pageviews(
    events: DataFrame, window: str, allowed_lateness: str, dedup: bool = False, carried_watermark_ms: int = 0
) -> DataFrame:
    """Valid events -> site_id, window, views: absolute counts, updated in place as events arrive.

    `carried_watermark_ms`: a generation that took over leaves out, as late, what was final in the
    one before (see `takeover.py`); a constant, so every replay leaves out the same events."""
    valid = events.where(F.col("reason").isNull()).withWatermark("event_time", allowed_lateness)
    if carried_watermark_ms:
        too_old = F.col("event_time") if dedup else F.window("event_time", window).end
        valid = valid.where(too_old > F.timestamp_millis(F.lit(carried_watermark_ms)))
    if dedup:
        # event_time in the key gives the operator its watermark: without it the state never shrinks.
        valid = valid.dropDuplicates(["event_id", "event_time"])
    return valid.groupBy("site_id", F.window("event_time", window)).agg(F.count(F.lit(1)).alias("views"))


def sink_input(
    events: DataFrame, window: str, allowed_lateness: str, dedup: bool = False, carried_watermark_ms: int = 0
) -> DataFrame:
    """One stream, in update mode, of count rows and of all input records, told apart by `kind`."""
    counts = count_pageviews(events, window, allowed_lateness, dedup, carried_watermark_ms).select(
        F.lit(KIND_COUNT).alias("kind"),
        "site_id",
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        "views",
    )
    records = (
        events.select(
            F.when(F.col("reason").isNull(), F.lit(KIND_EVENT)).otherwise(F.lit(KIND_DEAD)).alias("kind"),
            "site_id",
            # window() filters out null times; dead letters have none, and must not be filtered.
            F.window(F.coalesce("event_time", F.timestamp_millis(F.lit(0))), window).alias("window"),
            "event_time",
            *RECORD_COLUMNS,
        )
        .select(
            "*",
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
        )
        .drop("window")
    )
    return counts.unionByName(records, allowMissingColumns=True)


def sink_rows(batch: DataFrame, watermark_ms: int, dedup: bool = False) -> DataFrame:
    """What the sink writes for one batch: count updates, dead letters, and the late events.

    An event is late when its window ended at or before `watermark_ms`, the watermark Spark dropped
    this batch's input by (see `checkpoint.late_event_watermark_ms`): exactly the rows the stateful
    aggregation drops (window.end <= watermark), so counted + late = valid. With `dedup`, the
    deduplication drops first, by the same watermark, every event whose own time is at or before it
    (a superset: the window ends after the event): counted + late = distinct valid events.
    """
    watermark = F.timestamp_millis(F.lit(watermark_ms))
    too_old = F.col("event_time") if dedup else F.col("window_end")
    late = (F.col("kind") == KIND_EVENT) & (too_old <= watermark)
    # Times leave Spark as epoch milliseconds: collect() would turn timestamps into naive datetimes
    # in the driver's local time zone.
    return batch.where((F.col("kind") != KIND_EVENT) | late).select(
        "kind",
        "site_id",
        F.unix_millis("window_start").alias("window_start"),
        F.unix_millis("window_end").alias("window_end"),
        "views",
        *RECORD_COLUMNS,
    )
