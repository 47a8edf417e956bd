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
    ResumeZombie,
    Scenario,
    ScenarioFailed,
    StartDriver,
    Step,
    StopDriver,
    WaitConsumed,
    WaitDriverExit,
    WaitFrozen,
    WaitProgress,
    run,
)
from harness.trial import Trial
from harness.workload import WorkloadSpec

pytestmark = pytest.mark.chaos

START_MS = 1_767_225_600_000
SEED = 20261124


def load(seed: int, events: int, minute: int = 0, minutes: int = 4) -> Produce:
    return Produce(
        WorkloadSpec(
            seed=seed,
            events=events,
            sites=50,
            start_ms=START_MS + minute * 60_000,
            spread_ms=minutes * 60_000,
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


def zombie(sink: str | None = None) -> tuple[Step, ...]:
    """Batch 1 freezes half written; the replacement reruns it and goes on updating the same windows
    (two windows over six batches), then the zombie wakes up and writes its stale second half."""
    return (
        load(SEED, 12_000, minutes=2),
        StartDriver(failpoints=("sink.mid_write=stop@1",), sink=sink),
        WaitFrozen(),
        StartDriver(sink=sink),
        WaitConsumed(),
        ResumeZombie(),
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
    Scenario("zombie-driver", (*zombie(), Check()), seed=SEED),
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


def test_without_the_fence_a_zombie_fails_with_a_readable_dump(trial: Callable[..., Trial]) -> None:
    """The bug to reintroduce: rows written at wall-clock time instead of the batch id."""
    scenario = Scenario("zombie-unfenced", (*zombie("tests.wrong_sinks:UnfencedSink"), Check()), seed=SEED)
    unfenced = trial(max_offsets_per_trigger=2_000)
    with pytest.raises(ScenarioFailed) as failure:
        run(scenario, unfenced)
    dump = str(failure.value)
    (unfenced.history.path.parent / "failure.txt").write_text(dump)
    print(dump)
    assert "=>  6. resume the frozen driver" in dump, "the failing step is marked"
    assert "counts went backwards" in dump
    for evidence in ("lost", "history:", "last query progress"):
        assert evidence in dump


@pytest.mark.parametrize("scenario", NEGATIVE_CONTROLS, ids=lambda s: s.name)
def test_a_wrong_sink_is_caught(scenario: Scenario, trial: Callable[..., Trial]) -> None:
    run(scenario, trial(max_offsets_per_trigger=2_000))
