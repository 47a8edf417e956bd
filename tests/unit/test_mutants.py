"""The mutation suite's bookkeeping: every mutant is run somewhere or says why not, the controls expect
a failure, the gate keeps one per kind of evidence, and the kill matrix judges a run the way the
README says."""

from __future__ import annotations

import re

import pytest

from harness.audit import report
from harness.audit.model import AuditResult, ScenarioResult, VersionSetResult
from harness.audit.run import controls_of
from harness.scenario.catalogue import select
from harness.scenario.mutants import BY_MUTANT, CONTROLS, GATE_CONTROLS, MUTANTS, SIBLINGS, Mutant
from harness.scenario.steps import Check

LABEL = "spark-4.0.0 kafka-4.1.1 cassandra-5.0.6"


def run(mutant: str, scenario: str, valid: bool | None, reason: str = "", lost: int = 0) -> ScenarioResult:
    return ScenarioResult(scenario, LABEL, valid, reason=reason, lost=lost, mutant=mutant)


def test_there_are_at_least_twelve_mutants_each_killable_or_explained() -> None:
    assert len(MUTANTS) >= 12
    for mutant in MUTANTS:
        runs = mutant.entries("deep") or mutant.entries("deep", "replicated")
        assert runs or mutant.out_of_reach, mutant.name
        assert bool(mutant.sink) or bool(mutant.trial) or mutant.own, f"{mutant.name} changes nothing"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.entries("deep")], ids=lambda m: m.name)
def test_a_mutant_runs_its_killers_with_its_change_and_an_exact_check(mutant: Mutant) -> None:
    for entry in (*mutant.entries("deep"), *mutant.entries("deep", "replicated")):
        if mutant.sink:
            assert entry.driver_spec()["sink"] == mutant.sink
        assert set(mutant.trial.items()) <= set(entry.driver_spec().items())
        check = entry.build(7, 100).steps[-1]
        assert isinstance(check, Check)
        assert check.expect == "exact", entry.name


def test_the_audit_controls_every_mutant_that_the_gate_or_the_quick_profile_kills() -> None:
    gate = {e.name for e in select("gate")} | {e.name for e in select("quick")}
    killed = {m.name for m in MUTANTS if (m.own and m.topology == "single") or set(m.killers) & gate}
    assert {c.name for c in CONTROLS} == killed - set(SIBLINGS)
    assert set(SIBLINGS) <= killed
    for control in CONTROLS:
        check = control.build(7, 100).steps[-1]
        assert isinstance(check, Check)
        assert check.expect == BY_MUTANT[control.name].expect != "exact"


def test_the_gate_keeps_one_control_per_kind_of_evidence() -> None:
    expected = [BY_MUTANT[control.name].expect for control in GATE_CONTROLS]
    assert sorted(expected) == sorted({BY_MUTANT[c.name].expect for c in CONTROLS})
    assert all("gate" in control.profiles and "quick" in control.profiles for control in GATE_CONTROLS)


def test_each_profile_of_the_audit_runs_its_controls_on_its_own_topology() -> None:
    assert controls_of("gate", "single") == GATE_CONTROLS
    assert controls_of("quick", "single") == controls_of("deep", "single") == CONTROLS
    assert controls_of("quick", "replicated") == ()
    assert all(c.topologies >= {"replicated"} for c in controls_of("replicated", "replicated"))


@pytest.mark.parametrize(("mutant", "sibling"), SIBLINGS.items())
def test_a_mutant_left_to_the_suite_has_a_sibling_with_its_evidence_and_a_killer(
    mutant: str, sibling: str
) -> None:
    """The sibling stands for it among the controls: caught with the same evidence, on a killer they
    share."""
    assert sibling in {c.name for c in CONTROLS}
    left, controlled = BY_MUTANT[mutant], BY_MUTANT[sibling]
    assert left.expect == controlled.expect
    assert set(left.killers) & set(controlled.killers), "no scenario kills both"


def test_a_mutant_needs_a_killer_a_scenario_or_a_reason() -> None:
    with pytest.raises(ValueError, match="name its killers"):
        Mutant("m", "does nothing", sink="x:Y")
    with pytest.raises(ValueError, match="no scenario"):
        Mutant("m", "unknown killer", ("no-such-scenario",), sink="x:Y")


def test_outcomes_of_a_mutant_run() -> None:
    assert run("m", "s", False, "step 9 (check): AssertionError", lost=3).outcome == "killed"
    assert run("m", "s", True).outcome == "survived"
    assert (
        run("m", "s", False, "step 3: AssertionError: the fault did not land: ...").outcome == "not exercised"
    )
    assert run("m", "s", None).outcome == "unknown"


def test_a_mutant_that_no_scenario_killed_fails_the_audit_with_what_each_saw() -> None:
    vs = VersionSetResult(
        {"spark": "4.0.0"},
        LABEL,
        mutants=[
            run("writes-not-awaited", "cassandra-killed-mid-batch", False, "step 10 (check)", lost=412),
            run("retry-gives-up", "cassandra-killed-mid-batch", True),
            run("retry-gives-up", "cassandra-paused", False, "the fault did not land: x"),
        ],
    )
    assert vs.failures() == [
        f"{LABEL}: mutant retry-gives-up survived every scenario "
        "(cassandra-killed-mid-batch survived, cassandra-paused not exercised)"
    ]
    result = AuditResult("2026-12-01T00:00:00+00:00", 60.0, 7, "deep", 3000, [vs])
    assert AuditResult.from_json(result.to_json()) == result
    markdown = re.sub(r" +", " ", report.render_markdown(result))
    assert "## Kill matrix" in markdown
    assert "| writes-not-awaited |" in markdown
    assert "killed: 412 lost" in markdown
    assert "survived" in markdown
    assert "not exercised" in markdown
    assert "ownership-unchecked" in markdown, "the mutants out of reach are listed with the reason"
    page = report.render_html(result, report.render_plots(result))
    assert '<table class="kills">' in page
    assert 'class="valid">killed: 412 lost' in page


def test_controls_are_reported_one_row_each_not_as_a_diagonal_matrix() -> None:
    """An audit's controls each run once, in a run named after the mutant: a kill matrix of them
    would be a diagonal as wide as the list."""
    vs = VersionSetResult(
        {"spark": "4.0.0"},
        LABEL,
        mutants=[
            run("writes-not-awaited", "writes-not-awaited", False, "step 7 (check)", lost=1002),
            run("all-late", "all-late", True),
        ],
    )
    result = AuditResult("2026-12-01T00:00:00+00:00", 60.0, 7, "quick", 3000, [vs])
    markdown = re.sub(r" +", " ", report.render_markdown(result))
    assert f"## Negative controls: {LABEL}" in markdown
    assert "| control | what it gets wrong | caught |" in markdown
    assert "| writes-not-awaited | execute_async" in markdown
    assert "killed: 1002 lost |" in markdown
    assert "| all-late |" in markdown
    assert "survived |" in markdown
    assert "Kill matrix" not in markdown
    assert "ownership-unchecked" not in markdown, "out of reach is the mutation suite's list"
    assert vs.failures() == [f"{LABEL}: mutant all-late survived every scenario (all-late survived)"]
    page = report.render_html(result, report.render_plots(result))
    assert f"<h2>Negative controls: {LABEL}</h2>" in page
    assert '<table class="kills"><tr><th>control</th><th>what it gets wrong</th><th>caught</th></tr>' in page


def test_the_replicated_controls_run_on_three_nodes_only() -> None:
    """ONE against a quorum and acks=1 against acks=all differ only where there are replicas."""
    for name in ("write-consistency-one", "producer-acks-1"):
        mutant = BY_MUTANT[name]
        assert not mutant.entries("deep"), name
        assert mutant.entries("replicated", "replicated"), name
    acks = BY_MUTANT["producer-acks-1"].entries("replicated", "replicated")[0].build(7, 100)
    check = acks.steps[-1]
    assert isinstance(check, Check)
    assert check.exercised_only_if_caught


def test_a_control_that_lost_its_race_is_not_exercised_rather_than_survived() -> None:
    reason = "AssertionError: the fault did not land: no record acknowledged by the leader alone was lost"
    assert run("producer-acks-1", "producer-acks-1", True, reason=reason).outcome == "not exercised"
    assert run("producer-acks-1", "producer-acks-1", True).outcome == "survived"
