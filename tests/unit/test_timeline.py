"""The audit's sampler counts acknowledged events in the units the pipeline accounts for; the time
unable to write is read off its samples, gaps included."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.audit.model import Sample
from harness.audit.timeline import Sampler, stalls, unable_to_write_s
from harness.model.history import History, Op
from harness.stack.driver import DriverSpec


def ok(index: int, event_id: str, kind: str = "valid") -> Op:
    return Op("ok", index, 0.0, kind, event_id, "site", 1_000, None, "topic", 0, index)


@pytest.mark.parametrize(("dedup", "expected"), [(False, 5), (True, 3)])
def test_resent_copies_count_once_only_when_the_pipeline_deduplicates(dedup: bool, expected: int) -> None:
    history = History()
    # e1 is sent three times; the two dead letters share an id, but each copy is dead-lettered.
    for index, (event_id, kind) in enumerate(
        [("e1", "valid"), ("e1", "valid"), ("e1", "valid"), ("d", "dead"), ("d", "dead")]
    ):
        history.append(ok(index, event_id, kind))
    history.append(Op("info", 5, 0.0, "valid", "e2", "site", 1_000, error="timed out"))
    spec = DriverSpec(topic="t", keyspace="k", checkpoint=Path("c"), dedup=dedup)
    trial = SimpleNamespace(name="t", history=history, spec=spec)
    assert Sampler(trial, started=0.0).acknowledged() == expected  # type: ignore[arg-type]


def timeline(*points: tuple[float, int, int]) -> list[Sample]:
    """Samples from (seconds, acknowledged, counted)."""
    return [Sample(t, acknowledged, counted) for t, acknowledged, counted in points]


# Counting one sample behind acknowledging: every sample sees Cassandra take more.
STREAMING = timeline((0, 0, 0), (1, 100, 0), (2, 200, 100), (3, 300, 200), (4, 300, 300))


def test_a_stream_that_keeps_counting_stalls_for_one_sample_at_most() -> None:
    assert stalls(STREAMING) == [(1, 2), (2, 3), (3, 4)]
    assert unable_to_write_s(STREAMING, 0.0, None) == 1.0


def test_a_stall_runs_from_events_waiting_until_cassandra_accounts_for_more() -> None:
    samples = timeline(
        (0, 0, 0),
        (1, 100, 100),  # nothing waiting: an idle pipeline is not stalled
        (2, 100, 100),
        (3, 150, 100),  # events waiting from here
        (4, 200, 100),
        (5, 250, 100),
        (6, 250, 250),  # accounted for
    )
    assert stalls(samples) == [(3, 6)]
    assert unable_to_write_s(samples, 4.0, 6.0) == 3.0


def test_a_missing_sample_does_not_shorten_a_stall() -> None:
    """Cassandra down from 12 s to 19 s: its reads failed, so the sampler has no point there."""
    flat_after_the_gap = timeline((10, 100, 50), (11, 150, 50), (20, 500, 50), (21, 550, 550))
    counting_after_the_gap = timeline((10, 100, 50), (11, 150, 50), (20, 500, 500))
    assert unable_to_write_s(flat_after_the_gap, 12.0, None) == 11.0
    # The first sample after the gap already sees the writes: the stall lasted until then at most,
    # and is not taken to have ended at 11 s, the last sample before it.
    assert unable_to_write_s(counting_after_the_gap, 12.0, None) == 10.0


def test_a_count_that_dips_and_comes_back_is_no_progress() -> None:
    """A foreign write deletes a row and the job writes it again: nothing new accounted for."""
    samples = timeline((0, 100, 50), (1, 100, 40), (2, 100, 50), (3, 100, 100))
    assert stalls(samples) == [(0, 3)]


def test_the_stall_overlapping_the_fault_counts_whole_and_no_other() -> None:
    samples = timeline(
        (0, 100, 0),
        (5, 200, 100),  # the driver stopped ahead of the move, at 5 s
        (10, 300, 100),
        (15, 300, 300),  # counts caught up: recovery
        (30, 400, 300),  # a later stall, after the recovery: another step's
        (50, 400, 400),
    )
    assert stalls(samples) == [(0, 5), (5, 15), (30, 50)]
    assert unable_to_write_s(samples, 8.0, 15.0) == 10.0
    assert unable_to_write_s(samples, 8.0, None) == 20.0


def test_a_stall_never_ended_lasts_until_the_last_sample() -> None:
    samples = timeline((0, 100, 100), (1, 200, 100), (2, 300, 100), (9, 300, 100))
    assert stalls(samples) == [(1, 9)]
    assert unable_to_write_s(samples, 0.5, None) == 8.0


def test_no_fault_no_time_unable_to_write_and_no_stall_is_zero() -> None:
    assert unable_to_write_s(STREAMING, None, None) is None
    idle = timeline((0, 0, 0), (1, 100, 100), (2, 100, 100))
    assert unable_to_write_s(idle, 1.0, 2.0) == 0.0
    assert unable_to_write_s([], 1.0, 2.0) == 0.0


def test_samples_out_of_order_are_read_in_time_order() -> None:
    samples = timeline((3, 150, 100), (0, 0, 0), (6, 250, 250), (1, 100, 100))
    assert stalls(samples) == [(3, 6)]
