"""Workload generator: deterministic per seed, labels agree with an independent classifier, skewed."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model import events
from harness.model.events import PageView, window_start_ms
from harness.workload.generator import Record, WorkloadSpec, generate

seeds = st.integers(min_value=0, max_value=2**32)


def classify(value: bytes | None, max_event_bytes: int) -> PageView | str:
    """Reference rules for what the pipeline must do, written independently of the generator."""
    if not value:
        return events.EMPTY_VALUE
    if len(value) > max_event_bytes:
        return events.OVERSIZED
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return events.INVALID_UTF8
    try:
        body = json.loads(text)
    except ValueError:
        return events.INVALID_JSON
    if not isinstance(body, dict):
        return events.INVALID_JSON
    site, event_id, ts = body.get("site_id"), body.get("event_id"), body.get("ts")
    if not isinstance(site, str) or not site.strip():
        return events.MISSING_SITE_ID
    if not isinstance(event_id, str) or not event_id:
        return events.MISSING_EVENT_ID
    if not isinstance(ts, int) or isinstance(ts, bool):
        return events.INVALID_TS
    if ts > time.time() * 1000 + 3_600_000:
        return events.FUTURE_TS
    return PageView(event_id, site, body["page"], ts)


def records(spec: WorkloadSpec) -> list[Record]:
    return list(generate(spec))


@settings(max_examples=25, deadline=None)
@given(seed=seeds, fraction=st.sampled_from([0.0, 0.3, 1.0]))
def test_same_seed_gives_same_records_and_another_seed_does_not(seed: int, fraction: float) -> None:
    spec = WorkloadSpec(seed=seed, events=60, malformed_fraction=fraction)
    assert records(spec) == records(spec)
    assert records(spec) != records(replace(spec, seed=seed + 1))


@settings(max_examples=20, deadline=None)
@given(seed=seeds)
def test_every_label_agrees_with_the_reference_classifier(seed: int) -> None:
    spec = WorkloadSpec(seed=seed, events=120, malformed_fraction=0.4, max_event_bytes=2048)
    for n, record in enumerate(records(spec)):
        verdict = classify(record.value, spec.max_event_bytes)
        if record.expected.kind == "valid":
            assert isinstance(verdict, PageView), (n, record)
            assert (verdict.event_id, verdict.site_id, verdict.ts_ms) == (
                record.expected.event_id,
                record.expected.site_id,
                record.expected.ts_ms,
            )
            assert record.key == verdict.site_id.encode()
        else:
            assert verdict == record.expected.reason, (n, record)


def shape(record: Record) -> str:
    """Which malformation a dead record is, told apart by looking at its bytes."""
    reason = record.expected.reason
    if reason in (
        events.EMPTY_VALUE,
        events.INVALID_UTF8,
        events.OVERSIZED,
        events.MISSING_EVENT_ID,
        events.FUTURE_TS,
    ):
        return str(reason)
    try:
        body = json.loads(record.value or b"")
    except ValueError:
        return f"{reason}/unparseable"
    if not isinstance(body, dict):
        return f"{reason}/not an object"
    field = {events.MISSING_SITE_ID: "site_id", events.INVALID_TS: "ts"}[str(reason)]
    return f"{reason}/{'present' if field in body else 'absent'}"


def test_every_malformation_appears_when_most_records_are_malformed() -> None:
    spec = WorkloadSpec(seed=7, events=40, malformed_fraction=0.9)
    shapes = {shape(r) for r in records(spec) if r.expected.kind == "dead"}
    assert {s.split("/")[0] for s in shapes} == set(events.DEAD_REASONS)
    assert shapes == {
        "empty_value",
        "invalid_json/unparseable",
        "invalid_json/not an object",
        "invalid_utf8",
        "missing_site_id/absent",
        "missing_site_id/present",
        "missing_event_id",
        "invalid_ts/absent",
        "invalid_ts/present",
        "future_ts",
        "oversized",
    }


def test_no_malformed_records_by_default_and_some_carry_extra_fields() -> None:
    batch = records(WorkloadSpec(seed=3, events=300))
    assert {r.expected.kind for r in batch} == {"valid"}
    known = {"event_id", "site_id", "page", "ts"}
    extra = [r for r in batch if set(json.loads(r.value or b"")) - known]
    assert 0 < len(extra) < len(batch)


def test_oversized_records_exceed_the_limit_and_valid_ones_do_not() -> None:
    spec = WorkloadSpec(seed=11, events=200, malformed_fraction=0.5, max_event_bytes=4096)
    sizes = {kind: [len(r.value or b"") for r in records(spec) if r.expected.reason == kind]
             for kind in (None, events.OVERSIZED)}  # fmt: skip
    assert sizes[events.OVERSIZED]
    assert min(sizes[events.OVERSIZED]) > spec.max_event_bytes
    assert max(sizes[None]) <= spec.max_event_bytes


@settings(max_examples=25, deadline=None)
@given(seed=seeds, events_=st.integers(1, 200), disorder=st.integers(0, 5_000))
def test_event_ids_are_unique_and_event_times_have_bounded_disorder(
    seed: int, events_: int, disorder: int
) -> None:
    spec = WorkloadSpec(seed=seed, events=events_, spread_ms=60_000, disorder_ms=disorder)
    batch = records(spec)
    ids = [r.expected.event_id for r in batch]
    assert ids == [f"{seed}-{n}" for n in range(events_)]
    for n, record in enumerate(batch):
        base = spec.start_ms + n * spec.spread_ms // events_
        assert record.expected.ts_ms is not None
        assert base - disorder <= record.expected.ts_ms <= base


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    fraction=st.sampled_from([0.1, 0.5, 1.0]),
    delay=st.integers(1, 50),
    malformed=st.sampled_from([0.0, 0.3]),
)
def test_re_sends_are_byte_identical_copies_sent_a_bounded_number_of_records_later(
    seed: int, fraction: float, delay: int, malformed: float
) -> None:
    spec = WorkloadSpec(seed=seed, events=120, malformed_fraction=malformed)
    originals = records(spec)
    sent = records(replace(spec, resend_fraction=fraction, resend_delay_records=delay))
    assert sent == records(replace(spec, resend_fraction=fraction, resend_delay_records=delay))
    first_seen: dict[Record, int] = {}
    copies = 0
    for position, record in enumerate(sent):
        if record in first_seen:
            copies += 1
            # After 1..delay later records, plus the copies due before it (sent first).
            assert 1 <= position - first_seen.pop(record) <= delay + copies
        else:
            first_seen[record] = position
    assert list(dict.fromkeys(sent)) == originals, "the originals, in their order, unchanged"
    assert len(sent) == len(originals) + copies
    if fraction == 1.0:
        assert copies == len(originals)


def test_no_re_sends_by_default() -> None:
    batch = records(WorkloadSpec(seed=3, events=500))
    assert len({r.expected.event_id for r in batch}) == len(batch)


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_zipf_skew_makes_site_000_the_most_frequent(seed: int) -> None:
    sites = Counter(r.expected.site_id for r in records(WorkloadSpec(seed=seed, events=1000)))
    (top, top_count), (_, second_count) = sites.most_common(2)
    assert top == "site-000"
    # s=1.1 over 10 sites gives site-000 about 2.1 times site-001's share.
    assert top_count > 1.5 * second_count


def test_no_skew_spreads_sites_evenly() -> None:
    sites = Counter(r.expected.site_id for r in records(WorkloadSpec(1, 5000, zipf_s=0.0)))
    assert len(sites) == 10
    assert max(sites.values()) < 1.3 * min(sites.values())


@pytest.mark.parametrize(
    "bad",
    [
        {"events": -1},
        {"sites": 0},
        {"malformed_fraction": 1.5},
        {"disorder_ms": -1},
        {"resend_fraction": -0.1},
        {"resend_delay_records": 0},
    ],
)
def test_spec_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        WorkloadSpec(seed=0, **{"events": 10, **bad})  # type: ignore[arg-type]


def test_window_start_is_epoch_aligned_and_floors() -> None:
    assert window_start_ms(1_700_000_039_999, 60_000) == 1_699_999_980_000
    assert window_start_ms(1_700_000_040_000, 60_000) == 1_700_000_040_000
    assert window_start_ms(-1, 60_000) == -60_000
    with pytest.raises(ValueError, match="positive"):
        window_start_ms(5, 0)


def test_pageview_wire_format_uses_ts_in_milliseconds() -> None:
    view = PageView("e-1", "site-001", "/", 1_700_000_000_123)
    assert json.loads(view.to_json_bytes()) == {
        "event_id": "e-1",
        "site_id": "site-001",
        "page": "/",
        "ts": 1_700_000_000_123,
    }


def test_a_future_fraction_dates_events_decades_ahead_as_future_ts_dead_letters() -> None:
    spec = WorkloadSpec(seed=5, events=2_000, future_fraction=0.01)
    future = [r for r in records(spec) if r.expected.reason == events.FUTURE_TS]
    assert 5 <= len(future) <= 40
    for record in future:
        assert classify(record.value, spec.max_event_bytes) == events.FUTURE_TS
    assert records(replace(spec, future_fraction=0.0)) == records(WorkloadSpec(seed=5, events=2_000))
