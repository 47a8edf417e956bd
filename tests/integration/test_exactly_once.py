"""Exactly-once counts on the real stack: Kafka, Cassandra, and a driver submitted to a Spark master."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from harness.driver import consumed_offsets, progress, source_offsets
from harness.trial import Trial
from harness.workload import WorkloadSpec

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on a window boundary


def test_every_acknowledged_event_is_counted_once(trial: Callable[..., Trial]) -> None:
    t = trial(max_offsets_per_trigger=6_000)
    sent = t.produce(
        WorkloadSpec(
            seed=1,
            events=20_000,
            sites=60,
            zipf_s=1.1,
            start_ms=START_MS,
            spread_ms=6 * 60_000,
            disorder_ms=5_000,
        )
    )
    assert sent.acknowledged == 20_000, sent
    t.start_driver()
    t.wait_consumed()
    verdict = t.assert_exact()
    assert verdict.summary.counted_total == 20_000
    snapshot = t.snapshot()
    # A skewed workload, really: the hottest site has several times the median site's views.
    per_site = Counter[str]()
    for (site, _), views in snapshot.counts.items():
        per_site[site] += views
    ordered = sorted(per_site.values())
    assert len(per_site) >= 50
    assert ordered[-1] > 5 * ordered[len(ordered) // 2]


def test_graceful_restart_from_checkpoint_stays_exact(trial: Callable[..., Trial]) -> None:
    t = trial(max_offsets_per_trigger=3_000)
    t.produce(WorkloadSpec(seed=2, events=8_000, sites=50, start_ms=START_MS, spread_ms=4 * 60_000))
    first = t.start_driver()
    t.wait_consumed()
    assert first.stop() == 0, first.logs()[-3000:]
    reports_of_first = len(progress(t.spec))
    committed_by_first = consumed_offsets(t.spec)
    # More events for the same windows and for new ones: the second driver must add to the state
    # the first left in the checkpoint, not start over and not re-read what was committed.
    t.produce(
        WorkloadSpec(seed=3, events=8_000, sites=50, start_ms=START_MS + 2 * 60_000, spread_ms=4 * 60_000)
    )
    t.start_driver()
    t.wait_consumed()
    verdict = t.assert_exact()
    assert verdict.summary.counted_total == 16_000
    second_run = [p for p in progress(t.spec)[reports_of_first:] if p["numInputRows"] > 0]
    assert second_run, "the second driver reported no batch with input"
    assert source_offsets(second_run[0], t.spec.topic, "startOffset") == committed_by_first


def test_malformed_records_are_dead_lettered_and_counts_stay_exact(trial: Callable[..., Trial]) -> None:
    t = trial()
    sent = t.produce(
        WorkloadSpec(
            seed=4,
            events=6_000,
            sites=50,
            start_ms=START_MS,
            malformed_fraction=0.15,
            max_event_bytes=64 * 1024,
        )
    )
    t.start_driver()
    t.wait_consumed()
    verdict = t.assert_exact()
    snapshot = t.snapshot()
    expected_reasons = {
        (t.spec.topic, op.partition, op.offset): op.reason
        for op in t.history.acknowledged()
        if op.kind == "dead"
    }
    assert len(expected_reasons) >= 600
    assert set(expected_reasons.values()) >= {
        "invalid_json",
        "invalid_utf8",
        "missing_site_id",
        "missing_event_id",
        "invalid_ts",
        "oversized",
    }
    assert dict(snapshot.dead_letters) == expected_reasons
    assert verdict.summary.counted_total + verdict.summary.dead_lettered == sent.acknowledged


def test_events_behind_the_watermark_are_reported_not_lost(trial: Callable[..., Trial]) -> None:
    t = trial(allowed_lateness="1 minute")
    t.produce(
        WorkloadSpec(
            seed=5,
            events=3_000,
            sites=50,
            start_ms=START_MS + 10 * 60_000,
            spread_ms=5 * 60_000,
            disorder_ms=0,
        )
    )
    t.start_driver()
    t.wait_consumed()
    # The watermark is now near START + 14 min: events from the first minutes are too late.
    late = t.produce(
        WorkloadSpec(seed=6, events=500, sites=50, start_ms=START_MS, spread_ms=60_000, disorder_ms=0)
    )
    t.produce(
        WorkloadSpec(
            seed=7, events=500, sites=50, start_ms=START_MS + 15 * 60_000, spread_ms=60_000, disorder_ms=0
        )
    )
    t.wait_consumed()
    verdict = t.assert_exact()
    assert verdict.summary.late == late.acknowledged == 500
    assert verdict.summary.counted_total == 3_500


def test_checker_catches_an_incrementing_sink_fed_a_replayed_batch(trial: Callable[..., Trial]) -> None:
    """Negative control: a sink that adds instead of overwriting, crashed after writing batch 1 and
    before Spark committed it, counts batch 1 twice; the checker must say so, row by row."""
    t = trial(
        max_offsets_per_trigger=2_000,
        sink="tests.wrong_sinks:IncrementingSink",
        failpoints=("sink.after_write=crash@1",),
    )
    t.produce(WorkloadSpec(seed=8, events=6_000, sites=50, start_ms=START_MS))
    crashed = t.start_driver()
    t.wait_exit(crashed)
    t.start_driver(failpoints=())
    t.wait_consumed()
    verdict = t.verdict()
    assert verdict.valid is False, verdict.explain()
    assert verdict.summary is not None
    assert verdict.summary.duplicated > 0
    assert verdict.summary.lost == 0
    assert all(row.duplicated > 0 for row in verdict.rows)


def test_the_real_sink_survives_the_same_replay(trial: Callable[..., Trial]) -> None:
    """The control's control: the same crash between write and commit, with Tally's sink."""
    t = trial(max_offsets_per_trigger=2_000, failpoints=("sink.after_write=crash@1",))
    t.produce(WorkloadSpec(seed=8, events=6_000, sites=50, start_ms=START_MS))
    crashed = t.start_driver()
    t.wait_exit(crashed)
    assert "FAILPOINT sink.after_write crash batch=1" in crashed.logs()
    t.start_driver(failpoints=())
    t.wait_consumed()
    verdict = t.assert_exact()
    assert verdict.summary.counted_total == 6_000
