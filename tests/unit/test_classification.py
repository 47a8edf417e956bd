"""The classification probe without Docker: its corpus covers every dead-letter reason and gives, on
this Spark, the outcome written down beside each record; two versions' answers compare readably."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from harness.scenario import classification
from harness.scenario.classification import (
    CORPUS,
    Classification,
    Outcome,
    ProbeRecord,
    corpus_from_json,
    corpus_to_json,
    dead,
    differences,
    event,
    outcomes,
    records_frame,
    summary,
)
from pipeline.parse import REASONS, parse_events

if TYPE_CHECKING:
    from conftest import KafkaFrames


def test_the_corpus_covers_every_reason_and_valid_events() -> None:
    expected = [record.expected for record in CORPUS]
    assert {outcome.detail for outcome in expected if outcome.kind == "dead"} == set(REASONS)
    assert any(outcome.kind == "event" for outcome in expected)
    assert all(outcome.kind != "error" for outcome in expected)


def test_labels_are_unique() -> None:
    labels = [record.label for record in CORPUS]
    assert len(labels) == len(set(labels))


def test_the_probe_frame_is_shaped_like_the_kafka_source(
    spark: SparkSession, kafka_frames: KafkaFrames
) -> None:
    frame = records_frame(spark, CORPUS[:2])
    assert frame.schema == kafka_frames.schema
    row = frame.select(F.unix_millis("timestamp").alias("ms"), "offset").first()
    assert row is not None
    assert (row.ms, row.offset) == (CORPUS[0].timestamp_ms, 0)


def test_each_record_is_classified_as_written_down(spark: SparkSession) -> None:
    """On Spark 4.0 with ANSI on (the default), and in tox -e unit-spark35 on 3.5 with it off."""
    got = outcomes(spark, CORPUS)
    wrong = [
        f"{record.label}: {got.get(record.label)}, expected {record.expected}"
        for record in CORPUS
        if got.get(record.label) != record.expected
    ]
    assert wrong == []


def test_a_record_that_fails_the_job_is_named_with_its_error(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = ProbeRecord("poison", b"poison", 0, dead("invalid_json"))

    def failing_on_poison(records: DataFrame, *args: Any) -> DataFrame:
        failing = records.withColumn(
            "value",
            F.when(F.col("value") == F.lit(b"poison"), F.raise_error("poisoned")).otherwise(F.col("value")),
        )
        return parse_events(failing, *args)

    monkeypatch.setattr(classification, "parse_events", failing_on_poison)
    got = outcomes(spark, [CORPUS[0], poison])
    assert got[CORPUS[0].label] == CORPUS[0].expected
    assert got["poison"].kind == "error"
    assert "poisoned" in got["poison"].detail


def test_the_corpus_survives_its_trip_to_the_container_byte_for_byte() -> None:
    assert corpus_from_json(corpus_to_json(CORPUS)) == CORPUS
    assert any(record.value is None for record in CORPUS)
    assert any(record.value and not _utf8(record.value) for record in CORPUS)


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


OLD = Classification(
    "3.5.7",
    False,
    {"valid": event(1), "ts-20-digits": dead("invalid_ts"), "event-id-number": event(2, event_id="42")},
)


def test_a_classification_survives_json() -> None:
    failed = Classification("4.0.0", True, {"x": Outcome("error", "SparkArithmeticException: overflow")})
    assert Classification.from_json(OLD.to_json()) == OLD
    assert Classification.from_json(failed.to_json()) == failed


def test_identical_classifications_have_no_differences() -> None:
    new = Classification("4.0.0", True, dict(OLD.outcomes))
    assert differences(OLD, new) == []
    assert (
        summary(OLD, new)
        == "3 probe records classified identically by spark 3.5.7 (ANSI off) and 4.0.0 (ANSI on)"
    )


def test_each_changed_record_is_one_readable_line() -> None:
    new = Classification(
        "4.0.0",
        True,
        {
            "valid": event(1),
            "ts-20-digits": event(5),
            "event-id-number": Outcome("error", "SparkNumberFormatException: [CAST_INVALID_INPUT]"),
            "only-new": dead("oversized"),
        },
    )
    assert differences(OLD, new) == [
        "ts-20-digits: invalid_ts under 3.5.7 (ANSI off), event ('e', 's', 5) under 4.0.0 (ANSI on)",
        "event-id-number: event ('42', 's', 2) under 3.5.7 (ANSI off), "
        "error (SparkNumberFormatException: [CAST_INVALID_INPUT]) under 4.0.0 (ANSI on)",
        "only-new: no outcome under 3.5.7 (ANSI off), oversized under 4.0.0 (ANSI on)",
    ]
    assert summary(OLD, new) == (
        "3 of 4 probe records classified differently by spark 3.5.7 (ANSI off) and 4.0.0 (ANSI on): "
        "ts-20-digits, event-id-number, only-new"
    )
