"""Comparing audits: verdict changes, slower recoveries, longer times unable to write and lower
throughput are flagged, nothing else."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from audit_testkit import (
    DEFAULT_LABEL,
    OLD_SPARK_LABEL,
    UPGRADE,
    fixed_audit,
    upgrade_audit,
    upgrade_scenario,
)

from harness.audit.compare import (
    ScenarioComparison,
    compare,
    compare_matrix,
    main_compare,
    render_html,
    render_markdown,
)
from harness.audit.model import AuditResult, ScenarioResult, VersionSetResult

NEW_LABEL = "spark-4.1.1 kafka-4.1.1 cassandra-5.0.6"


def single_set(label: str, *scenarios: ScenarioResult) -> AuditResult:
    return replace(fixed_audit(), version_sets=[VersionSetResult({}, label, scenarios=scenarios)])


def scenario(
    name: str, valid: bool | None = True, recovery_s: float | None = 10.0, eps: float = 100.0
) -> ScenarioResult:
    return ScenarioResult(name, DEFAULT_LABEL, valid, recovery_s=recovery_s, throughput_eps=eps)


def only_row(old: ScenarioResult, new: ScenarioResult) -> ScenarioComparison:
    (section,) = compare(single_set(DEFAULT_LABEL, old), single_set(NEW_LABEL, new)).sections
    (row,) = section.rows
    return row


def test_same_results_change_nothing() -> None:
    row = only_row(scenario("a"), scenario("a"))
    assert row.changes == []
    assert (row.recovery_delta_s, row.throughput_delta_pct) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("new", "changes"),
    [
        (scenario("a", valid=False), ["verdict"]),
        (scenario("a", valid=None), ["verdict"]),
        (scenario("a", recovery_s=12.6), ["recovery slower"]),
        (scenario("a", recovery_s=12.4), []),
        (scenario("a", eps=79.0), ["throughput down"]),
        (scenario("a", eps=81.0), []),
        (scenario("a", eps=200.0, recovery_s=2.0), []),
        (
            scenario("a", valid=False, recovery_s=20.0, eps=10.0),
            ["verdict", "recovery slower", "throughput down"],
        ),
    ],
)
def test_changes_beyond_the_thresholds_are_flagged(new: ScenarioResult, changes: list[str]) -> None:
    assert only_row(scenario("a"), new).changes == changes


def test_a_small_recovery_is_not_flagged_for_sampling_noise() -> None:
    assert only_row(scenario("a", recovery_s=0.5), scenario("a", recovery_s=1.2)).changes == []
    assert only_row(scenario("a", recovery_s=0.5), scenario("a", recovery_s=2.0)).changes == [
        "recovery slower"
    ]


def test_deltas() -> None:
    row = only_row(scenario("a", recovery_s=4.0, eps=200.0), scenario("a", recovery_s=6.5, eps=150.0))
    assert row.recovery_delta_s == pytest.approx(2.5)
    assert row.throughput_delta_pct == pytest.approx(-25.0)
    assert only_row(scenario("a", recovery_s=None), scenario("a")).recovery_delta_s is None


def test_scenarios_run_on_one_side_only_are_absent_on_the_other() -> None:
    (section,) = compare(
        single_set(DEFAULT_LABEL, scenario("a"), scenario("b")),
        single_set(NEW_LABEL, scenario("c"), scenario("a")),
    ).sections
    assert [(r.scenario, r.old.verdict, r.new.verdict) for r in section.rows] == [
        ("a", "valid", "valid"),
        ("b", "valid", "absent"),
        ("c", "absent", "valid"),
    ]
    assert (section.old_label, section.new_label) == (DEFAULT_LABEL, NEW_LABEL)


def test_matrix_audits_pair_version_sets_by_label() -> None:
    old = replace(
        fixed_audit(),
        version_sets=[
            VersionSetResult({}, "x", scenarios=[scenario("a")]),
            VersionSetResult({}, "y", scenarios=[scenario("a")]),
        ],
    )
    new = replace(
        old,
        version_sets=[
            VersionSetResult({}, "y", scenarios=[scenario("a", valid=False)]),
            VersionSetResult({}, "z", scenarios=[scenario("a")]),
        ],
    )
    sections = compare(old, new).sections
    assert [(s.old_label, s.new_label) for s in sections] == [("x", "absent"), ("y", "y"), ("absent", "z")]
    assert [s.rows[0].new.verdict for s in sections] == ["absent", "INVALID", "valid"]


def test_a_matrix_compares_each_set_to_the_first_and_a_build_failure_is_a_verdict() -> None:
    (section,) = compare_matrix(fixed_audit()).sections
    assert (section.old_label, section.new_label) == (DEFAULT_LABEL, OLD_SPARK_LABEL)
    assert [(r.old.verdict, r.new.verdict) for r in section.rows] == [
        ("valid", "build-failed"),
        ("valid", "build-failed"),
        ("INVALID", "build-failed"),
    ]
    assert compare_matrix(replace(fixed_audit(), version_sets=fixed_audit().version_sets[:1])).sections == ()


def test_markdown_highlights_only_the_changed_cells() -> None:
    old = single_set(DEFAULT_LABEL, scenario("steady"), scenario("broken"), scenario("slow", eps=200.0))
    new = single_set(
        NEW_LABEL, scenario("steady"), scenario("broken", valid=False), scenario("slow", eps=100.0)
    )
    markdown = render_markdown(compare(old, new))
    steady, broken, slow = (
        # Cells are padded to their column's width: compare them with single spaces.
        " ".join(line.split())
        for line in markdown.splitlines()
        if line.startswith(("| steady", "| broken", "| slow"))
    )
    assert "**" not in steady
    assert "| valid | **→ INVALID** |" in broken
    assert "**-50.0 % ▼**" in slow
    assert markdown.startswith("2 change(s): broken (verdict); slow (throughput down).")


def test_html_marks_the_changed_cells() -> None:
    html = render_html(
        compare(single_set("<old>", scenario("a")), single_set("new", scenario("a", valid=False)))
    )
    assert '<td class="changed">→ INVALID</td>' in html
    assert "&lt;old&gt;" in html
    assert html.count('class="changed"') == 1


def test_cli_reads_audit_directories_and_writes_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    for directory, audit in (
        (old_dir, single_set(DEFAULT_LABEL, scenario("a"))),
        (new_dir, single_set(NEW_LABEL, scenario("a", valid=False))),
    ):
        directory.mkdir()
        (directory / "audit.json").write_text(audit.to_json(), encoding="utf-8")
    assert main_compare(old_dir, new_dir / "audit.json", tmp_path / "out") == 0
    printed = capsys.readouterr().out
    assert "**→ INVALID**" in printed
    assert (tmp_path / "out" / "compare.md").read_text(encoding="utf-8") in printed
    assert (tmp_path / "out" / "compare.html").exists()
    assert main_compare(old_dir, new_dir) == 0
    assert (new_dir / "compare.md").exists()


def test_cli_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main_compare(tmp_path / "nowhere", tmp_path, None) == 2
    assert "nowhere" in capsys.readouterr().err


def test_two_upgrade_audits_show_the_time_unable_to_write_side_by_side() -> None:
    """Before and after a change to the pipeline, the same upgrade: its move stalled writes longer."""
    before = upgrade_audit()
    after = upgrade_audit(replace(upgrade_scenario(), unable_to_write_s=14.0))
    (section,) = compare(before, after).sections
    (row,) = section.rows
    assert (row.old.unable_to_write_s, row.new.unable_to_write_s) == (10.0, 14.0)
    assert row.unable_to_write_delta_s == pytest.approx(4.0)
    assert row.changes == ["unable to write longer"]
    line = next(
        line
        for line in render_markdown(compare(before, after)).splitlines()
        if line.startswith(f"| {UPGRADE}")
    )
    assert "| 10.0 | 14.0 | **+4.0 ▲** |" in " ".join(line.split())


@pytest.mark.parametrize(
    ("old_s", "new_s", "changes"),
    [
        (10.0, 12.4, []),  # less than a quarter longer
        (0.5, 1.4, []),  # within the sampling's noise
        (0.5, 2.0, ["unable to write longer"]),
        (None, 30.0, []),  # an audit from before the field: nothing to compare
    ],
)
def test_time_unable_to_write_is_flagged_beyond_the_thresholds(
    old_s: float | None, new_s: float, changes: list[str]
) -> None:
    old = replace(scenario("a"), unable_to_write_s=old_s)
    assert only_row(old, replace(scenario("a"), unable_to_write_s=new_s)).changes == changes
