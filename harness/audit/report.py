"""An audit's report files: report.md and a self-contained report.html for people, junit.xml for CI
systems, audit.json for `audit compare` and anything else that reads machines' output.
"""

from __future__ import annotations

import base64
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from harness.audit import compare as audit_compare
from harness.audit.model import AuditResult, ScenarioResult, VersionSetResult
from harness.audit.plots import recovery_png, timeline_png
from harness.scenario.mutants import BY_MUTANT, MUTANTS

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


def _verdict_row(s: ScenarioResult) -> list[str]:
    recovery = "—" if s.recovery_s is None else f"{s.recovery_s:.1f}"
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
        recovery,
        f"{s.throughput_eps:.0f}",
    ]


def _versions_line(vs: VersionSetResult) -> str:
    return " · ".join(f"{component} {version}" for component, version in vs.versions.items())


def _fault_line(s: ScenarioResult) -> str:
    """The fault's schedule in one sentence, or an empty string for a scenario without one."""
    if s.fault is None:
        return ""
    parts = [f"fault: {s.fault}"]
    if s.fault_at_s is not None:
        parts.append(f"injected at {s.fault_at_s:.1f} s")
    if s.heal_at_s is not None:
        parts.append(f"healed at {s.heal_at_s:.1f} s")
    if s.recovery_s is not None:
        parts.append(f"counts matched {s.recovery_s:.1f} s after the heal")
    elif s.heal_at_s is not None:
        parts.append("no recovery measured after the heal")
    return ", ".join(parts)


def _meta(result: AuditResult) -> list[tuple[str, str]]:
    return [
        ("started", result.started_at),
        ("duration", f"{result.duration_s:.1f} s"),
        ("seed", str(result.seed)),
        ("profile", result.profile),
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


def _kill_matrix(vs: VersionSetResult) -> tuple[list[str], list[list[str]]]:
    """Column names and rows (mutant, intent, one cell per scenario) of a version set's matrix."""
    matrix = vs.kill_matrix()
    scenarios = list(dict.fromkeys(name for runs in matrix.values() for name in runs))
    rows = [
        [
            mutant,
            BY_MUTANT[mutant].intent if mutant in BY_MUTANT else "",
            *(_kill_cell(runs.get(s)) for s in scenarios),
        ]
        for mutant, runs in matrix.items()
    ]
    return ["mutant", "intent", *scenarios], rows


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
    lines = [f"# Tally upgrade audit: {'VALID' if result.valid else 'INVALID'}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {_md_cell(value)} |" for key, value in _meta(result)]
    if failures := result.failures():
        lines += ["", "## Failures", ""] + [f"- {_md_cell(line)}" for line in failures]
    lines += ["", "## Verdicts"]
    for vs in result.version_sets:
        lines += ["", f"### {vs.label}", "", f"{_versions_line(vs)} · status **{vs.status}**"]
        if vs.status != "ran":
            lines += ["", _fence(vs.error or "no error recorded")]
        if vs.scenarios:
            lines += ["", "| " + " | ".join(COLUMNS) + " |"]
            lines.append("|---|---|" + "---:|" * (len(COLUMNS) - 2))
            lines += ["| " + " | ".join(map(_md_cell, _verdict_row(s))) + " |" for s in vs.scenarios]
    for vs in result.version_sets:
        if vs.mutants:
            head, rows = _kill_matrix(vs)
            lines += ["", f"## Kill matrix: {vs.label}", "", "| " + " | ".join(head) + " |"]
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
            lines += ["", "Out of the audit's reach:", ""]
            lines += [
                f"- **{name}** ({_md_cell(intent)}): {_md_cell(why)}" for name, intent, why in _out_of_reach()
            ]
    lines += ["", "## Recovery time per fault", "", f"![recovery time per fault]({RECOVERY_PLOT})"]
    if len(result.version_sets) > 1:
        lines += ["", "## Version sets side by side", ""]
        lines.append(audit_compare.render_markdown(audit_compare.compare_matrix(result)).rstrip())
    lines += ["", "## Scenarios"]
    for i, j, vs, s in _scenarios(result):
        lines += ["", f"### {s.name}: {s.verdict} ({vs.label})", ""]
        if s.valid is not True:
            lines += [f"**Why:** {s.failure_reason}", ""]
        if fault := _fault_line(s):
            lines += [fault, ""]
        lines += [f"ran {s.duration_s:.1f} s, {s.throughput_eps:.0f} events/s counted", ""]
        if s.description:
            lines += [_fence(s.description), ""]
        lines.append(f"![{s.name}: counted against acknowledged]({_plot_path(i, j, s)})")
        if s.differing_rows:
            lines += ["", "Differing rows:", "", _fence(s.differing_rows)]
        if s.artifacts:
            lines += ["", "Artifacts:", ""] + [f"- `{path}`" for path in s.artifacts]
    return "\n".join(lines) + "\n"


CSS = """
body { font-family: system-ui, -apple-system, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 .verdict, h3 .verdict { padding: 0.1em 0.5em; border-radius: 0.3em; }
.valid { color: #1a7f37; } .invalid { color: #c62828; } .unknown { color: #9a6700; }
h1 .valid, h3 .valid { background: #dafbe1; } h1 .invalid, h3 .invalid { background: #ffebe9; }
h1 .unknown, h3 .unknown { background: #fff8c5; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.6em; text-align: right; }
th { background: #f6f8fa; } th:first-child, td:first-child { text-align: left; }
table.meta th { text-align: left; }
tr.row-invalid td, tr.row-unknown td { background: #fff5f5; }
table.compare td:nth-child(-n+3), table.compare th:nth-child(-n+3) { text-align: left; }
table.kills td { text-align: left; } table.kills td:nth-child(2) { max-width: 28em; }
td.verdict { font-weight: bold; text-align: center; }
td.changed { background: #ffebe9; font-weight: bold; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
img.plot { max-width: 100%; border: 1px solid #d0d7de; }
section.scenario { border-top: 1px solid #d0d7de; margin-top: 2em; }
ul.failures li { color: #c62828; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _verdict_class(valid: bool | None) -> str:
    return {True: "valid", False: "invalid", None: "unknown"}[valid]


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _html_verdict_table(i: int, vs: VersionSetResult) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in COLUMNS)
    rows = []
    for j, s in enumerate(vs.scenarios):
        name, verdict, *numbers = _verdict_row(s)
        verdict_class = _verdict_class(s.valid)
        cells = f'<td><a href="#{_anchor(i, j, s)}">{_e(name)}</a></td>'
        cells += f'<td class="verdict {verdict_class}">{_e(verdict)}</td>'
        cells += "".join(f"<td>{_e(n)}</td>" for n in numbers)
        rows.append(f'<tr class="row-{verdict_class}">{cells}</tr>')
    return f'<table class="verdicts"><tr>{head}</tr>\n' + "\n".join(rows) + "\n</table>"


def _kill_class(cell: str) -> str:
    return {"killed": "valid", "survived": "invalid", "—": ""}.get(cell.split(":")[0], "unknown")


def render_html(result: AuditResult, plots: dict[str, bytes]) -> str:
    """One file a browser shows offline: inline CSS, plots as data URIs, every text escaped."""
    overall = "valid" if result.valid else "invalid"
    body = [f'<h1>Tally upgrade audit: <span class="verdict {overall}">{overall.upper()}</span></h1>']
    body.append(
        '<table class="meta">'
        + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _meta(result))
        + "</table>"
    )
    if failures := result.failures():
        body.append(
            '<h2>Failures</h2><ul class="failures">'
            + "".join(f"<li>{_e(line)}</li>" for line in failures)
            + "</ul>"
        )
    body.append("<h2>Verdicts</h2>")
    for i, vs in enumerate(result.version_sets):
        status = "valid" if vs.status == "ran" else "invalid"
        body.append(
            f"<h3>{_e(vs.label)}</h3><p>{_e(_versions_line(vs))} · status "
            f'<strong class="{status}">{_e(vs.status)}</strong></p>'
        )
        if vs.status != "ran":
            body.append(f'<pre class="error">{_e(vs.error or "no error recorded")}</pre>')
        if vs.scenarios:
            body.append(_html_verdict_table(i, vs))
    for vs in result.version_sets:
        if vs.mutants:
            head, rows = _kill_matrix(vs)
            cells = [
                "<tr>"
                + "".join(
                    f'<td class="{_kill_class(cell)}">{_e(cell)}</td>' if k >= 2 else f"<td>{_e(cell)}</td>"
                    for k, cell in enumerate(row)
                )
                + "</tr>"
                for row in rows
            ]
            body.append(
                f"<h2>Kill matrix: {_e(vs.label)}</h2>"
                + '<table class="kills"><tr>'
                + "".join(f"<th>{_e(h)}</th>" for h in head)
                + "</tr>\n"
                + "\n".join(cells)
                + "</table><p>Out of the audit's reach:</p><ul>"
                + "".join(
                    f"<li><strong>{_e(name)}</strong> ({_e(intent)}): {_e(why)}</li>"
                    for name, intent, why in _out_of_reach()
                )
                + "</ul>"
            )
    body.append("<h2>Recovery time per fault</h2>" + _img(plots[RECOVERY_PLOT], "recovery time per fault"))
    if len(result.version_sets) > 1:
        comparison = audit_compare.compare_matrix(result)
        body.append("<h2>Version sets side by side</h2>" + audit_compare.render_html_tables(comparison))
    body.append("<h2>Scenarios</h2>")
    for i, j, vs, s in _scenarios(result):
        part = [
            f'<section class="scenario" id="{_anchor(i, j, s)}">',
            f'<h3>{_e(s.name)} <span class="verdict {_verdict_class(s.valid)}">{_e(s.verdict)}</span> '
            f"<small>{_e(vs.label)}</small></h3>",
        ]
        if s.valid is not True:
            part.append(f'<p class="reason"><strong>Why:</strong> {_e(s.failure_reason)}</p>')
        if fault := _fault_line(s):
            part.append(f"<p>{_e(fault)}</p>")
        part.append(f"<p>ran {s.duration_s:.1f} s, {s.throughput_eps:.0f} events/s counted</p>")
        if s.description:
            part.append(f'<pre class="steps">{_e(s.description)}</pre>')
        part.append(_img(plots[_plot_path(i, j, s)], f"{s.name}: counted against acknowledged"))
        if s.differing_rows:
            part.append(f'<h4>Differing rows</h4><pre class="rows">{_e(s.differing_rows)}</pre>')
        if s.artifacts:
            part.append(
                '<h4>Artifacts</h4><ul class="artifacts">'
                + "".join(f"<li><code>{_e(p)}</code></li>" for p in s.artifacts)
                + "</ul>"
            )
        body.append("\n".join(part) + "</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Tally upgrade audit: {overall}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
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
