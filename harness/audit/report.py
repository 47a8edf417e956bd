"""An audit's report files: report.md and a self-contained report.html for people, junit.xml for CI
systems, audit.json for `audit compare` and anything else that reads machines' output.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from harness.audit import compare as audit_compare
from harness.audit.model import AuditResult, ScenarioResult, VersionSetResult
from harness.audit.plots import recovery_png, timeline_png
from harness.audit.render import page
from harness.scenario.mutants import BY_MUTANT, MUTANTS
from harness.tables import markdown_table

RECOVERY_PLOT = "plots/recovery.png"
COLUMNS = [
    "scenario",
    "verdict",
    "attempted",
    "acked",
    "counted",
    "dead",
    "late",
    "lost",
    "duplicated",
    "unexpected",
    "recovery s",
    "unable to write s",
    "throughput ev/s",
]
# XML 1.0 forbids most control characters; build logs are full of them (ANSI colours).
XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _anchor(set_index: int, scenario_index: int, scenario: ScenarioResult) -> str:
    """Unique even when two sets share a label (it omits the connector) or a set repeats a scenario."""
    return f"v{set_index + 1}-{scenario_index + 1:02d}-{_slug(scenario.name)}"


def _plot_path(set_index: int, scenario_index: int, scenario: ScenarioResult) -> str:
    return f"plots/{_anchor(set_index, scenario_index, scenario)}.png"


def _scenarios(result: AuditResult) -> Iterable[tuple[int, int, VersionSetResult, ScenarioResult]]:
    for i, vs in enumerate(result.version_sets):
        for j, scenario in enumerate(vs.scenarios):
            yield i, j, vs, scenario


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _verdict_row(s: ScenarioResult) -> list[str]:
    return [
        s.name,
        s.verdict,
        str(s.attempted),
        str(s.acknowledged),
        str(s.counted),
        str(s.dead_lettered),
        str(s.late),
        str(s.lost),
        str(s.duplicated),
        str(s.unexpected),
        _seconds(s.recovery_s),
        _seconds(s.unable_to_write_s),
        f"{s.throughput_eps:.0f}",
    ]


def _versions_line(vs: VersionSetResult) -> str:
    return " · ".join(f"{component} {version}" for component, version in vs.versions.items())


def _fault_line(s: ScenarioResult) -> str:
    """The fault's schedule in one sentence, or an empty string for a scenario without one."""
    if s.fault is None:
        return ""
    # An upgrade's move is marked as a fault is: it begins when the old version stops, and ends
    # when the new one answers.
    began, ended = ("moving from", "moved by") if s.moved else ("injected at", "healed at")
    parts = [f"{'move' if s.moved else 'fault'}: {s.fault}"]
    if s.fault_at_s is not None:
        parts.append(f"{began} {s.fault_at_s:.1f} s")
    if s.heal_at_s is not None:
        parts.append(f"{ended} {s.heal_at_s:.1f} s")
    healed = "the move" if s.moved else "the heal"
    if s.recovery_s is not None:
        parts.append(f"counts matched {s.recovery_s:.1f} s after {healed}")
    elif s.heal_at_s is not None:
        parts.append(f"no recovery measured after {healed}")
    return ", ".join(parts)


def _ran_on(vs: VersionSetResult, s: ScenarioResult) -> str:
    """The versions a scenario started on (an upgrade audit's later scenarios start where the one
    before left the stack), and those its moves left the stack on if they differ."""
    started = s.versions or vs.label
    moved = s.versions_after and s.versions_after != started
    return f"{started} → {s.versions_after}" if moved else started


def _stall_line(s: ScenarioResult) -> str:
    """How long the pipeline could not write around the fault, or an empty string without one."""
    if s.unable_to_write_s is None:
        return ""
    return (
        f"unable to write: {s.unable_to_write_s:.1f} s, the longest time acknowledged events waited "
        "while Cassandra accounted for none of them"
    )


def _in_flight_line(s: ScenarioResult) -> str:
    """What became of the events sent while moving, or an empty string for a scenario without them."""
    flight = s.in_flight
    if flight is None:
        return ""
    if flight.valid is None:
        return f"events in flight during the move: unknown, the checker could not judge them: {flight.error}"
    sent = (
        f"of {flight.attempted} sent ({flight.acknowledged} acknowledged, {flight.failed} failed, "
        f"{flight.unknown} unknown)"
    )
    fate = [
        f"{flight.counted} counted",
        f"{flight.dead_lettered} dead-lettered",
        f"{flight.late} reported late",
        f"{flight.lost} lost",
        f"{flight.duplicated} duplicated",
    ]
    # Kinds of evidence that a correct move never shows, named only when there are some.
    rare = (
        ("unexpected", flight.unexpected),
        ("misclassified", flight.misclassified),
        ("wrongly late", flight.wrongly_late),
    )
    fate += [f"{n} {what}" for what, n in rare if n]
    return f"events in flight during the move: {sent}, {', '.join(fate)}: {flight.verdict}"


def _meta(result: AuditResult) -> list[tuple[str, str]]:
    return [
        ("started", result.started_at),
        ("duration", f"{result.duration_s:.1f} s"),
        ("seed", str(result.seed)),
        ("profile", result.profile),
        ("topology", result.topology),
        ("events per scenario", str(result.events)),
        ("version sets", str(len(result.version_sets))),
    ]


def _kill_cell(run: ScenarioResult | None) -> str:
    """A kill-matrix cell: the outcome, with its evidence for a kill."""
    if run is None:
        return "—"
    if run.outcome != "killed":
        return run.outcome
    found = run.evidence()
    return f"killed: {', '.join(found)}" if found else f"killed: {run.failure_reason[:80]}"


def _only_controls(vs: VersionSetResult) -> bool:
    """Whether a version set's mutant runs are negative controls: each mutant once, in a run named
    after it, where a kill matrix would be a diagonal."""
    return all(list(runs) == [mutant] for mutant, runs in vs.kill_matrix().items())


def _kill_matrix(vs: VersionSetResult) -> tuple[str, list[str], list[list[str]]]:
    """The section's title, column names and rows (mutant, intent, one cell per scenario) of a version
    set's kill matrix; for negative controls, one row each with its outcome."""
    matrix = vs.kill_matrix()
    controls = _only_controls(vs)
    scenarios = (
        ["caught"] if controls else list(dict.fromkeys(name for runs in matrix.values() for name in runs))
    )
    rows = [
        [
            mutant,
            # A control that is no mutant of the sink (an upgrade that loses data) is its fault.
            BY_MUTANT[mutant].intent if mutant in BY_MUTANT else next(iter(runs.values())).fault or "",
            *(_kill_cell(runs.get(mutant if controls else s)) for s in scenarios),
        ]
        for mutant, runs in matrix.items()
    ]
    if controls:
        return f"Negative controls: {vs.label}", ["control", "what it gets wrong", *scenarios], rows
    return f"Kill matrix: {vs.label}", ["mutant", "intent", *scenarios], rows


def _out_of_reach() -> list[tuple[str, str, str]]:
    return [(m.name, m.intent, m.out_of_reach) for m in MUTANTS if m.out_of_reach]


def _fence(text: str) -> str:
    """A Markdown code block that no backtick run inside `text` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: AuditResult) -> str:
    """The report for a terminal, a pull request or a CI artifact; plots are linked from plots/."""
    lines = [f"# Tally upgrade audit: {'VALID' if result.valid else 'INVALID'}", ""]
    lines.append(markdown_table(("", ""), _meta(result), left=2))
    if failures := result.failures():
        lines += ["", "## Failures", ""] + [f"- {_md_cell(line)}" for line in failures]
    lines += ["", "## Verdicts"]
    for vs in result.version_sets:
        lines += ["", f"### {vs.label}", "", f"{_versions_line(vs)} · status **{vs.status}**"]
        if vs.status != "ran":
            lines += ["", _fence(vs.error or "no error recorded")]
        if vs.scenarios:
            lines += ["", markdown_table(COLUMNS, [_verdict_row(s) for s in vs.scenarios], left=2)]
    for vs in result.version_sets:
        if vs.mutants:
            title, head, rows = _kill_matrix(vs)
            lines += ["", f"## {title}", "", markdown_table(head, rows, left=len(head))]
            if not _only_controls(vs):
                lines += ["", "Out of the audit's reach:", ""]
                lines += [
                    f"- **{name}** ({_md_cell(intent)}): {_md_cell(why)}"
                    for name, intent, why in _out_of_reach()
                ]
    lines += ["", "## Recovery time per fault", "", f"![recovery time per fault]({RECOVERY_PLOT})"]
    if len(result.version_sets) > 1:
        lines += ["", "## Version sets side by side", ""]
        lines.append(audit_compare.render_markdown(audit_compare.compare_matrix(result)).rstrip())
    lines += ["", "## Scenarios"]
    for i, j, vs, s in _scenarios(result):
        lines += ["", f"### {s.name}: {s.verdict} ({_ran_on(vs, s)})", ""]
        if s.valid is not True:
            lines += [f"**Why:** {s.failure_reason}", ""]
        for line in (_fault_line(s), _stall_line(s)):
            if line:
                lines += [line, ""]
        if s.moves:
            lines += [f"- {_md_cell(line)}" for line in s.moves] + [""]
        if flight := _in_flight_line(s):
            lines += [flight, ""]
        lines += [f"ran {s.duration_s:.1f} s, {s.throughput_eps:.0f} events/s counted", ""]
        if s.description:
            lines += [_fence(s.description), ""]
        lines.append(f"![{s.name}: counted against acknowledged]({_plot_path(i, j, s)})")
        if s.differing_rows:
            lines += ["", "Differing rows:", "", _fence(s.differing_rows)]
        if s.artifacts:
            lines += ["", "Artifacts:", ""] + [f"- `{path}`" for path in s.artifacts]
    return "\n".join(lines) + "\n"


def _verdict_class(valid: bool | None) -> str:
    return {True: "valid", False: "invalid", None: "unknown"}[valid]


def _in_flight_class(s: ScenarioResult) -> str:
    """Coloured only when something went wrong, as the verdict table's rows are."""
    flight = s.in_flight
    return "" if flight is None or flight.valid else _verdict_class(flight.valid)


def _kill_class(cell: str) -> str:
    return {"killed": "valid", "survived": "invalid", "—": ""}.get(cell.split(":")[0], "unknown")


def _png(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def render_html(result: AuditResult, plots: dict[str, bytes]) -> str:
    """One file a browser shows offline: inline CSS, plots as data URIs, every text escaped."""
    sets = [
        {
            "label": vs.label,
            "versions": _versions_line(vs),
            "status": vs.status,
            "status_class": "valid" if vs.status == "ran" else "invalid",
            "error": (vs.error or "no error recorded") if vs.status != "ran" else "",
            "rows": [
                {
                    "name": s.name,
                    "anchor": _anchor(i, j, s),
                    "verdict": s.verdict,
                    "css": _verdict_class(s.valid),
                    "numbers": _verdict_row(s)[2:],
                }
                for j, s in enumerate(vs.scenarios)
            ],
        }
        for i, vs in enumerate(result.version_sets)
    ]
    kill_matrices = []
    for vs in result.version_sets:
        if vs.mutants:
            title, head, rows = _kill_matrix(vs)
            kill_matrices.append(
                {
                    "title": title,
                    "out_of_reach": not _only_controls(vs),
                    "header": head,
                    "rows": [
                        {"mutant": row[0], "intent": row[1], "cells": [(c, _kill_class(c)) for c in row[2:]]}
                        for row in rows
                    ],
                }
            )
    scenarios = [
        {
            "anchor": _anchor(i, j, s),
            "name": s.name,
            "verdict": s.verdict,
            "css": _verdict_class(s.valid),
            "label": _ran_on(vs, s),
            "why": s.failure_reason if s.valid is not True else "",
            "fault": _fault_line(s),
            "stall": _stall_line(s),
            "moves": s.moves,
            "in_flight": _in_flight_line(s),
            "in_flight_css": _in_flight_class(s),
            "ran": f"{s.duration_s:.1f} s, {s.throughput_eps:.0f} events/s counted",
            "description": s.description,
            "plot": _png(plots[_plot_path(i, j, s)]),
            "differing_rows": s.differing_rows,
            "artifacts": s.artifacts,
        }
        for i, j, vs, s in _scenarios(result)
    ]
    comparison = (
        audit_compare.html_context(audit_compare.compare_matrix(result))
        if len(result.version_sets) > 1
        else None
    )
    return page(
        "report.html",
        overall="valid" if result.valid else "invalid",
        meta=_meta(result),
        failures=result.failures(),
        columns=COLUMNS,
        sets=sets,
        kill_matrices=kill_matrices,
        out_of_reach=_out_of_reach(),
        recovery_plot=_png(plots[RECOVERY_PLOT]),
        comparison=comparison,
        scenarios=scenarios,
    )


def _xml_text(text: str) -> str:
    return XML_ILLEGAL.sub("?", text)


def _testcase(suite: ET.Element, classname: str, name: str, time_s: float) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", name=_xml_text(name), classname=_xml_text(classname), time=f"{time_s:.3f}"
    )


def render_junit(result: AuditResult) -> str:
    """One testcase per scenario per version set; a set that did not build or start is one error."""
    totals = {"tests": 0, "failures": 0, "errors": 0}
    suites = ET.Element("testsuites", name="tally-audit", time=f"{result.duration_s:.3f}")
    for vs in result.version_sets:
        counts = {"tests": 0, "failures": 0, "errors": 0}
        suite = ET.SubElement(
            suites, "testsuite", name=_xml_text(vs.label), timestamp=_xml_text(result.started_at)
        )
        properties = ET.SubElement(suite, "properties")
        for component, version in vs.versions.items():
            ET.SubElement(properties, "property", name=_xml_text(component), value=_xml_text(version))
        if vs.status != "ran":
            case = _testcase(suite, vs.label, vs.status, 0.0)
            element = ET.SubElement(case, "error", type=vs.status, message=_xml_text(vs.error_line))
            element.text = _xml_text(vs.error or vs.error_line)
            counts["tests"] += 1
            counts["errors"] += 1
        for s in vs.scenarios:
            case = _testcase(suite, vs.label, s.name, s.duration_s)
            counts["tests"] += 1
            if s.valid is not True:
                kind = "failure" if s.valid is False else "error"
                counts["failures" if s.valid is False else "errors"] += 1
                element = ET.SubElement(case, kind, type=s.verdict, message=_xml_text(s.failure_reason))
                evidence = (
                    f"attempted={s.attempted} acknowledged={s.acknowledged} counted={s.counted} "
                    f"dead_lettered={s.dead_lettered} late={s.late} lost={s.lost} "
                    f"duplicated={s.duplicated} unexpected={s.unexpected}"
                )
                element.text = _xml_text(
                    "\n\n".join(t for t in (s.failure_reason, evidence, s.differing_rows) if t)
                )
            if s.artifacts:
                ET.SubElement(case, "system-out").text = _xml_text("artifacts:\n" + "\n".join(s.artifacts))
        suite.attrib.update({k: str(v) for k, v in counts.items()})
        suite.set("time", f"{sum(s.duration_s for s in vs.scenarios):.3f}")
        totals = {k: totals[k] + counts[k] for k in totals}
    suites.attrib.update({k: str(v) for k, v in totals.items()})
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render_plots(result: AuditResult) -> dict[str, bytes]:
    """Every plot the reports show, by its path under the output directory."""
    plots = {RECOVERY_PLOT: recovery_png(result)}
    for i, j, _, s in _scenarios(result):
        plots[_plot_path(i, j, s)] = timeline_png(s)
    return plots


def write_report(result: AuditResult, out: Path) -> dict[str, Path]:
    """Write every report file into `out`; returns them by name relative to `out`."""
    plots = render_plots(result)
    documents = {
        "report.md": render_markdown(result),
        "report.html": render_html(result, plots),
        "junit.xml": render_junit(result),
        "audit.json": result.to_json(),
    }
    (out / "plots").mkdir(parents=True, exist_ok=True)
    written = {}
    for name, png in plots.items():
        (out / name).write_bytes(png)
        written[name] = out / name
    for name, text in documents.items():
        (out / name).write_text(text, encoding="utf-8")
        written[name] = out / name
    return written
