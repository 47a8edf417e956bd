"""Benchmark latency and lag from cumulative curves: known curves give known answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.bench.latency import (
    delays,
    kept_up,
    lag_trend,
    latency_stats,
    monotone,
    quantile,
    value_at,
)


def test_every_event_takes_the_distance_between_the_curves() -> None:
    # 10 events acknowledged at t=1, 10 more at t=2; a batch shows 10 at t=3 and the rest at t=5.
    acked = [(1.0, 10), (2.0, 20)]
    visible = [(0.5, 0), (3.0, 10), (4.0, 10), (5.0, 20)]
    runs, unseen = delays(acked, visible)
    assert unseen == 0
    assert sorted(runs) == [(2.0, 10), (3.0, 10)]
    stats = latency_stats(acked, visible)
    assert stats.events == 20
    assert stats.p50_s == 2.0
    assert stats.p99_s == 3.0
    assert stats.max_s == 3.0
    assert stats.mean_s == pytest.approx(2.5)


def test_a_batch_that_splits_an_acknowledgement_run_splits_its_latencies() -> None:
    acked = [(1.0, 100)]
    visible = [(2.0, 30), (4.0, 100)]
    runs, _ = delays(acked, visible)
    assert sorted(runs) == [(1.0, 30), (3.0, 70)]


def test_a_steady_state_leaves_out_events_acknowledged_during_the_warm_up() -> None:
    # A start-up stall: the first 10 events wait 9 s, the next 10 only 1 s.
    acked = [(1.0, 10), (12.0, 20)]
    visible = [(10.0, 10), (13.0, 20)]
    assert latency_stats(acked, visible).p99_s == 9.0
    steady = latency_stats(acked, visible, since=11.0)
    assert steady.events == 10
    assert steady.p50_s == steady.p99_s == 1.0


def test_events_never_seen_are_counted_not_guessed() -> None:
    stats = latency_stats([(1.0, 10), (2.0, 25)], [(3.0, 10)])
    assert stats.unseen == 15
    assert stats.events == 25
    assert stats.p99_s == 2.0  # of the ten that were seen


def test_visible_before_acknowledged_is_clamped_to_zero() -> None:
    runs, _ = delays([(2.0, 5)], [(1.9, 5)])
    assert runs == [(0.0, 5)]


def test_no_events_no_quantiles() -> None:
    stats = latency_stats([], [(1.0, 0)])
    assert stats.events == 0
    assert stats.p50_s is None


def test_a_dipping_sample_cannot_uncount_events() -> None:
    assert monotone([(2.0, 5), (1.0, 3), (3.0, 4)]) == [(1.0, 3), (2.0, 5), (3.0, 5)]


def test_weighted_quantile_uses_nearest_rank() -> None:
    runs = [(1.0, 98), (10.0, 2)]
    assert quantile(runs, 0.98) == 1.0
    assert quantile(runs, 0.99) == 10.0
    assert quantile([], 0.5) is None


def test_value_at_is_a_step_function() -> None:
    curve = [(1.0, 10), (2.0, 20)]
    assert value_at(curve, 0.5) == 0
    assert value_at(curve, 1.0) == 10
    assert value_at(curve, 1.99) == 10
    assert value_at(curve, 5.0) == 20


def _sawtooth(rate: float, capacity: float, seconds: int, batch_s: float = 2.0) -> tuple[list, list]:
    """Acks at `rate`; a consumer that, every `batch_s`, shows what was acknowledged, at most
    `capacity * batch_s` more events: a sawtooth when it keeps up, a growing lag when it does not."""
    acked = [(t / 10, int(rate * t / 10)) for t in range(seconds * 10 + 1)]
    visible, shown = [], 0
    for tick in range(seconds * 10 + 1):
        t = tick / 10
        if tick % int(batch_s * 10) == 0:
            shown = min(value_at(acked, t), int(shown + capacity * batch_s))
        visible.append((t, shown))
    return acked, visible


def test_a_consumer_with_spare_capacity_keeps_up() -> None:
    acked, visible = _sawtooth(rate=10_000, capacity=15_000, seconds=60)
    trend = lag_trend(acked, visible, 10.0, 60.0)
    assert abs(trend.slope_per_s) < 300
    assert kept_up(trend, 10_000)


def test_a_consumer_short_of_capacity_shows_a_growing_lag() -> None:
    acked, visible = _sawtooth(rate=10_000, capacity=8_000, seconds=60)
    trend = lag_trend(acked, visible, 10.0, 60.0)
    assert trend.slope_per_s > 1_500
    assert not kept_up(trend, 10_000)


def test_a_bounded_but_huge_lag_is_not_keeping_up() -> None:
    acked = [(0.0, 0), (60.0, 600_000)]
    visible = [(t, 0) for t in range(61)]  # nothing visible at all, but a flat trend is impossible
    trend = lag_trend(acked, visible, 0.0, 60.0)
    assert not kept_up(trend, 10_000)


@given(
    st.lists(st.tuples(st.floats(0, 100), st.integers(0, 1_000)), min_size=1, max_size=30),
    st.lists(st.tuples(st.floats(0, 200), st.integers(0, 1_000)), min_size=1, max_size=30),
)
def test_every_acknowledged_event_is_either_timed_or_unseen(acked: list, visible: list) -> None:
    runs, unseen = delays(acked, visible)
    total = monotone(acked)[-1][1]
    assert sum(w for _, w in runs) + unseen == total
    assert all(latency >= 0 for latency, _ in runs)
