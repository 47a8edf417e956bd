"""The catalogue: profiles nest as the README says, every entry builds, every control expects a failure."""

from __future__ import annotations

import pytest

from harness.scenario.catalogue import BY_NAME, CATALOGUE, KEPT_SEEDS, Entry, select
from harness.scenario.mutants import CONTROLS, GATE_CONTROLS, REPLICATED_CONTROLS
from harness.scenario.steps import Check, Produce, StartDriver, StopDriver


def test_deep_holds_every_scenario_and_the_gate_and_quick_are_inside_it() -> None:
    deep = {e.name for e in (*select("deep"), *select("deep", topology="replicated"))}
    assert deep == set(BY_NAME)
    assert {e.name for e in select("gate")} < set(BY_NAME)
    assert {e.name for e in select("quick")} < set(BY_NAME)


def test_the_gate_and_quick_run_on_one_node_and_the_replicated_profile_on_three() -> None:
    for profile in ("gate", "quick"):
        assert all("single" in e.topologies for e in select(profile))
    replicated = select("replicated", topology="replicated")
    assert all("replicated" in e.topologies for e in replicated)
    # The shortest scenario of each fault class of one node, and the plain flow to compare with.
    assert {e.name for e in replicated} == {
        "normal-flow",
        "kafka-leader-killed",
        "kafka-broker-isolated",
        "cassandra-node-killed",
        "cassandra-two-killed",
        "cassandra-node-partitioned",
    }
    assert [e.name for e in select("replicated")] == ["normal-flow"], "node faults on a single node"


def test_a_scenario_named_for_another_topology_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cassandra-two-killed needs replicated"):
        select("deep", ["normal-flow", "cassandra-two-killed"])


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


@pytest.mark.parametrize("entry", [*CATALOGUE, *CONTROLS, *REPLICATED_CONTROLS], ids=lambda e: e.name)
def test_every_entry_builds_and_ends_with_a_check(entry: Entry) -> None:
    scenario = entry.build(7, 100)
    assert isinstance(scenario.steps[-1], Check)
    assert scenario.seed == 7
    assert scenario.describe().startswith(f"scenario {scenario.name} (seed 7)")


@pytest.mark.parametrize("entry", [*CONTROLS, *REPLICATED_CONTROLS], ids=lambda e: e.name)
def test_every_negative_control_expects_an_invalid_verdict(entry: Entry) -> None:
    check = entry.build(7, 100).steps[-1]
    assert isinstance(check, Check)
    assert check.expect != "exact"


def test_kept_seeds_name_scenarios_of_the_gate() -> None:
    gate = {e.name for e in (*select("gate"), *GATE_CONTROLS)}
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


def test_the_replicated_controls_are_the_mutants_only_replicas_tell_apart() -> None:
    assert {c.name for c in REPLICATED_CONTROLS} == {"write-consistency-one", "producer-acks-1"}
    assert all(c.topologies == {"replicated"} for c in REPLICATED_CONTROLS)


def test_a_control_is_judged_at_its_killers_first_check_while_the_fault_is_on() -> None:
    """The partition's scenario checks while the node is cut off and again after the heal; writes at
    ONE are caught at the first (hints may repair them after the heal)."""
    (control,) = [c for c in REPLICATED_CONTROLS if c.name == "write-consistency-one"]
    steps = control.build(7, 3_000).steps
    assert [type(s).__name__ for s in steps[-3:]] == ["Produce", "WaitConsumed", "Check"]
    assert sum(isinstance(s, Check) for s in steps) == 1
