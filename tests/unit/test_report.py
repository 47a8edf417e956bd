"""The report files: report.md matches its golden file (and an upgrade's, its transition's),
report.html is self-contained and shows every scenario, junit.xml counts what failed, audit.json gives
back the audit.

Regenerate the golden files after an intended change with TALLY_UPDATE_GOLDEN=1, then read their diff.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from audit_testkit import (
    DEFAULT_LABEL,
    OLD_SPARK_LABEL,
    UPGRADE_LABEL,
    UPGRADED_LABEL,
    audits,
    fixed_audit,
    upgrade_audit,
    upgrade_scenario,
)
from hypothesis import given
from report_view import Page

from harness.audit.model import AuditResult, InFlight, ScenarioResult, VersionSetResult
from harness.audit.plots import _transition, recovery_png, timeline_png
from harness.audit.report import render_html, render_junit, render_markdown, write_report

GOLDEN = Path(__file__).parent / "golden" / "report.md"
UPGRADE_GOLDEN = Path(__file__).parent / "golden" / "upgrade.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_report(fixed_audit(), tmp_path_factory.mktemp("report"))


def assert_golden(golden: Path, actual: str) -> None:
    if os.environ.get("TALLY_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert actual == golden.read_text(encoding="utf-8"), (
        f"{golden.name} changed: TALLY_UPDATE_GOLDEN=1 rewrites it"
    )


def test_markdown_matches_the_golden_file(written: dict[str, Path]) -> None:
    assert_golden(GOLDEN, written["report.md"].read_text(encoding="utf-8"))


def test_an_upgrade_renders_its_transition_as_the_golden_file() -> None:
    """The move's window, the versions on either side, the time unable to write, the moves' outcomes
    and what became of the events sent meanwhile."""
    assert_golden(UPGRADE_GOLDEN, render_markdown(upgrade_audit()))


@pytest.mark.parametrize(
    ("in_flight", "line"),
    [
        (
            InFlight(
                False,
                attempted=10,
                acknowledged=9,
                unknown=1,
                counted=5,
                dead_lettered=1,
                lost=3,
                misclassified=1,
            ),
            "events in flight during the move: of 10 sent (9 acknowledged, 0 failed, 1 unknown), "
            "5 counted, 1 dead-lettered, 0 reported late, 3 lost, 0 duplicated, 1 misclassified: INVALID",
        ),
        (
            InFlight(None, error="ValueError: 1 row(s) hold sends both picked and left out"),
            "events in flight during the move: unknown, the checker could not judge them: "
            "ValueError: 1 row(s) hold sends both picked and left out",
        ),
    ],
)
def test_what_went_wrong_with_the_events_in_flight_is_named(in_flight: InFlight, line: str) -> None:
    audit = upgrade_audit(replace(upgrade_scenario(), in_flight=in_flight))
    assert f"\n{line}\n" in render_markdown(audit)
    page = Page(render_html(audit, defaultdict(lambda: b"png")))
    assert line in page.text
    colour = "invalid" if in_flight.valid is False else "unknown"
    assert f"in-flight {colour}" in [p.get("class") for p in page.all("p")]


def test_the_html_shows_the_transition() -> None:
    page = Page(render_html(upgrade_audit(), defaultdict(lambda: b"png")))
    text = "".join(page.text)
    assert f"{UPGRADE_LABEL} → {UPGRADED_LABEL}" in text
    assert "unable to write: 10.0 s" in text
    assert "events in flight during the move: of 2370 sent" in text
    # A valid move's line is not coloured as a failure.
    assert [p.get("class") for p in page.all("p") if (p.get("class") or "").startswith("in-flight")] == [
        "in-flight"
    ]


def test_markdown_links_plots_that_exist(written: dict[str, Path]) -> None:
    markdown = written["report.md"].read_text(encoding="utf-8")
    plots = [name for name in written if name.startswith("plots/")]
    assert len(plots) == 3 + 1  # one per scenario, and the recovery chart
    for name in plots:
        assert f"]({name})" in markdown
        assert written[name].read_bytes().startswith(PNG_MAGIC)


def test_html_is_self_contained_and_shows_every_scenario(written: dict[str, Path]) -> None:
    page = Page(written["report.html"].read_text(encoding="utf-8"))
    text = "".join(page.text)
    audit = fixed_audit()
    scenarios = [s for vs in audit.version_sets for s in vs.scenarios]
    for s in scenarios:
        assert s.name in text
    assert len([t for t in page.all("section") if t.get("class") == "scenario"]) == len(scenarios)
    images = page.all("img")
    assert len(images) == len(scenarios) + 1
    assert all((img["src"] or "").startswith("data:image/png;base64,") for img in images)
    # Nothing to fetch: every reference is inline or an anchor in the page.
    references = [attrs.get(a) or "" for _, attrs in page.tags for a in ("src", "href") if a in attrs]
    assert all(ref.startswith(("data:", "#")) for ref in references), references
    anchors = [ref[1:] for ref in references if ref.startswith("#")]
    assert anchors
    assert set(anchors) <= page.ids
    assert not page.all("link")
    assert not page.all("script")


def test_html_verdict_table_has_a_row_per_scenario(written: dict[str, Path]) -> None:
    page = Page(written["report.html"].read_text(encoding="utf-8"))
    assert [t.get("class") for t in page.all("table")].count("verdicts") == 1  # the build-failed set has none
    assert [t.get("class") for t in page.all("tr")].count("row-invalid") == 1
    assert "ERROR: no matching distribution for pyspark==3.5.3" in "".join(page.text)
    assert "site-003  2026-01-01T00:01:00Z" in "".join(page.text)


def test_html_escapes_what_scenarios_say() -> None:
    hostile = ScenarioResult(
        '<img src="http://x">',
        DEFAULT_LABEL,
        False,
        reason="<script>alert(1)</script>",
        differing_rows="a < b & c > d",
    )
    audit = replace(
        fixed_audit(), version_sets=[VersionSetResult({"spark": "<4>"}, "<b>", scenarios=[hostile])]
    )
    page = Page(render_html(audit, defaultdict(lambda: b"png")))
    assert not page.all("script")
    assert not page.all("b")
    assert len(page.all("img")) == 2
    text = "".join(page.text)
    assert '<img src="http://x">' in text
    assert "a < b & c > d" in text


@given(audits)
def test_any_audit_renders_to_html_without_injected_tags(audit: AuditResult) -> None:
    page = Page(render_html(audit, defaultdict(lambda: b"png")))
    emitted = {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "h4",
        "span",
        "small",
        "p",
        "strong",
        "table",
        "tr",
        "th",
        "td",
        "a",
        "ul",
        "li",
        "code",
        "pre",
        "img",
        "section",
    }
    assert {tag for tag, _ in page.tags} <= emitted


def test_junit_counts_failures_and_errors(written: dict[str, Path]) -> None:
    root = ET.parse(written["junit.xml"]).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    cases = root.findall(".//testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        (DEFAULT_LABEL, "normal-flow"),
        (DEFAULT_LABEL, "cassandra-paused"),
        (DEFAULT_LABEL, "kafka-killed"),
        (OLD_SPARK_LABEL, "build-failed"),
    ]
    failure = cases[2].find("failure")
    assert failure is not None
    assert failure.get("message") == "12 events lost"
    assert "site-017" in (failure.text or "")
    assert ".tally/audit/x/kafka-killed/driver-1.log" in (cases[2].findtext("system-out") or "")
    error = cases[3].find("error")
    assert error is not None
    assert error.get("message") == "docker build tally/spark:3.5.3 failed"
    suites = root.findall("testsuite")
    assert [(s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("3", "1", "0"),
        ("1", "0", "1"),
    ]


def test_junit_reports_an_unknown_verdict_as_an_error() -> None:
    unknown = ScenarioResult("s", DEFAULT_LABEL, None)
    audit = replace(fixed_audit(), version_sets=[VersionSetResult({}, DEFAULT_LABEL, scenarios=[unknown])])
    root = ET.fromstring(render_junit(audit))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "0", "1")


def test_junit_stays_parseable_with_terminal_colours_in_a_build_log() -> None:
    failed = VersionSetResult(
        {}, "v", status="build-failed", error="\x1b[31mERROR\x1b[0m: \x00 no space left"
    )
    root = ET.fromstring(render_junit(replace(fixed_audit(), version_sets=[failed])))
    assert "ERROR" in (root.findtext(".//error") or "")


@given(audits)
def test_any_audit_renders_to_parseable_junit(audit: AuditResult) -> None:
    root = ET.fromstring(render_junit(audit))
    expected = sum(len(vs.scenarios) + (vs.status != "ran") for vs in audit.version_sets)
    assert len(root.findall(".//testcase")) == expected == int(root.get("tests") or -1)


def test_audit_json_gives_back_the_audit(written: dict[str, Path]) -> None:
    assert AuditResult.load(written["audit.json"]) == fixed_audit()


def test_plots_survive_empty_timelines_and_audits_without_faults() -> None:
    bare = ScenarioResult("s", DEFAULT_LABEL, None)
    assert timeline_png(bare).startswith(PNG_MAGIC)
    assert timeline_png(replace(bare, fault="kill kafka", fault_at_s=3.0, heal_at_s=5.0)).startswith(
        PNG_MAGIC
    )
    assert recovery_png(replace(fixed_audit(), version_sets=[])).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("after", "transition"),
    [
        (UPGRADED_LABEL, "spark-3.5.7 kafka-3.9.1 → spark-4.0.0 kafka-4.1.1"),
        (UPGRADE_LABEL, f"{UPGRADE_LABEL}, the same before and after the move"),  # refused, or a round trip
        ("", f"from {UPGRADE_LABEL}"),  # an audit.json from before the field
    ],
)
def test_a_transition_is_labelled_with_what_ran_on_either_side_of_the_move(
    after: str, transition: str
) -> None:
    scenario = replace(upgrade_scenario(), versions_after=after)
    assert _transition(scenario) == transition
    assert timeline_png(scenario).startswith(PNG_MAGIC)


def test_a_fault_whose_steps_report_what_they_saw_is_shown_as_a_fault_not_a_move() -> None:
    """A node fault's scenario lists what its background load saw, as an upgrade lists its moves;
    only a move of versions (`versions_after`) is drawn and worded as a move."""
    fault = ScenarioResult(
        "kafka-leader-killed",
        "spark-4.0.0 kafka-4.1.1 cassandra-5.0.6",
        True,
        fault="SIGKILL the leader broker of partition 0 while producing",
        fault_at_s=13.7,
        heal_at_s=33.0,
        recovery_s=31.5,
        moves=("background load: 60000 sent, 60000 acknowledged, 0 failed, 0 unknown",),
    )
    result = AuditResult(
        "2026-12-02T00:00:00+00:00",
        60.0,
        7,
        "replicated",
        3000,
        [VersionSetResult({"spark": "4.0.0"}, fault.versions, scenarios=[fault])],
        topology="replicated: 3 Kafka brokers",
    )
    markdown = render_markdown(result)
    assert "fault: SIGKILL the leader broker of partition 0 while producing, injected at 13.7 s" in markdown
    assert "moving from" not in markdown
    assert "background load: 60000 sent" in markdown
    assert "replicated: 3 Kafka brokers" in markdown
