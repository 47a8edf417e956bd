"""The benchmark's poller, the visibility curve it samples from Cassandra's total, and the periodic
thread it shares with the resource monitor and the audit's sampler."""

from __future__ import annotations

import logging

import pytest

from harness.bench.run import Poller
from harness.eventually import Periodic, eventually


def test_a_failed_read_is_a_missing_sample() -> None:
    reads: list[int | Exception] = [12, RuntimeError("read timed out"), 15]

    def total() -> int:
        value = reads.pop(0) if reads else 15
        if isinstance(value, Exception):
            raise value
        return value

    poller = Poller(total, baseline=10).start()
    eventually(
        lambda: poller.latest, lambda n: n == 5, expected="a sample after the failed read", timeout_s=5
    )
    samples = poller.stop()
    assert [n for _, n in samples[:2]] == [2, 5]
    assert [t for t, _ in samples] == sorted(t for t, _ in samples)


def test_a_tick_that_raises_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise KeyError("gone")

    periodic = Periodic(tick, 0.01, name="test-periodic", log=logging.getLogger("harness.test"))
    with caplog.at_level(logging.WARNING, logger="harness.test"):
        periodic.start()
        eventually(lambda: len(ticks), lambda n: n >= 3, expected="ticks after the failed one", timeout_s=5)
        periodic.stop(timeout_s=5)
    assert [r.getMessage() for r in caplog.records] == ["KeyError: 'gone'"]
