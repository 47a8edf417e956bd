"""Faults against the real stack: the real sink stays exact through each; the wrong sinks are caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.nemesis import Fault
from harness.scenario import (
    Check,
    EnsureDriver,
    Heal,
    Hold,
    Inject,
    KillDriverMidway,
    Produce,
    Scenario,
    StartDriver,
    Step,
    StopDriver,
    WaitConsumed,
    WaitDriverExit,
    WaitProgress,
    run,
)
from harness.trial import Trial
from harness.workload import WorkloadSpec

pytestmark = pytest.mark.chaos

START_MS = 1_767_225_600_000
SEED = 20261124


def load(seed: int, events: int, minute: int = 0) -> Produce:
    return Produce(
        WorkloadSpec(
            seed=seed,
            events=events,
            sites=50,
            start_ms=START_MS + minute * 60_000,
            spread_ms=4 * 60_000,
            malformed_fraction=0.01,
        )
    )


def crash_in_a_fresh_batch(point: str, sink: str | None = None) -> tuple[Step, ...]:
    """Phase A committed; phase B (new windows, one batch) crashes at `point`, then replays."""
    return (
        load(SEED, 4_000),
        StartDriver(sink=sink),
        WaitConsumed(),
        StopDriver(),
        load(SEED + 1, 1_500, minute=30),
        StartDriver(failpoints=(f"{point}=crash@0+",), sink=sink),
        WaitDriverExit(),
        StartDriver(sink=sink),
        WaitConsumed(),
    )


def outage(fault: Fault, hold_s: float = 10) -> tuple[Step, ...]:
    return (
        load(SEED, 6_000),
        StartDriver(),
        WaitProgress(),
        Inject(fault),
        Hold(hold_s),
        Heal(fault),
        load(SEED + 1, 3_000, minute=2),
        EnsureDriver(),
        WaitConsumed(),
        Check(),
    )


SCENARIOS = [
    Scenario(
        "driver-sigkill",
        (load(SEED, 12_000), StartDriver(), KillDriverMidway(), StartDriver(), WaitConsumed(), Check()),
        seed=SEED,
    ),
    *(
        Scenario(f"crash-{point.removeprefix('sink.')}", (*crash_in_a_fresh_batch(point), Check()), seed=SEED)
        for point in ("sink.before_write", "sink.mid_write", "sink.after_write")
    ),
    Scenario("spark-worker-killed", outage(Fault("kill", "spark-worker")), seed=SEED),
    Scenario("kafka-killed", outage(Fault("kill", "kafka")), seed=SEED),
    Scenario("kafka-paused", outage(Fault("pause", "kafka")), seed=SEED),
    Scenario("cassandra-killed", outage(Fault("kill", "cassandra")), seed=SEED),
    Scenario("cassandra-paused", outage(Fault("pause", "cassandra")), seed=SEED),
]

NEGATIVE_CONTROLS = [
    Scenario(
        "seed-uuid1-rows",
        (*crash_in_a_fresh_batch("sink.after_write", "tests.wrong_sinks:UuidRowsSink"), Check("duplicated")),
        seed=SEED,
    ),
    Scenario(
        "read-add-write",
        (
            *crash_in_a_fresh_batch("sink.after_write", "tests.wrong_sinks:IncrementingSink"),
            Check("duplicated"),
        ),
        seed=SEED,
    ),
    Scenario(
        "commit-then-write",
        (*crash_in_a_fresh_batch("sink.mid_write", "tests.wrong_sinks:CommitThenWriteSink"), Check("lost")),
        seed=SEED,
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_pipeline_stays_exact(scenario: Scenario, trial: Callable[..., Trial]) -> None:
    run(scenario, trial(max_offsets_per_trigger=2_000))


@pytest.mark.parametrize("scenario", NEGATIVE_CONTROLS, ids=lambda s: s.name)
def test_a_wrong_sink_is_caught(scenario: Scenario, trial: Callable[..., Trial]) -> None:
    run(scenario, trial(max_offsets_per_trigger=2_000))
