"""The audit's data model: audit.json round-trips exactly, and only a complete, all-valid audit passes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from audit_testkit import DEFAULT_LABEL, OLD_SPARK_LABEL, audits, fixed_audit, upgrade_audit
from hypothesis import given

from harness.audit.model import SCHEMA, AuditResult, Sample, ScenarioResult, VersionSetResult


@given(audits)
def test_any_audit_round_trips_through_json(audit: AuditResult) -> None:
    assert AuditResult.from_json(audit.to_json()) == audit


def test_audit_json_is_strict_json_with_a_schema() -> None:
    data = json.loads(fixed_audit().to_json())
    assert data["schema"] == SCHEMA
    assert data["version_sets"][0]["scenarios"][2]["timeline"][0] == {
        "t_s": 0.0,
        "acknowledged": 0,
        "counted": 0,
    }


def test_load_reads_a_directory_or_the_file(tmp_path: Path) -> None:
    audit = fixed_audit()
    (tmp_path / "audit.json").write_text(audit.to_json(), encoding="utf-8")
    assert AuditResult.load(tmp_path) == audit
    assert AuditResult.load(tmp_path / "audit.json") == audit


def test_another_schema_is_refused() -> None:
    data = fixed_audit().to_dict()
    data["schema"] = SCHEMA + 1
    with pytest.raises(ValueError, match="schema"):
        AuditResult.from_dict(data)


def test_unknown_fields_are_refused_not_dropped() -> None:
    data = fixed_audit().to_dict()
    data["version_sets"][0]["scenarios"][0]["recovered"] = 3
    with pytest.raises(ValueError, match="recovered"):
        AuditResult.from_dict(data)


def test_an_upgrades_events_in_flight_round_trip_and_their_unknown_fields_are_refused() -> None:
    audit = upgrade_audit()
    data = json.loads(audit.to_json())
    scenario = data["version_sets"][0]["scenarios"][0]
    assert scenario["in_flight"]["counted"] == 2346
    assert scenario["unable_to_write_s"] == 10.0
    assert AuditResult.from_dict(data) == audit
    scenario["in_flight"]["vanished"] = 1
    with pytest.raises(ValueError, match="vanished"):
        AuditResult.from_dict(data)


def test_an_audit_json_written_before_the_upgrade_fields_still_loads() -> None:
    data = json.loads(fixed_audit().to_json())
    for field in ("unable_to_write_s", "in_flight", "versions_after"):
        del data["version_sets"][0]["scenarios"][0][field]
    assert AuditResult.from_dict(data).version_sets[0].scenarios[0].in_flight is None


def test_lists_are_stored_as_tuples_so_results_stay_equal_and_immutable() -> None:
    scenario = ScenarioResult("s", DEFAULT_LABEL, True, artifacts=["a"], timeline=[Sample(0.0, 1, 1)])
    assert scenario.artifacts == ("a",)
    assert scenario.timeline == (Sample(0.0, 1, 1),)
    assert VersionSetResult({}, "v", scenarios=[scenario]).scenarios == (scenario,)


@pytest.mark.parametrize("field", ["recovery_s", "throughput_eps", "fault_at_s", "unable_to_write_s"])
def test_non_finite_numbers_are_refused_where_they_are_made(field: str) -> None:
    change: dict[str, Any] = {field: float("nan")}
    with pytest.raises(ValueError, match=field):
        replace(ScenarioResult("s", DEFAULT_LABEL, True), **change)


def test_unknown_status_or_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        VersionSetResult({}, "v", status="crashed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="profile"):
        replace(fixed_audit(), profile="fast")  # type: ignore[arg-type]


def test_failures_give_one_line_per_problem() -> None:
    assert fixed_audit().failures() == [
        f"{DEFAULT_LABEL}: kafka-killed: 12 events lost",
        f"{OLD_SPARK_LABEL}: build-failed: docker build tally/spark:3.5.3 failed",
    ]
    assert not fixed_audit().valid


def test_an_audit_is_valid_only_when_every_set_ran_and_every_scenario_is_valid() -> None:
    audit = fixed_audit()
    ran = audit.version_sets[0]
    all_valid = replace(ran, scenarios=[s for s in ran.scenarios if s.valid])
    assert replace(audit, version_sets=[all_valid]).valid
    unknown = replace(all_valid.scenarios[0], valid=None)
    assert not replace(audit, version_sets=[replace(all_valid, scenarios=[unknown])]).valid
    assert not replace(audit, version_sets=[all_valid, replace(all_valid, status="start-failed")]).valid


def test_an_audit_that_judged_nothing_is_not_valid() -> None:
    assert replace(fixed_audit(), version_sets=[]).failures() == ["no version set was audited"]
    empty = VersionSetResult({}, DEFAULT_LABEL)
    assert replace(fixed_audit(), version_sets=[empty]).failures() == [f"{DEFAULT_LABEL}: no scenario ran"]


def test_a_reason_is_made_from_the_evidence_when_the_runner_gave_none() -> None:
    scenario = ScenarioResult("s", DEFAULT_LABEL, False, lost=3, duplicated=2)
    assert scenario.failure_reason == "3 events lost, 2 events duplicated"
    assert ScenarioResult("s", DEFAULT_LABEL, None).failure_reason.startswith("unknown")
    assert (
        ScenarioResult("s", DEFAULT_LABEL, False, reason="driver crashed").failure_reason == "driver crashed"
    )


def test_a_build_error_is_summed_up_by_its_first_non_blank_line() -> None:
    assert VersionSetResult({}, "v", status="build-failed", error="\n  boom\nmore").error_line == "boom"
    assert VersionSetResult({}, "v", status="start-failed").error_line == "no error recorded"
