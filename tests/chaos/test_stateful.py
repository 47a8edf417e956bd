"""A Hypothesis state machine against the real stack: random programs of produce, driver kills and
restarts, Kafka pauses and Cassandra restarts. The model is the ledger (the trial's history); the
full comparison runs at each settle step and at teardown. A failure shrinks to a short program.

HYPOTHESIS_PROFILE=deep (a release audit) runs more and longer programs than the default.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from harness.nemesis.faults import Fault
from harness.scenario.trial import Trial
from harness.workload.generator import WorkloadSpec

pytestmark = pytest.mark.chaos

START_MS = 1_767_225_600_000
COMMON = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
PROFILES = {
    # Each step costs seconds (a driver start, a Cassandra restart): few, short programs in `tox`.
    # Two programs a run: each CI run draws new ones from its fresh seed.
    "fast": settings(COMMON, max_examples=2, stateful_step_count=8),
    "deep": settings(COMMON, max_examples=15, stateful_step_count=14),
}
KAFKA = Fault("pause", "kafka")
CASSANDRA = Fault("kill", "cassandra")


def step(text: str) -> None:
    """Into the shrunk program Hypothesis prints on failure, and into the live log."""
    note(text)
    print(f"[stateful] {text}", file=sys.stderr, flush=True)


class PipelineMachine(RuleBasedStateMachine):
    """One trial per program; rules change the world, `settle` and teardown judge it."""

    make_trial: Callable[..., Trial]  # set per test by a subclass: the pytest `trial` factory

    def __init__(self) -> None:
        super().__init__()
        self.trial = self.make_trial(max_offsets_per_trigger=1_500)
        self.batches = 0
        self.kafka_paused = False

    @property
    def running(self) -> bool:
        return bool(self.trial.drivers) and self.trial.drivers[-1].exit_code() is None

    @precondition(lambda self: not self.kafka_paused)
    @rule(events=st.integers(1, 3_000), seed=st.integers(0, 2**16), minute=st.integers(0, 3))
    def produce(self, events: int, seed: int, minute: int) -> None:
        workload = WorkloadSpec(
            seed=seed,
            events=events,
            sites=20,
            start_ms=START_MS + minute * 60_000,
            spread_ms=2 * 60_000,
            malformed_fraction=0.02,
        )
        step(f"produce {events} events (seed {seed}, minute {minute})")
        summary = self.trial.produce(workload)
        assert summary.acknowledged == summary.attempted, summary

    @precondition(lambda self: not self.running)
    @rule()
    def start_driver(self) -> None:
        step("start a driver from the checkpoint")
        self.trial.start_driver()

    @precondition(lambda self: self.running)
    @rule()
    def kill_driver(self) -> None:
        step("SIGKILL the driver")
        self.trial.drivers[-1].kill()
        self.trial.wait_exit(self.trial.drivers[-1])

    # A graceful stop waits for the batch in flight, which a paused broker holds up.
    @precondition(lambda self: self.running and not self.kafka_paused)
    @rule()
    def stop_driver(self) -> None:
        step("stop the driver (SIGTERM)")
        assert self.trial.drivers[-1].stop() == 0

    @precondition(lambda self: not self.kafka_paused)
    @rule()
    def pause_kafka(self) -> None:
        step("pause kafka")
        KAFKA.inject(self.trial.stack)
        self.kafka_paused = True

    @precondition(lambda self: self.kafka_paused)
    @rule()
    def resume_kafka(self) -> None:
        step("resume kafka")
        KAFKA.heal(self.trial.stack)
        self.kafka_paused = False

    @precondition(lambda self: not self.kafka_paused)
    @rule()
    def restart_cassandra(self) -> None:
        step("kill cassandra and start it again")
        CASSANDRA.inject(self.trial.stack)
        CASSANDRA.heal(self.trial.stack)

    @precondition(lambda self: not self.kafka_paused)
    @rule()
    def settle(self) -> None:
        self._judge()

    def _judge(self) -> None:
        step("judge: every produced offset consumed, counts equal to the ledger")
        if not self.running:
            self.trial.start_driver()
        self.trial.wait_consumed()
        self.trial.assert_exact()

    def teardown(self) -> None:
        try:
            if self.kafka_paused:
                KAFKA.heal(self.trial.stack)
                self.kafka_paused = False
            self._judge()
        finally:
            for driver in self.trial.drivers:
                driver.remove()


def test_random_programs_of_faults_keep_counts_exact(seed: int, trial: Callable[..., Trial]) -> None:
    # The run's seed draws the programs: a failing one replays with `--seed`, then shrinks.
    machine = hypothesis_seed(seed)(type("Machine", (PipelineMachine,), {"make_trial": staticmethod(trial)}))
    run_state_machine_as_test(machine, settings=PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "fast")])
