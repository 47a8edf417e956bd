"""Kafka records -> pageview events or dead letters, with built-in functions only (no Python UDFs).

An event is a JSON object {"event_id": str, "site_id": str, "page": str, "ts": int} where `ts` is
the event time in milliseconds since the Unix epoch (UTC). Unknown fields are ignored.
Every record comes out as exactly one row: `reason` is null for an event, or says why it is rejected.

An event time more than `max_ahead` past its Kafka record's timestamp (when it was produced, or
appended with LogAppendTime) is a dead letter (`future_ts`), not an event: one event dated 2100
would otherwise take the watermark there and make every later event late for good. The record's
timestamp is part of the record, so every replay, and a take-over's recount, classifies the same.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

# Every field read as a string, so a wrongly typed `ts` is reported as such, not as broken JSON.
EVENT_SCHEMA = StructType(
    [
        StructField("event_id", StringType()),
        StructField("site_id", StringType()),
        StructField("ts", StringType()),
        StructField("_corrupt_record", StringType()),
    ]
)
# The same with `ts` a number, as a well-formed event has it: Jackson reads the number as it parses,
# where a string field makes Spark copy a number's text through a JSON generator (and the check of
# that text costs a regular expression and a cast). A record this schema does not fit (broken JSON,
# a field of another type) is parsed again with EVENT_SCHEMA, which says what is wrong with it.
FAST_SCHEMA = StructType([StructField("ts", LongType()) if f.name == "ts" else f for f in EVENT_SCHEMA])
# Strict JSON: Spark's parser would otherwise accept single-quoted strings.
JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": "_corrupt_record",
    "allowSingleQuotes": "false",
}
# Year 1970 to 9999: the range a Spark timestamp holds without overflow.
MAX_TS_MS = 253_402_300_799_999
REASONS = (
    "empty_value",
    "oversized",
    "invalid_utf8",
    "invalid_json",
    "missing_event_id",
    "missing_site_id",
    "invalid_ts",
    "future_ts",
)
MAX_AHEAD = "1 hour"


def _blank(column: Column) -> Column:
    return column.isNull() | column.rlike(r"^\s*$")


def is_valid_utf8(value: Column) -> Column:
    """Whether the bytes of `value` (binary) are well-formed UTF-8, on Spark 3.5 and 4.

    Spark 4 has `is_valid_utf8`. Spark 3.5 has only `decode`, which replaces every malformed sequence
    (overlong forms, surrogates, truncated sequences, code points above U+10FFFF) with U+FFFD through
    Java's decoder, so the bytes survive a decode/encode round trip exactly when they are valid; a
    U+FFFD in the input is valid and round-trips unchanged. Spark 4's `decode` raises on malformed
    input instead (unless spark.sql.legacy.codingErrorAction), so the round trip is for 3.5 only.
    """
    if hasattr(F, "is_valid_utf8"):
        return F.is_valid_utf8(value.cast("string"))
    return F.encode(F.decode(value, "UTF-8"), "UTF-8") == value


def parse_events(
    records: DataFrame, max_event_bytes: int, dead_letter_copy_bytes: int, max_ahead: str = MAX_AHEAD
) -> DataFrame:
    """Kafka source rows -> topic, partition, offset, event_id, site_id, event_time, reason, raw, raw_size.

    `max_ahead`: how far past its record's timestamp an event time may be (an interval: "1 hour")."""
    size = F.length("value")
    text = F.col("value").cast("string")
    fitted = F.col("fast").isNotNull() & F.col("fast._corrupt_record").isNull()

    def field(name: str) -> Column:
        return F.when(fitted, F.col(f"fast.{name}")).otherwise(F.col(f"slow.{name}"))

    # The skew allowed, in milliseconds: a constant the optimizer folds once. A timestamp plus an
    # interval in the check itself went through a ZonedDateTime for every record.
    ahead_ms = F.unix_millis(F.timestamp_millis(F.lit(0)) + F.expr(f"INTERVAL {max_ahead}"))
    ts_text = F.trim(F.col("slow.ts"))
    ts_ms = F.when(fitted, F.col("fast.ts")).when(ts_text.rlike(r"^[0-9]{1,15}$"), ts_text.cast("long"))
    reason = (
        F.when(F.col("value").isNull() | (size == 0), "empty_value")
        .when(size > max_event_bytes, "oversized")
        .when(~is_valid_utf8(F.col("value")), "invalid_utf8")
        .when(~fitted & (F.col("slow").isNull() | F.col("slow._corrupt_record").isNotNull()), "invalid_json")
        .when(_blank(field("event_id")), "missing_event_id")
        .when(_blank(field("site_id")), "missing_site_id")
        .when(ts_ms.isNull() | (ts_ms < 0) | (ts_ms > MAX_TS_MS), "invalid_ts")
        .when(ts_ms > F.unix_millis(F.col("timestamp")) + ahead_ms, "future_ts")
    )
    # Oversized values are neither decoded nor parsed: the dead letter only needs their size. Only a
    # record the fast schema does not fit is parsed a second time.
    parsable = size <= max_event_bytes
    # Each barrier below copies every column it carries, so each carries only what is read after it.
    fast = _computed_once(
        records.select(
            "topic",
            "partition",
            "offset",
            "timestamp",
            "value",
            F.when(parsable, F.from_json(text, FAST_SCHEMA, JSON_OPTIONS)).alias("fast"),
        )
    )
    slow = F.when(parsable & ~fitted, F.from_json(text, EVENT_SCHEMA, JSON_OPTIONS))
    parsed = _computed_once(fast.select("*", slow.alias("slow")))
    classified = _computed_once(
        parsed.select(
            "topic",
            "partition",
            "offset",
            "value",
            reason.alias("reason"),
            ts_ms.alias("ts_ms"),
            field("event_id").alias("id"),
            field("site_id").alias("site"),
        )
    )
    valid = F.col("reason").isNull()
    return classified.select(
        "topic",
        "partition",
        "offset",
        F.when(valid, F.col("id")).alias("event_id"),
        F.when(valid, F.col("site")).alias("site_id"),
        F.when(valid, F.timestamp_millis("ts_ms")).alias("event_time"),
        "reason",
        F.when(~valid, F.substring("value", 1, dead_letter_copy_bytes)).alias("raw"),
        F.when(~valid, size).alias("raw_size"),
    )


def _computed_once(frame: DataFrame) -> DataFrame:
    """`frame`, through a Generate (explode of a one-element array), which the optimizer cannot
    inline. Without it, a column is one expression that the optimizer copies into every later use:
    from_json into each field read from it (a dozen parses per record), and `reason`, three regular
    expressions and the JSON checks, into each column that asks whether a record is valid (94 regular
    expressions per record in the executed plan of the sink's job instead of 3)."""
    return frame.select(F.explode(F.array(F.struct(*frame.columns))).alias("row")).select("row.*")
