"""parse_events: every Kafka record becomes exactly one row: an event, or a dead letter saying why."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import assume, example, given, note
from hypothesis import strategies as st
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from pipeline.parse import MAX_AHEAD, MAX_TS_MS, REASONS, is_valid_utf8, parse_events

if TYPE_CHECKING:
    from conftest import KafkaFrames, KafkaRecord

MAX_EVENT_BYTES = 2048
COPY_BYTES = 48
EVENT_FIELDS = ("event_id", "site_id", "ts", "page")
# Past year 9999 from now: the properties below cover every valid `ts`; future_ts has its own test.
NO_LIMIT_AHEAD = "3000000 days"


def parsed(
    frames: KafkaFrames,
    values: Sequence[bytes | None],
    max_event_bytes: int = MAX_EVENT_BYTES,
    copy_bytes: int = COPY_BYTES,
    max_ahead: str = NO_LIMIT_AHEAD,
) -> list[Row]:
    """parse_events over `values` at offsets 0..n-1 of partition 3, in offset order."""
    records: list[KafkaRecord] = [(3, offset, value) for offset, value in enumerate(values)]
    rows = (
        parse_events(frames(records), max_event_bytes, copy_bytes, max_ahead)
        # collect() would turn timestamps into the driver's local time: compare epoch milliseconds.
        .withColumn("event_ms", F.unix_millis("event_time"))
        .collect()
    )
    return sorted(rows, key=lambda row: row.offset)


# --- strategies ---------------------------------------------------------------------------------

# Identifiers any producer could send: Unicode (no lone surrogates, which JSON cannot carry through
# Java strings), and not blank by any definition of blank.
identifiers = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(lambda s: s.strip() != "")
valid_ts = st.one_of(st.integers(0, MAX_TS_MS), st.sampled_from([0, 1, MAX_TS_MS]))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
# `_corrupt_record` is the parser's own column name: a producer using it must not break parsing.
extra_keys = st.one_of(st.text(max_size=10), st.just("_corrupt_record")).filter(
    lambda k: k not in EVENT_FIELDS
)


@st.composite
def event_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event, maybe with a page and unknown fields, keys in any order."""
    event: dict[str, Any] = {
        "event_id": draw(identifiers),
        "site_id": draw(identifiers),
        "ts": draw(valid_ts),
    }
    if draw(st.booleans()):
        event["page"] = draw(st.text(max_size=20))
    event.update(draw(st.dictionaries(extra_keys, json_values, max_size=3)))
    keys = draw(st.permutations(list(event)))
    return {key: event[key] for key in keys}


@st.composite
def encode(draw: st.DrawFn, obj: Any) -> str:
    """JSON text for `obj`, in any of the layouts and escapings a producer might use."""
    return json.dumps(
        obj,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 1])),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )


@dataclass(frozen=True)
class Labelled:
    """A record value and what parse_events must make of it."""

    case: str
    value: bytes | None
    reason: str | None  # None: a valid event
    event: tuple[str, str, int] | None = None  # event_id, site_id, ts of a valid event


def _valid(event: dict[str, Any], text: str) -> Labelled:
    return Labelled("valid", text.encode(), None, (event["event_id"], event["site_id"], event["ts"]))


INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\x80", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
# Texts no JSON parser (strict or lenient) reads as a value: they start with a character that cannot
# start one. Leniencies such as NaN, Infinity or comments start with N, I or /.
NOT_JSON_START = "abcdeghijklmopqrsuvwxyz<#%&*=?!@)]}>,;:"


@st.composite
def labelled_records(draw: st.DrawFn) -> Labelled:
    event = draw(event_objects())
    case = draw(
        st.sampled_from(
            [
                "valid",
                "valid_max_size",
                "empty",
                "non_json_text",
                "truncated_json",
                "invalid_utf8",
                "json_array",
                "json_string",
                "json_number",
                "json_literal",
                "missing_site_id",
                "blank_site_id",
                "missing_event_id",
                "blank_event_id",
                "ts_word",
                "ts_wrong_type",
                "missing_ts",
                "negative_ts",
                "ts_after_9999",
                "oversized",
                "oversized_garbage",
            ]
        )
    )
    text = draw(encode(event))
    assume(len(text.encode()) <= MAX_EVENT_BYTES // 2)
    if case == "valid":
        return _valid(event, text)
    # Padding the page to an exact size: each "x" is one byte, whatever the encoding.
    unpadded = len(json.dumps({**event, "page": ""}).encode())
    if case == "valid_max_size":  # exactly max_event_bytes is still accepted
        event = {**event, "page": "x" * (MAX_EVENT_BYTES - unpadded)}
        return _valid(event, json.dumps(event))
    if case == "empty":
        return Labelled(case, draw(st.sampled_from([None, b""])), "empty_value")
    if case == "non_json_text":
        start = draw(st.sampled_from(NOT_JSON_START))
        return Labelled(case, (start + draw(st.text(max_size=40))).encode(), "invalid_json")
    if case == "truncated_json":
        cut = draw(st.integers(1, len(text) - 1))
        return Labelled(case, text[:cut].encode(), "invalid_json")
    if case == "invalid_utf8":
        at = draw(st.integers(0, len(text)))
        value = text[:at].encode() + draw(st.sampled_from(INVALID_UTF8)) + text[at:].encode()
        return Labelled(case, value, "invalid_utf8")
    if case == "json_array":
        items = draw(st.sampled_from([[], [event], [event, event]]))
        return Labelled(case, draw(encode(items)).encode(), "invalid_json")
    if case == "json_string":
        return Labelled(
            case, draw(encode(draw(st.sampled_from([text, event["site_id"], ""])))).encode(), "invalid_json"
        )
    if case == "json_number":
        number = draw(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
        return Labelled(case, json.dumps(number).encode(), "invalid_json")
    if case == "json_literal":
        return Labelled(case, draw(st.sampled_from([b"null", b"true", b"false"])), "invalid_json")
    if case in ("missing_site_id", "missing_event_id", "missing_ts"):
        field = case.removeprefix("missing_")
        reason = "invalid_ts" if field == "ts" else case
        return Labelled(case, draw(encode({k: v for k, v in event.items() if k != field})).encode(), reason)
    if case in ("blank_site_id", "blank_event_id"):
        field = case.removeprefix("blank_")
        blank = draw(st.sampled_from([None, "", " ", "    ", "\t", " \n\r "]))
        return Labelled(case, draw(encode({**event, field: blank})).encode(), f"missing_{field}")
    ts: Any
    if case == "ts_word":
        ts = draw(st.sampled_from(["yesterday", "now", "", " ", "1e3", "12:00", "0x10", "-5", "1.5"]))
    elif case == "ts_wrong_type":
        ts = draw(st.sampled_from([None, True, False, 1.5, 1e3, [1], {"ms": 1}]))
    elif case == "negative_ts":
        ts = draw(st.integers(max_value=-1))
    elif case == "ts_after_9999":
        ts = draw(st.one_of(st.integers(MAX_TS_MS + 1, 10**30), st.just(MAX_TS_MS + 1)))
    elif case == "oversized":
        event = {**event, "page": "x" * (MAX_EVENT_BYTES + 1 - unpadded + draw(st.integers(0, 100)))}
        return Labelled(case, json.dumps(event).encode(), "oversized")
    elif case == "oversized_garbage":  # too big is decided before (and instead of) decoding
        return Labelled(
            case, draw(st.binary(min_size=MAX_EVENT_BYTES + 1, max_size=MAX_EVENT_BYTES + 64)), "oversized"
        )
    else:
        raise AssertionError(case)
    return Labelled(case, draw(encode({**event, "ts": ts})).encode(), "invalid_ts")


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid event's bytes with a few bytes deleted, replaced or inserted: almost an event."""
    value = bytearray(draw(encode(draw(event_objects()))).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(value)))
        action = draw(st.sampled_from(["delete", "replace", "insert"]))
        byte = draw(st.sampled_from([*b'{}[]",:0123456789- \\\x00\xff', draw(st.integers(0, 255))]))
        if action == "delete":
            del value[at : at + 1]
        elif action == "replace" and at < len(value):
            value[at] = byte
        else:
            value.insert(at, byte)
    return bytes(value)


any_values = st.lists(
    st.one_of(
        st.none(),
        st.binary(max_size=80),
        mutated_events(),
        labelled_records().map(lambda record: record.value),
    ),
    max_size=40,
)


def strict_event(value: bytes | None) -> tuple[str, str, int] | None:
    """The event that strict JSON (Python's json) reads from `value`, or None if it does not read one.

    Spark's parser is more lenient (text after the object, numbers as ids), so this is only
    checked one way: what strict JSON accepts, parse_events must accept with the same fields.
    """
    if not value or len(value) > MAX_EVENT_BYTES:
        return None
    try:
        obj = json.loads(
            value.decode("utf-8"), parse_int=lambda digits: ("int", digits), parse_constant=lambda name: None
        )
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    event_id, site_id, ts = obj.get("event_id"), obj.get("site_id"), obj.get("ts")
    if not (isinstance(event_id, str) and isinstance(site_id, str)):
        return None
    if not (event_id.strip() and site_id.strip()):
        return None
    if not (isinstance(ts, tuple) and ts[1].isdigit() and int(ts[1]) <= MAX_TS_MS):
        return None
    try:
        event_id.encode(), site_id.encode()
    except UnicodeEncodeError:  # an escaped lone surrogate: no Java string holds it either
        return None
    return event_id, site_id, int(ts[1])


# --- properties ---------------------------------------------------------------------------------


def assert_one_row_each(values: Sequence[bytes | None], rows: Sequence[Row]) -> None:
    assert [row.offset for row in rows] == list(range(len(values))), "one row per record, no more, no less"
    for row, value in zip(rows, values, strict=True):
        assert (row.topic, row.partition) == ("pageviews", 3)
        if row.reason is None:
            assert None not in (row.event_id, row.site_id, row.event_time), row
            assert (row.raw, row.raw_size) == (None, None), row
            assert value is not None
            assert 0 < len(value) <= MAX_EVENT_BYTES
            value.decode("utf-8")  # an accepted event is text
        else:
            assert row.reason in REASONS, row
            assert (row.event_id, row.site_id, row.event_time) == (None, None, None), row


def test_examples_of_each_reason(kafka_frames: KafkaFrames) -> None:
    """The properties above, on one readable example per outcome."""
    cases: dict[bytes | None, tuple[str | None, tuple[str, str, int] | None]] = {
        b'{"event_id": "e1", "site_id": "s1", "page": "/", "ts": 1700000000123}': (
            None,
            ("e1", "s1", 1700000000123),
        ),
        b'{"ts": 0, "extra": {"n": [1, 2]}, "site_id": " s ", "event_id": "\\u00e9"}': (
            None,
            ("\u00e9", " s ", 0),
        ),
        b'{"event_id": "e", "site_id": "s", "ts": 1, "_corrupt_record": "x"}': (None, ("e", "s", 1)),
        None: ("empty_value", None),
        b"": ("empty_value", None),
        b'{"event_id": "e", "site_id": "s", "ts": 1, "page": "' + b"x" * MAX_EVENT_BYTES + b'"}': (
            "oversized",
            None,
        ),
        b'{"event_id": "e", "site_id": "\xff", "ts": 1}': ("invalid_utf8", None),
        b"hello": ("invalid_json", None),
        b"{'event_id': 'e', 'site_id': 's', 'ts': 1}": ("invalid_json", None),  # JSON has no single quotes
        b'{"event_id": "e", "site_id": "s", "ts": 1': ("invalid_json", None),
        b'[{"event_id": "e", "site_id": "s", "ts": 1}]': ("invalid_json", None),
        b'"e"': ("invalid_json", None),
        b"42": ("invalid_json", None),
        b'{"site_id": "s", "ts": 1}': ("missing_event_id", None),
        b'{"event_id": "e", "ts": 1}': ("missing_site_id", None),
        b'{"event_id": "e", "site_id": "  ", "ts": 1}': ("missing_site_id", None),
        b'{"event_id": "e", "site_id": "s", "ts": "yesterday"}': ("invalid_ts", None),
        b'{"event_id": "e", "site_id": "s"}': ("invalid_ts", None),
        b'{"event_id": "e", "site_id": "s", "ts": -1}': ("invalid_ts", None),
        # Not a number that fits a long: the fast schema refuses it, and the second parse decides.
        b'{"event_id": "e", "site_id": "s", "ts": "1700000000123"}': (None, ("e", "s", 1700000000123)),
        b'{"event_id": "e", "site_id": "s", "ts": " 42 "}': (None, ("e", "s", 42)),
        b'{"event_id": "e", "site_id": "s", "ts": 1.0}': ("invalid_ts", None),
        b'{"event_id": "e", "site_id": "s", "ts": 99999999999999999999}': ("invalid_ts", None),
        b'{"event_id": "e", "site_id": "s", "ts": "x", "ts": 1}': (None, ("e", "s", 1)),  # the last wins
        b'{"event_id": "e", "site_id": "s", "ts": %d}' % (MAX_TS_MS + 1): ("invalid_ts", None),
        b'{"event_id": "e", "site_id": "s", "ts": %d}' % MAX_TS_MS: (None, ("e", "s", MAX_TS_MS)),
    }
    values = list(cases)
    rows = parsed(kafka_frames, values)
    assert_one_row_each(values, rows)
    got = {
        value: (row.reason, None if row.reason else (row.event_id, row.site_id, row.event_ms))
        for value, row in zip(values, rows, strict=True)
    }
    assert got == cases


@given(values=any_values)
@example(values=[b"", None, b"{}", b"[]", b"\xff", b'{"event_id":"e","site_id":"s","ts":0}'])
def test_any_bytes_give_one_row_each_valid_or_dead(
    kafka_frames: KafkaFrames, values: list[bytes | None]
) -> None:
    rows = parsed(kafka_frames, values)
    assert_one_row_each(values, rows)
    valid = [row for row in rows if row.reason is None]
    dead = [row for row in rows if row.reason is not None]
    assert len(valid) + len(dead) == len(values)
    for row, value in zip(rows, values, strict=True):
        expected = strict_event(value)
        if expected is not None:
            note(f"strict JSON reads {expected} from {value!r}")
            assert (row.reason, row.event_id, row.site_id, row.event_ms) == (None, *expected)


@given(records=st.lists(labelled_records(), min_size=1, max_size=30))
def test_each_kind_of_record_gets_its_reason(kafka_frames: KafkaFrames, records: list[Labelled]) -> None:
    values = [record.value for record in records]
    rows = parsed(kafka_frames, values)
    assert_one_row_each(values, rows)
    for record, row in zip(records, rows, strict=True):
        note(f"{record.case}: {record.value!r}")
        assert row.reason == record.reason, f"{record.case}: {record.value!r} -> {row.reason}"
        if record.event is not None:
            assert (row.event_id, row.site_id, row.event_ms) == record.event


# Edge cases of UTF-8 (RFC 3629) where decoders are known to differ: Python's strict codec is the judge.
UTF8_EDGES = [
    b"\xef\xbf\xbd",  # U+FFFD itself: valid
    b"\xef\xbf\xbe",  # U+FFFE, a noncharacter: valid
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF, the last code point
    b"\xf0\x9f\x98\x80",  # an emoji (a surrogate pair in Java strings)
    b"\x00",
    b"\xc0\x80",  # overlong NUL (Java's "modified UTF-8")
    b"\xe0\x80\xaf",  # overlong "/"
    b"\xf0\x80\x80\xaf",  # overlong "/", 4 bytes
    b"\xed\xa0\x80",  # a lone high surrogate
    b"\xed\xbf\xbf",  # a lone low surrogate
    b"\xed\xa0\xbd\xed\xb8\x80",  # a surrogate pair encoded separately (CESU-8)
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # a 5-byte form
    b"\xe2\x82",  # truncated at the end
    b"\xe2\x82x",  # truncated before ASCII
    b"\x80",  # a lone continuation byte
    b"\xff",
]


def _strict_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@given(values=st.lists(st.binary(max_size=12) | st.sampled_from(UTF8_EDGES), min_size=1, max_size=40))
@example(values=UTF8_EDGES)
def test_utf8_check_agrees_with_a_strict_decoder(spark: SparkSession, values: list[bytes]) -> None:
    """On Spark 4 this checks is_valid_utf8, on Spark 3.5 the decode/encode round trip."""
    frame = spark.createDataFrame([(i, value) for i, value in enumerate(values)], "i int, value binary")
    got = [
        row.valid for row in frame.orderBy("i").select(is_valid_utf8(F.col("value")).alias("valid")).collect()
    ]
    assert got == [_strict_utf8(value) for value in values]


def test_dead_letter_copy_example(kafka_frames: KafkaFrames) -> None:
    values: list[bytes | None] = [b"not json at all", b"\xff" * 300, b"", b"x"]
    rows = parsed(kafka_frames, values, max_event_bytes=100, copy_bytes=4)
    assert [(row.reason, row.raw, row.raw_size) for row in rows] == [
        ("invalid_json", b"not ", 15),
        ("oversized", b"\xff" * 4, 300),
        ("empty_value", b"", 0),
        ("invalid_json", b"x", 1),
    ]


@given(
    values=st.lists(
        st.one_of(st.none(), st.binary(max_size=200), labelled_records().map(lambda record: record.value)),
        min_size=1,
        max_size=30,
    ),
    copy_bytes=st.integers(0, 120),
    max_event_bytes=st.sampled_from([16, 100, MAX_EVENT_BYTES]),
)
def test_dead_letter_copy_is_bounded_and_size_is_full(
    kafka_frames: KafkaFrames, values: list[bytes | None], copy_bytes: int, max_event_bytes: int
) -> None:
    rows = parsed(kafka_frames, values, max_event_bytes=max_event_bytes, copy_bytes=copy_bytes)
    assert len(rows) == len(values)
    for value, row in zip(values, rows, strict=True):
        if row.reason is None:
            assert (row.raw, row.raw_size) == (None, None)
        elif value is None:  # a tombstone: nothing to copy, no size
            assert (row.reason, row.raw, row.raw_size) == ("empty_value", None, None)
        else:
            assert row.raw_size == len(value)
            assert bytes(row.raw) == value[:copy_bytes]
            assert row.reason != "oversized" or len(value) > max_event_bytes


def test_an_event_time_past_its_records_timestamp_and_the_skew_is_a_dead_letter(
    kafka_frames: KafkaFrames,
) -> None:
    """A clock decades ahead would drag the watermark along; within the skew an event is an event."""
    now_ms = int(time.time() * 1000)
    kafka_frames = dataclasses.replace(
        kafka_frames, produced=dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=now_ms)
    )
    times = {
        now_ms - 86_400_000: None,
        now_ms + 30 * 60_000: None,
        now_ms + 3_600_000: None,  # the skew itself is allowed
        now_ms + 3_600_001: "future_ts",
        now_ms + 2 * 3_600_000: "future_ts",
        4_102_444_800_000: "future_ts",  # 2100
    }
    values = [b'{"event_id": "e%d", "site_id": "s", "ts": %d}' % (i, ts) for i, ts in enumerate(times)]
    rows = parsed(kafka_frames, values, max_ahead=MAX_AHEAD)
    assert [row.reason for row in rows] == list(times.values())
    assert [row.event_ms for row in rows if row.reason is None] == list(times)[:3]
    late_clock = parsed(kafka_frames, values[3:5], max_ahead="3 hours")
    assert [row.reason for row in late_clock] == [None, None]
    a_day = parsed(kafka_frames, values[4:5], max_ahead="1 day")
    assert [row.reason for row in a_day] == [None]
