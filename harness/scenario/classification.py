"""Whether a Spark version classifies any record differently: the pipeline's own `parse_events` over a
fixed corpus of Kafka records, run in a Spark image with that version's defaults (ANSI mode included).

`CORPUS` holds every dead-letter reason and the inputs where a cast, an overflow check or the JSON
parser could change its mind between versions, each with the outcome the pipeline gives today.
`classify` runs the probe in a one-off container of a Spark image (`python3 -m
harness.scenario.classification CORPUS_FILE` inside it, which prints the outcomes as JSON);
`differences` and `summary` put two versions' answers side by side.
"""

from __future__ import annotations

import base64
import json
import random
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType

from harness.eventually import eventually
from harness.model import events
from harness.model.events import PageView
from harness.workload.generator import MALFORMATIONS, WorkloadSpec
from pipeline.config import PipelineConfig
from pipeline.parse import MAX_TS_MS, parse_events

if TYPE_CHECKING:
    from docker.models.containers import Container

# --- what a record becomes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the pipeline made of one record: an event, a dead letter, or a Spark job that failed."""

    kind: Literal["event", "dead", "error"]
    # dead: the reason; error: the exception's type and first line.
    detail: str = ""
    # event: (event_id, site_id, event time in epoch milliseconds).
    event: tuple[str, str, int] | None = None

    def __str__(self) -> str:
        if self.kind == "event":
            return f"event {self.event!r}"
        if self.kind == "dead":
            return self.detail
        return f"error ({self.detail})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        event = data["event"]
        return cls(data["kind"], data["detail"], None if event is None else (event[0], event[1], event[2]))


def event(ts_ms: int, event_id: str = "e", site_id: str = "s") -> Outcome:
    return Outcome("event", event=(event_id, site_id, ts_ms))


def dead(reason: str) -> Outcome:
    return Outcome("dead", reason)


# --- the corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeRecord:
    """One Kafka record of the corpus, named so that a difference reads, and what it gives today."""

    label: str
    value: bytes | None
    # The Kafka record's own timestamp: `future_ts` is judged against it.
    timestamp_ms: int
    expected: Outcome

    def to_dict(self) -> dict[str, Any]:
        # Base64: the corpus holds bytes that no JSON string can carry (invalid UTF-8).
        value = None if self.value is None else base64.b64encode(self.value).decode()
        return {
            "label": self.label,
            "value": value,
            "timestamp_ms": self.timestamp_ms,
            "expected": asdict(self.expected),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbeRecord:
        value = None if data["value"] is None else base64.b64decode(data["value"])
        return cls(data["label"], value, data["timestamp_ms"], Outcome.from_dict(data["expected"]))


# 2026-01-01T00:00:00Z: the Kafka timestamp of every record but those at the end of year 9999.
RECORD_MS = 1_767_225_600_000
# The pipeline's default --max-event-time-ahead ("1 hour"), for the records on either side of it.
AHEAD_MS = 3_600_000
MAX_BYTES = PipelineConfig.max_event_bytes


def _event_json(event_id: bytes = b'"e"', site_id: bytes = b'"s"', ts: bytes = b"%d" % RECORD_MS) -> bytes:
    """An event whose fields are given as raw JSON text, so that odd numbers and bytes stay exact."""
    return b'{"event_id":%b,"site_id":%b,"page":"/","ts":%b}' % (event_id, site_id, ts)


def _record(label: str, value: bytes | None, expected: Outcome, timestamp_ms: int = RECORD_MS) -> ProbeRecord:
    return ProbeRecord(label, value, timestamp_ms, expected)


def _padded(size: int) -> bytes:
    """A valid event of exactly `size` bytes (its page padded)."""
    unpadded = len(_event_json())
    return _event_json().replace(b'"page":"/"', b'"page":"/' + b"x" * (size - unpadded) + b'"')


# `ts` is read as a string and must be 1 to 15 ASCII digits after trimming spaces, then at most
# MAX_TS_MS: the cast to a long never sees anything that could overflow it, or fail under ANSI.
# These are the inputs on both sides of each of those limits, as strings and as JSON numbers.
_TS_CASES: tuple[tuple[str, bytes, Outcome], ...] = (
    ("ts-number", b"%d" % RECORD_MS, event(RECORD_MS)),
    ("ts-string", b'"%d"' % RECORD_MS, event(RECORD_MS)),
    ("ts-zero", b"0", event(0)),
    ("ts-15-digits-leading-zeros", b'"000000000000001"', event(1)),
    ("ts-15-digits-year-5138", b"100000000000000", dead(events.FUTURE_TS)),
    ("ts-15-digits-past-9999", b'"999999999999999"', dead(events.INVALID_TS)),
    ("ts-16-digits", b'"%d000"' % RECORD_MS, dead(events.INVALID_TS)),
    ("ts-19-digits-long-max", b'"9223372036854775807"', dead(events.INVALID_TS)),
    ("ts-19-digits-past-long", b'"9223372036854775808"', dead(events.INVALID_TS)),
    ("ts-20-digits", b'"18446744073709551616"', dead(events.INVALID_TS)),
    ("ts-20-digits-number", b"18446744073709551616", dead(events.INVALID_TS)),
    # Jackson (2.15 on) refuses a number of more than 1000 digits: the record is not JSON.
    ("ts-1001-digits-number", b"1" * 1001, dead(events.INVALID_JSON)),
    ("ts-negative", b'"-1"', dead(events.INVALID_TS)),
    ("ts-negative-number", b"-1", dead(events.INVALID_TS)),
    ("ts-spaces", b'" %d "' % RECORD_MS, event(RECORD_MS)),
    ("ts-tab", b'"\\t%d"' % RECORD_MS, dead(events.INVALID_TS)),
    ("ts-plus-sign", b'"+%d"' % RECORD_MS, dead(events.INVALID_TS)),
    ("ts-fullwidth-digits", '"\uff11"'.encode(), dead(events.INVALID_TS)),
    ("ts-1e3", b'"1e3"', dead(events.INVALID_TS)),
    ("ts-1e3-number", b"1e3", dead(events.INVALID_TS)),
    ("ts-1.5", b'"1.5"', dead(events.INVALID_TS)),
    ("ts-1.5-number", b"1.5", dead(events.INVALID_TS)),
    ("ts-0x10", b'"0x10"', dead(events.INVALID_TS)),
    ("ts-nan", b"NaN", dead(events.INVALID_TS)),
    ("ts-leading-zero-number", b"0%d" % RECORD_MS, dead(events.INVALID_JSON)),
    ("ts-empty", b'""', dead(events.INVALID_TS)),
    ("ts-null", b"null", dead(events.INVALID_TS)),
    ("ts-true", b"true", dead(events.INVALID_TS)),
    ("ts-object", b'{"ms":%d}' % RECORD_MS, dead(events.INVALID_TS)),
    ("ts-array", b"[%d]" % RECORD_MS, dead(events.INVALID_TS)),
    ("future-ts-at-limit", b"%d" % (RECORD_MS + AHEAD_MS), event(RECORD_MS + AHEAD_MS)),
    ("future-ts-1ms-past-limit", b"%d" % (RECORD_MS + AHEAD_MS + 1), dead(events.FUTURE_TS)),
)

_ID_CASES: tuple[tuple[str, str, bytes, Outcome], ...] = (
    ("event-id-empty", "event_id", b'""', dead(events.MISSING_EVENT_ID)),
    ("event-id-spaces", "event_id", b'"   "', dead(events.MISSING_EVENT_ID)),
    ("event-id-tab", "event_id", b'"\\t"', dead(events.MISSING_EVENT_ID)),
    ("event-id-null", "event_id", b"null", dead(events.MISSING_EVENT_ID)),
    # Numbers and objects where a string belongs are kept as their JSON text.
    ("event-id-number", "event_id", b"42", event(RECORD_MS, event_id="42")),
    ("event-id-no-break-space", "event_id", '"\u00a0"'.encode(), event(RECORD_MS, event_id="\u00a0")),
    ("site-id-empty", "site_id", b'""', dead(events.MISSING_SITE_ID)),
    ("site-id-null", "site_id", b"null", dead(events.MISSING_SITE_ID)),
    ("site-id-number", "site_id", b"7", event(RECORD_MS, site_id="7")),
    ("site-id-object", "site_id", b'{"a":1}', event(RECORD_MS, site_id='{"a":1}')),
)

# Placed in site_id, the only thing wrong with an otherwise valid event.
_UTF8_CASES: tuple[tuple[str, bytes, Outcome], ...] = (
    ("utf8-overlong", b"\xc0\xaf", dead(events.INVALID_UTF8)),
    ("utf8-surrogate", b"\xed\xa0\x80", dead(events.INVALID_UTF8)),
    ("utf8-truncated", b"s\xe2\x82", dead(events.INVALID_UTF8)),
    ("utf8-above-10ffff", b"\xf4\x90\x80\x80", dead(events.INVALID_UTF8)),
    ("utf8-lone-continuation", b"\x80", dead(events.INVALID_UTF8)),
    ("utf8-fffd", "\ufffd".encode(), event(RECORD_MS, site_id="\ufffd")),
    ("utf8-emoji", "\U0001f600".encode(), event(RECORD_MS, site_id="\U0001f600")),
    # Valid UTF-8 bytes, but a lone surrogate once JSON unescapes it.
    ("json-escaped-lone-surrogate", b"\\ud800", event(RECORD_MS, site_id="?")),
)


def _json_cases() -> tuple[ProbeRecord, ...]:
    valid = _event_json()
    return (
        _record("valid", valid, event(RECORD_MS)),
        _record(
            "valid-unknown-fields",
            valid[:-1] + b',"referrer":"https://example.com/","ua":{"mobile":true,"n":[1,2.5e3]}}',
            event(RECORD_MS),
        ),
        _record("valid-corrupt-record-field", valid[:-1] + b',"_corrupt_record":"x"}', event(RECORD_MS)),
        _record("empty-value", b"", dead(events.EMPTY_VALUE)),
        _record("tombstone", None, dead(events.EMPTY_VALUE)),
        _record("size-at-limit", _padded(MAX_BYTES), event(RECORD_MS)),
        _record("oversized", _padded(MAX_BYTES + 1), dead(events.OVERSIZED)),
        _record("oversized-not-utf8", b"\xff" * (MAX_BYTES + 1), dead(events.OVERSIZED)),
        _record("utf8-bom", b"\xef\xbb\xbf" + valid, dead(events.INVALID_JSON)),
        _record("single-quoted", valid.replace(b'"', b"'"), dead(events.INVALID_JSON)),
        _record("unquoted-keys", b'{event_id:"e",site_id:"s",ts:%d}' % RECORD_MS, dead(events.INVALID_JSON)),
        _record("comment", valid.replace(b",", b",/* c */", 1), dead(events.INVALID_JSON)),
        _record("control-character", _event_json(site_id=b'"s\x01"'), dead(events.INVALID_JSON)),
        _record("trailing-garbage", valid + b" trailing", event(RECORD_MS)),
        _record("two-objects", valid + _event_json(event_id=b'"f"'), event(RECORD_MS)),
        # Of keys given twice, the last wins.
        _record("duplicate-event-id", valid.replace(b"{", b'{"event_id":"d",', 1), event(RECORD_MS)),
        _record("duplicate-ts", valid.replace(b"{", b'{"ts":"x",', 1), event(RECORD_MS)),
        _record("keys-upper-case", valid.upper(), dead(events.MISSING_EVENT_ID)),
        _record("nested-event", b'{"event":%b}' % valid, dead(events.MISSING_EVENT_ID)),
        # Jackson (2.15 on) refuses nesting deeper than 1000, even in a field nobody reads.
        _record(
            "extra-field-1001-deep",
            valid[:-1] + b',"x":' + b"[" * 1001 + b"]" * 1001 + b"}",
            dead(events.INVALID_JSON),
        ),
        _record("array-of-event", b"[%b]" % valid, dead(events.INVALID_JSON)),
        _record("json-null", b"null", dead(events.INVALID_JSON)),
    )


def _generator_cases() -> tuple[ProbeRecord, ...]:
    """One record of each malformation the workload generator sends, with the reason it expects."""
    view = PageView(event_id="g", site_id="site-000", page="/page/1", ts_ms=RECORD_MS)
    spec = WorkloadSpec(seed=0, events=0, max_event_bytes=MAX_BYTES)
    cases = []
    for malform in MALFORMATIONS:
        label = "generator" + malform.__name__.replace("_", "-")
        # Seeded by its label: the same variant of the malformation every time.
        record = malform(view, random.Random(label), spec)
        assert record.expected.reason is not None, f"{label} is not a malformation"
        cases.append(_record(label, record.value, dead(record.expected.reason)))
    return tuple(cases)


def _corpus() -> tuple[ProbeRecord, ...]:
    return (
        *_json_cases(),
        *(_record(label, _event_json(ts=ts), expected) for label, ts, expected in _TS_CASES),
        # A Kafka timestamp at the end of year 9999, so that the largest event time is not in the future.
        _record("ts-max", _event_json(ts=b'"%d"' % MAX_TS_MS), event(MAX_TS_MS), MAX_TS_MS),
        _record("ts-max-plus-1", _event_json(ts=b"%d" % (MAX_TS_MS + 1)), dead(events.INVALID_TS), MAX_TS_MS),
        *(
            _record(label, _event_json(**{field: value}), expected)
            for label, field, value, expected in _ID_CASES
        ),
        *(
            _record(label, _event_json(site_id=b'"%b"' % text), expected)
            for label, text, expected in _UTF8_CASES
        ),
        *_generator_cases(),
    )


CORPUS: tuple[ProbeRecord, ...] = _corpus()


def corpus_to_json(corpus: Sequence[ProbeRecord]) -> str:
    return json.dumps([record.to_dict() for record in corpus])


def corpus_from_json(text: str) -> tuple[ProbeRecord, ...]:
    return tuple(ProbeRecord.from_dict(data) for data in json.loads(text))


# --- the probe, inside a Spark image ------------------------------------------------------------

TOPIC = "classification"
# The Kafka source's rows, but the timestamp in epoch milliseconds: it becomes a Spark timestamp in
# Spark (timestamp_millis), not through Python datetimes, which depend on the process's time zone.
_INPUT_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", LongType()),
        StructField("timestampType", IntegerType()),
    ]
)


def records_frame(spark: SparkSession, corpus: Sequence[ProbeRecord]) -> DataFrame:
    """The corpus as the Kafka source's rows (its columns and types), at offsets 0..n-1 of partition 0."""
    rows = [
        (None, record.value, TOPIC, 0, offset, record.timestamp_ms, 0) for offset, record in enumerate(corpus)
    ]
    frame = spark.createDataFrame(rows, _INPUT_SCHEMA)
    return frame.withColumn("timestamp", F.timestamp_millis("timestamp"))


def _outcome(row: Row) -> Outcome:
    if row.reason is None:
        return event(row.event_ms, row.event_id, row.site_id)
    return dead(row.reason)


def _parsed(spark: SparkSession, corpus: Sequence[ProbeRecord]) -> dict[str, Outcome]:
    rows = (
        parse_events(
            records_frame(spark, corpus),
            PipelineConfig.max_event_bytes,
            PipelineConfig.dead_letter_copy_bytes,
            PipelineConfig.max_event_time_ahead,
        )
        .select("offset", "reason", "event_id", "site_id", F.unix_millis("event_time").alias("event_ms"))
        .collect()
    )
    return {corpus[row.offset].label: _outcome(row) for row in sorted(rows, key=lambda row: row.offset)}


def _failed(error: Exception) -> Outcome:
    """The error's first line; for a JVM exception pyspark did not convert (a Py4JJavaError, which
    reads "An error occurred while calling o123.collectToPython"), its root cause's."""
    java = getattr(error, "java_exception", None)
    if java is None:
        text = f"{type(error).__name__}: {error}"
    else:
        while java.getCause() is not None:
            java = java.getCause()
        text = str(java.toString())
    return Outcome("error", text.strip().splitlines()[0])


def _alone(spark: SparkSession, record: ProbeRecord) -> Outcome:
    try:
        return _parsed(spark, [record])[record.label]
    except Exception as error:  # whatever the job raised is the outcome of this record
        return _failed(error)


def outcomes(spark: SparkSession, corpus: Sequence[ProbeRecord]) -> dict[str, Outcome]:
    """Per label, what `parse_events` (with the pipeline's default settings) makes of each record.

    The corpus is parsed in one job, as a batch of the pipeline would be. If that job fails (an ANSI
    error, say), every record is parsed alone, so that the ones that fail it are named: a batch
    holding one of them would fail on every replay."""
    try:
        return _parsed(spark, corpus)
    except Exception:  # the records parsed one by one say which failed and why
        return {record.label: _alone(spark, record) for record in corpus}


@dataclass(frozen=True)
class Classification:
    """One Spark version's answer for the corpus, with the ANSI mode its session had."""

    spark_version: str
    ansi: bool
    outcomes: Mapping[str, Outcome]

    def __str__(self) -> str:
        return f"{self.spark_version} (ANSI {'on' if self.ansi else 'off'})"

    def to_json(self) -> str:
        return json.dumps(
            {
                "spark_version": self.spark_version,
                "ansi": self.ansi,
                "outcomes": {label: asdict(outcome) for label, outcome in self.outcomes.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Classification:
        data = json.loads(text)
        return cls(
            data["spark_version"],
            data["ansi"],
            {label: Outcome.from_dict(outcome) for label, outcome in data["outcomes"].items()},
        )


def probe(corpus: Sequence[ProbeRecord]) -> Classification:
    """The corpus classified by this interpreter's Spark in local mode with the version's defaults:
    only the session time zone is set (UTC, as the pipeline's), never ANSI or any other SQL option."""
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("tally-classification")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    try:
        ansi = spark.conf.get("spark.sql.ansi.enabled") == "true"
        return Classification(spark.version, ansi, outcomes(spark, corpus))
    finally:
        spark.stop()


# --- the harness's side -------------------------------------------------------------------------

PROBE_MODULE = "harness.scenario.classification"
CORPUS_INSIDE = "/opt/tally-classification/corpus.json"


class ProbeError(RuntimeError):
    pass


def classify(spark_image: str, timeout_s: float = 300) -> Classification:
    """Classify `CORPUS` in a one-off container of `spark_image` (local mode, the image's defaults);
    a probe that fails or outlives `timeout_s` raises with the container's last log lines."""
    # Imported here: the probe side of this module runs inside the Spark image, which has neither
    # Docker's client nor testcontainers.
    from harness.stack import containers
    from harness.stack.driver import REPO, SOURCES, SUBMIT_ARGS

    with tempfile.TemporaryDirectory(prefix="tally-classification-") as folder:
        corpus = Path(folder) / "corpus.json"
        corpus.write_text(corpus_to_json(CORPUS))
        container = (
            containers.labelled(
                spark_image,
                f"classification-{uuid.uuid4().hex[:8]}",
                ["python3", "-m", PROBE_MODULE, CORPUS_INSIDE],
            )
            .with_env("PYTHONPATH", "/opt/tally:/opt/py")
            # The drivers' JVM options (the first JIT tier): a probe lives for seconds too.
            .with_env("PYSPARK_SUBMIT_ARGS", " ".join([*SUBMIT_ARGS, "pyspark-shell"]))
            .with_volume_mapping(str(corpus), CORPUS_INSIDE, mode="ro")
        )
        for source in SOURCES:
            container.with_volume_mapping(str(REPO / source), f"/opt/tally/{source}", mode="ro")
        containers.start(container, None, timeout_s)
        try:
            wrapped = container.get_wrapped_container()
            code = eventually(
                partial(_exit_code, wrapped),
                lambda code: code is not None,
                expected=f"the classification probe in {spark_image} to exit",
                timeout_s=timeout_s,
                diagnose=partial(_tail, wrapped),
            )
            if code != 0:
                raise ProbeError(f"the probe in {spark_image} exited {code}\n{_tail(wrapped)}")
            return _printed(wrapped, spark_image)
        finally:
            containers.remove(container)


def _exit_code(wrapped: Container) -> int | None:
    wrapped.reload()
    return None if wrapped.status in ("created", "running") else int(wrapped.attrs["State"]["ExitCode"])


def _printed(wrapped: Container, image: str) -> Classification:
    """The classification the probe printed last on its stdout (Spark logs to stderr)."""
    printed = wrapped.logs(stdout=True, stderr=False).decode(errors="replace").strip().splitlines()
    try:
        return Classification.from_json(printed[-1])
    except (IndexError, ValueError, KeyError) as error:
        raise ProbeError(f"the probe in {image} printed no classification\n{_tail(wrapped)}") from error


def _tail(wrapped: Container, lines: int = 40) -> str:
    logs = wrapped.logs(stdout=True, stderr=True).decode(errors="replace").splitlines()
    return "--- last log lines ---\n" + "\n".join(logs[-lines:])


# --- comparing two versions ---------------------------------------------------------------------


def _changed(before: Classification, after: Classification) -> tuple[list[str], int]:
    """The labels classified differently, and how many labels there are, in corpus order."""
    labels = list(dict.fromkeys([*before.outcomes, *after.outcomes]))
    return [label for label in labels if before.outcomes.get(label) != after.outcomes.get(label)], len(labels)


def _said(classification: Classification, label: str) -> str:
    outcome = classification.outcomes.get(label)
    return "no outcome" if outcome is None else str(outcome)


def differences(before: Classification, after: Classification) -> list[str]:
    """One line per record classified differently by the two versions; empty if none is."""
    changed, _ = _changed(before, after)
    return [
        f"{label}: {_said(before, label)} under {before}, {_said(after, label)} under {after}"
        for label in changed
    ]


def summary(before: Classification, after: Classification) -> str:
    changed, total = _changed(before, after)
    if not changed:
        return f"{total} probe records classified identically by spark {before} and {after}"
    return (
        f"{len(changed)} of {total} probe records classified differently by spark {before} and {after}: "
        + ", ".join(changed)
    )


if __name__ == "__main__":
    # Inside the Spark image: the corpus file in, the classification out (the last line of stdout).
    print(probe(corpus_from_json(Path(sys.argv[1]).read_text())).to_json())
