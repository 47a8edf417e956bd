"""End-to-end latency and lag from two cumulative curves, without a timestamp per event.

The generator records A(t), how many events had been acknowledged by time t (read after each
`poll()`, which is when librdkafka hands acknowledgements to the application). A poller samples V(t),
how many events Cassandra shows (the sum of all counts, minus what it showed before the phase).
Taking events in acknowledgement order, the k-th acknowledged event's latency is

    first t with V(t) >= k   minus   the time A reached k,

the horizontal distance between the two curves (the "virtual delay" of queueing theory). This is
exact when events become visible in the order they were acknowledged, which holds per Kafka
partition, and whole micro-batches become visible at once; the poll interval bounds the error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.bench.analysis import fit

Curve = Sequence[tuple[float, int]]  # (monotonic seconds, cumulative events), nondecreasing in both


@dataclass(frozen=True)
class LatencyStats:
    events: int  # acknowledged events the distribution covers
    unseen: int  # of those, never seen in Cassandra while sampling
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    mean_s: float | None


def monotone(curve: Curve) -> list[tuple[float, int]]:
    """Running maximum of the counts, in time order (a sample can never un-count an event)."""
    out: list[tuple[float, int]] = []
    best = 0
    for t, n in sorted(curve):
        best = max(best, n)
        out.append((t, best))
    return out


def delays(acked: Curve, visible: Curve) -> tuple[list[tuple[float, int]], int]:
    """Per run of events with one acknowledgement time: (latency seconds, number of events).

    Returns the runs and the number of acknowledged events never seen in `visible`. Latencies are
    clamped at 0 (an event cannot be visible before it was acknowledged: a sample taken between the
    broker's acknowledgement and the producer's poll would otherwise go negative).
    """
    acks, seen = monotone(acked), monotone(visible)
    runs: list[tuple[float, int]] = []
    j = 0
    done = 0  # events (1..done) already assigned
    for t_ack, total in acks:
        while done < total:
            k = done + 1
            while j < len(seen) and seen[j][1] < k:
                j += 1
            if j == len(seen):
                return runs, total_of(acks) - done
            upto = min(total, seen[j][1])
            runs.append((max(seen[j][0] - t_ack, 0.0), upto - done))
            done = upto
    return runs, total_of(acks) - done


def total_of(curve: Curve) -> int:
    return curve[-1][1] if curve else 0


def quantile(runs: Sequence[tuple[float, int]], q: float) -> float | None:
    """Weighted quantile (nearest rank) of (value, weight) runs."""
    total = sum(w for _, w in runs)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, weight in sorted(runs):
        seen += weight
        if seen >= rank:
            return value
    return max(v for v, _ in runs)


def latency_stats(acked: Curve, visible: Curve, since: float | None = None) -> LatencyStats:
    """The distribution over all acknowledged events, or over those acknowledged at or after `since`
    (a steady state: the first k0 events are dropped from both curves, in acknowledgement order)."""
    if since is not None:
        acks = monotone(acked)
        k0 = max((n for t, n in acks if t < since), default=0)
        acked = [(t, n - k0) for t, n in acks if t >= since]
        visible = [(t, max(n - k0, 0)) for t, n in monotone(visible)]
    runs, unseen = delays(acked, visible)
    events = sum(w for _, w in runs)
    return LatencyStats(
        events=events + unseen,
        unseen=unseen,
        p50_s=quantile(runs, 0.50),
        p95_s=quantile(runs, 0.95),
        p99_s=quantile(runs, 0.99),
        max_s=max((v for v, _ in runs), default=None),
        mean_s=sum(v * w for v, w in runs) / events if events else None,
    )


def value_at(curve: Curve, t: float) -> int:
    """Step function: the last count at or before `t` (0 before the first point)."""
    lo, hi = 0, len(curve)
    while lo < hi:
        mid = (lo + hi) // 2
        if curve[mid][0] <= t:
            lo = mid + 1
        else:
            hi = mid
    return curve[lo - 1][1] if lo else 0


@dataclass(frozen=True)
class LagTrend:
    """Lag (acknowledged but not yet visible events) over the judged part of a live phase."""

    samples: int
    slope_per_s: float  # least-squares growth of the lag, events per second
    mean: float
    final: int
    max: int


def lag_trend(acked: Curve, visible: Curve, start: float, end: float) -> LagTrend:
    """The lag A(t) - V(t) at each visible sample in [start, end], and its linear trend."""
    acks, seen = monotone(acked), monotone(visible)
    points = [(t, value_at(acks, t) - n) for t, n in seen if start <= t <= end]
    if len(points) < 2:
        final = points[-1][1] if points else 0
        return LagTrend(len(points), 0.0, float(final), final, final)
    slope, _ = fit(points)
    return LagTrend(
        samples=len(points),
        slope_per_s=slope,
        mean=sum(lag for _, lag in points) / len(points),
        final=points[-1][1],
        max=max(lag for _, lag in points),
    )


def kept_up(trend: LagTrend, rate: float, tolerance: float = 0.03, max_lag_s: float = 10.0) -> bool:
    """No growing lag: the lag grows by less than `tolerance` of the input rate, and stays bounded.

    A consumer that keeps up shows a sawtooth (a batch's worth of lag, then none) with no trend; one
    that is short of capacity by x% shows a lag growing at x% of the rate. The bound on the final lag
    rejects a consumer that fell behind early (a start-up stall) and never caught up.
    """
    return trend.slope_per_s <= tolerance * rate and trend.final <= max_lag_s * rate
