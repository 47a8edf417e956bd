"""The catalogue: profiles nest as the README says, every entry builds, every control expects a failure."""

from __future__ import annotations

import pytest

from harness.scenario.catalogue import BY_NAME, CATALOGUE, KEPT_SEEDS, Entry, select
from harness.scenario.mutants import CONTROLS
from harness.scenario.steps import Check


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
