"""The catalogue: profiles nest as the README says, every entry builds, every control expects a failure."""

from __future__ import annotations

import pytest

from harness.scenario.catalogue import BY_NAME, CATALOGUE, KEPT_SEEDS, Entry, select
from harness.scenario.mutants import CONTROLS
from harness.scenario.steps import Check, Produce, StartDriver, StopDriver


def test_deep_holds_every_scenario_and_the_gate_and_quick_are_inside_it() -> None:
    assert {e.name for e in select("deep")} == set(BY_NAME)
    assert {e.name for e in select("gate")} < set(BY_NAME)
    assert {e.name for e in select("quick")} < set(BY_NAME)


def test_the_gate_keeps_a_representative_of_each_fault_class() -> None:
    gate = {e.name for e in select("gate")}
    classes = {
        "driver death": {"driver-sigkill", "crash-mid_write", "crash-after_write"},
        "stale driver": {"zombie-driver"},
        "service death": {"kafka-killed", "cassandra-killed-mid-batch"},
        "network": {"kafka-link-cut", "cassandra-link-reset"},
        "input": {"bad-input", "late-events", "late-backlog", "resend-dedup", "transactional-input"},
        "generations": {"checkpoint-reset"},
    }
    for fault_class, names in classes.items():
        assert names <= gate, fault_class


@pytest.mark.parametrize("entry", [*CATALOGUE, *CONTROLS], ids=lambda e: e.name)
def test_every_entry_builds_and_ends_with_a_check(entry: Entry) -> None:
    scenario = entry.build(7, 100)
    assert isinstance(scenario.steps[-1], Check)
    assert scenario.seed == 7
    assert scenario.describe().startswith(f"scenario {scenario.name} (seed 7)")


@pytest.mark.parametrize("entry", CONTROLS, ids=lambda e: e.name)
def test_every_negative_control_expects_an_invalid_verdict(entry: Entry) -> None:
    check = entry.build(7, 100).steps[-1]
    assert isinstance(check, Check)
    assert check.expect != "exact"


def test_kept_seeds_name_scenarios_of_the_gate() -> None:
    gate = {e.name for e in (*select("gate"), *CONTROLS)}
    assert set(KEPT_SEEDS) <= gate


@pytest.mark.parametrize("name", ["crash-before_write", "crash-mid_write", "crash-after_write"])
def test_a_crash_scenario_runs_both_phases_on_one_driver_and_crashes_in_the_second(name: str) -> None:
    """Phase A is produced before the start and, with no cap on a batch, is batch 0 whole; the driver
    is armed from batch 1, so the crash is always in phase B's first batch; one more start replays it."""
    entry = BY_NAME[name]
    steps = entry.build(7, 4_000).steps
    starts = [step for step in steps if isinstance(step, StartDriver)]
    assert len(starts) == 2
    point = name.removeprefix("crash-")
    assert starts[0].failpoints == (f"sink.{point}=crash@1+",)
    assert starts[1].failpoints == ()
    assert not any(isinstance(step, StopDriver) for step in steps)
    assert isinstance(steps[0], Produce)
    assert isinstance(steps[1], StartDriver)
    assert entry.driver_spec()["max_offsets_per_trigger"] is None
