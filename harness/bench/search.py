"""Which live rate to try next, from the steps tried so far (pure): grow until the consumer falls
behind, then bisect between the best rate kept up with and the lowest one that was not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    target_rate: float
    achieved_rate: float  # what the generator really sent, events/s
    kept_up: bool
    lag_slope: float = 0.0  # growth of the lag, events/s: sent - consumed

    @property
    def capacity(self) -> float | None:
        """A step that fell behind shows what the consumer did manage: achieved - lag growth."""
        if self.kept_up or self.lag_slope <= 0:
            return None
        return self.achieved_rate - self.lag_slope

    @property
    def generator_limited(self) -> bool:
        return generator_fell_short(self.target_rate, self.achieved_rate)


def generator_fell_short(target_rate: float, achieved_rate: float) -> bool:
    """The generator sent more than 5% less than asked: the step measured the generator, not the
    consumer."""
    return achieved_rate < 0.95 * target_rate


@dataclass(frozen=True)
class SearchPolicy:
    start: float
    max_steps: int = 3
    grow: float = 1.5
    # Stop bisecting once the bracket is this narrow (hi / lo).
    resolution: float = 1.15
    granularity: float = 1_000.0


def best_kept_up(steps: Sequence[Step]) -> Step | None:
    """The highest step kept up with: its *achieved* rate is what the consumer sustained."""
    good = [s for s in steps if s.kept_up]
    return max(good, key=lambda s: s.achieved_rate, default=None)


def next_rate(steps: Sequence[Step], policy: SearchPolicy) -> float | None:
    """The next target rate, or None when the search is done."""
    if len(steps) >= policy.max_steps:
        return None
    if not steps:
        return _round(policy.start, policy)
    passed = [s.achieved_rate for s in steps if s.kept_up]
    lo = max(passed, default=None)
    # A step that fell behind bounds the rate by what was really sent, even when the generator sent
    # less than asked: the consumer did not keep up with that.
    above = [s for s in steps if not s.kept_up and (lo is None or s.achieved_rate > lo)]
    ceiling = min(above, key=lambda s: s.achieved_rate, default=None)
    if ceiling is None:
        if any(s.generator_limited and s.kept_up for s in steps):
            # The consumer kept up with all the generator could send: going higher measures nothing.
            return None
        assert lo is not None
        # `start` is an informed guess (from the drain rate): climb to it at once if it is higher.
        candidate = max(lo * policy.grow, policy.start)
    elif lo is not None and ceiling.achieved_rate / lo <= policy.resolution:
        return None
    else:
        hi = ceiling.achieved_rate
        # Just below the capacity the failed step showed, if it is inside the bracket.
        shown = ceiling.capacity
        floor = lo if lo is not None else 0.0
        if shown is not None and floor < 0.95 * shown < hi:
            candidate = 0.95 * shown
        elif lo is None:
            candidate = hi / policy.grow
        else:
            candidate = (lo * hi) ** 0.5
    rate = _round(candidate, policy)
    if any(abs(rate - s.target_rate) < policy.granularity / 2 for s in steps):
        return None
    return rate


def _round(rate: float, policy: SearchPolicy) -> float:
    return max(policy.granularity, round(rate / policy.granularity) * policy.granularity)
