"""The live generator's pacing: it holds the rate asked, and wakes once a tick, not once an event,
so it leaves the cores it shares with the pipeline to the pipeline."""

from __future__ import annotations

import pytest

from harness.bench.loadgen import TICK_S, paced


class FakeClock:
    """Time moves when the generator sleeps, and when the test says sending took time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def run(rate: float, seconds: float, per_event_s: float) -> tuple[int, int, int]:
    """(events sent, wake-ups, sleeps) over `seconds` of the fake clock."""
    fake = FakeClock()
    sent = wakes = 0
    for due in paced(rate, fake.now, fake.now + seconds, fake.clock, fake.sleep):
        wakes += 1
        sent += due
        fake.now += due * per_event_s
    return sent, wakes, fake.sleeps


def test_a_low_rate_wakes_once_a_tick() -> None:
    sent, wakes, sleeps = run(10_000, 2.0, per_event_s=5e-6)
    assert sent == pytest.approx(20_000, abs=10_000 * TICK_S * 2)
    # Sleeping 1/rate whenever nothing was due, as it did, woke 39,000 times here.
    assert wakes <= 2.0 / TICK_S + 1
    assert sleeps == wakes


@pytest.mark.parametrize("rate", [1, 500, 150_000])
def test_the_rate_asked_is_held(rate: float) -> None:
    sent, _, _ = run(rate, 3.0, per_event_s=4e-6)
    assert sent == pytest.approx(rate * 3.0, rel=0.01, abs=rate * TICK_S + 1)


def test_behind_it_sends_without_sleeping_and_never_more_than_20_ms_at_once() -> None:
    fake = FakeClock()
    dues = []
    for due in paced(10_000, fake.now, fake.now + 1.0, fake.clock, fake.sleep):
        dues.append(due)
        if len(dues) == 1:
            fake.now += 0.5  # a stall: 5,000 events are due at the next wake-up
        else:
            fake.now += due * 1e-6
    assert max(dues) == 200
    assert fake.sleeps < len(dues)
