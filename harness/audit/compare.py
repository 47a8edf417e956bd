"""Two version sets side by side, per scenario: the table a team reads before approving an upgrade.

Compares two audits (old and new), or the version sets of one matrix audit against its first one,
and flags what changed: a verdict, a recovery slower or a time unable to write longer by more than a
quarter, a throughput down by more than a fifth.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.audit.model import AuditResult, VersionSetResult
from harness.audit.render import page
from harness.tables import markdown_table

log = logging.getLogger("harness.compare")

# Also the threshold of the time unable to write, measured on the same samples.
RECOVERY_SLOWER = 0.25
# Recovery is measured by sampling the counts; below this a relative change is sampling noise.
RECOVERY_FLOOR_S = 1.0
THROUGHPUT_DOWN = 0.20
ABSENT = "absent"


@dataclass(frozen=True)
class Side:
    """One scenario on one side: its verdict, "absent" where that side did not run it."""

    verdict: str
    recovery_s: float | None = None
    throughput_eps: float | None = None
    unable_to_write_s: float | None = None


@dataclass(frozen=True)
class ScenarioComparison:
    """One scenario on both sides."""

    scenario: str
    old: Side
    new: Side

    @property
    def recovery_delta_s(self) -> float | None:
        if self.old.recovery_s is None or self.new.recovery_s is None:
            return None
        return self.new.recovery_s - self.old.recovery_s

    @property
    def unable_to_write_delta_s(self) -> float | None:
        if self.old.unable_to_write_s is None or self.new.unable_to_write_s is None:
            return None
        return self.new.unable_to_write_s - self.old.unable_to_write_s

    @property
    def throughput_delta_pct(self) -> float | None:
        if not self.old.throughput_eps or self.new.throughput_eps is None:
            return None
        return (self.new.throughput_eps - self.old.throughput_eps) / self.old.throughput_eps * 100

    @property
    def verdict_changed(self) -> bool:
        return self.old.verdict != self.new.verdict

    @property
    def recovery_slower(self) -> bool:
        return _longer(self.old.recovery_s, self.recovery_delta_s)

    @property
    def unable_to_write_longer(self) -> bool:
        return _longer(self.old.unable_to_write_s, self.unable_to_write_delta_s)

    @property
    def throughput_down(self) -> bool:
        delta = self.throughput_delta_pct
        return delta is not None and delta < -THROUGHPUT_DOWN * 100

    @property
    def changes(self) -> list[str]:
        flags = (
            (self.verdict_changed, "verdict"),
            (self.recovery_slower, "recovery slower"),
            (self.unable_to_write_longer, "unable to write longer"),
            (self.throughput_down, "throughput down"),
        )
        return [name for flagged, name in flags if flagged]


def _longer(old_s: float | None, delta_s: float | None) -> bool:
    """A sampled time grown by more than the sampling noise and by more than a quarter."""
    if old_s is None or delta_s is None:
        return False
    return delta_s > RECOVERY_FLOOR_S and delta_s > RECOVERY_SLOWER * old_s


@dataclass(frozen=True)
class SetComparison:
    old_label: str
    new_label: str
    rows: tuple[ScenarioComparison, ...]


@dataclass(frozen=True)
class Comparison:
    sections: tuple[SetComparison, ...]

    @property
    def changed(self) -> list[tuple[SetComparison, ScenarioComparison]]:
        return [(section, row) for section in self.sections for row in section.rows if row.changes]


def _side(vs: VersionSetResult | None, name: str) -> Side:
    """Scenario `name` in one version set; a set that did not run lends its status as the verdict."""
    if vs is None:
        return Side(ABSENT)
    if vs.status != "ran":
        return Side(vs.status)
    for s in vs.scenarios:
        if s.name == name:
            return Side(s.verdict, s.recovery_s, s.throughput_eps, s.unable_to_write_s)
    return Side(ABSENT)


def compare_sets(old: VersionSetResult | None, new: VersionSetResult | None) -> SetComparison:
    """Every scenario of either side, in the old side's order, then those only the new side ran."""
    names = [s.name for vs in (old, new) if vs is not None for s in vs.scenarios]
    rows = [ScenarioComparison(name, _side(old, name), _side(new, name)) for name in dict.fromkeys(names)]
    return SetComparison(old.label if old else ABSENT, new.label if new else ABSENT, tuple(rows))


def compare(old: AuditResult, new: AuditResult) -> Comparison:
    """Two single-set audits compare set to set; matrix audits pair their version sets by label."""
    if len(old.version_sets) == 1 and len(new.version_sets) == 1:
        return Comparison((compare_sets(old.version_sets[0], new.version_sets[0]),))
    olds = {vs.label: vs for vs in old.version_sets}
    news = {vs.label: vs for vs in new.version_sets}
    labels = dict.fromkeys([*olds, *news])
    return Comparison(tuple(compare_sets(olds.get(label), news.get(label)) for label in labels))


def compare_matrix(result: AuditResult) -> Comparison:
    """Each version set of a matrix audit against the first one, the baseline the runner puts first."""
    sets = result.version_sets
    return Comparison(tuple(compare_sets(sets[0], vs) for vs in sets[1:]))


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _eps(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _cells(row: ScenarioComparison) -> list[tuple[str, bool]]:
    """The table's cells as (text, highlighted): the verdict, recovery, time unable to write and
    throughput, old then new."""
    return [
        (row.scenario, False),
        (row.old.verdict, False),
        (("→ " if row.verdict_changed else "") + row.new.verdict, row.verdict_changed),
        (_seconds(row.old.recovery_s), False),
        (_seconds(row.new.recovery_s), False),
        _delta(row.recovery_delta_s, "{:+.1f}", " ▲", row.recovery_slower),
        (_seconds(row.old.unable_to_write_s), False),
        (_seconds(row.new.unable_to_write_s), False),
        _delta(row.unable_to_write_delta_s, "{:+.1f}", " ▲", row.unable_to_write_longer),
        (_eps(row.old.throughput_eps), False),
        (_eps(row.new.throughput_eps), False),
        _delta(row.throughput_delta_pct, "{:+.1f} %", " ▼", row.throughput_down),
    ]


def _delta(value: float | None, form: str, mark: str, flagged: bool) -> tuple[str, bool]:
    """A change cell: '—' when either side lacks the number; the mark when it crossed a threshold."""
    return ("—" if value is None else form.format(value) + (mark if flagged else ""), flagged)


HEADER = [
    "scenario",
    "verdict old",
    "verdict new",
    "recovery old s",
    "recovery new s",
    "Δ s",
    "unable to write old s",
    "unable to write new s",
    "Δ s",
    "throughput old ev/s",
    "throughput new ev/s",
    "Δ",
]


def _summary(comparison: Comparison) -> str:
    changed = comparison.changed
    if not changed:
        return "Nothing changed beyond the thresholds."
    listed = "; ".join(f"{row.scenario} ({', '.join(row.changes)})" for _, row in changed)
    return f"{len(changed)} change(s): {listed}."


def render_markdown(comparison: Comparison) -> str:
    """Markdown tables, one per pair of version sets; changed cells bold with an arrow."""
    lines = [_summary(comparison)]
    for section in comparison.sections:
        lines += ["", f"**{section.old_label}** → **{section.new_label}**", ""]
        rows = [[f"**{text}**" if flagged else text for text, flagged in _cells(row)] for row in section.rows]
        lines.append(markdown_table(HEADER, rows, left=3))
    return "\n".join(lines) + "\n"


def html_context(comparison: Comparison) -> dict[str, Any]:
    """What `templates/compare_tables.html` shows: the audit report embeds it, `compare.html` too."""
    return {
        "summary": _summary(comparison),
        "header": HEADER,
        "sections": [
            {"title": f"{s.old_label} → {s.new_label}", "rows": [_cells(row) for row in s.rows]}
            for s in comparison.sections
        ],
    }


def render_html(comparison: Comparison) -> str:
    """The tables as a self-contained page."""
    return page("compare.html", comparison=html_context(comparison))


def main_compare(old: Path, new: Path, out: Path | None = None) -> int:
    """`audit compare OLD NEW`: each an audit directory or its audit.json. Prints the table and writes
    compare.md and compare.html into `out` (default: the new audit's directory)."""
    try:
        comparison = compare(AuditResult.load(old), AuditResult.load(new))
    except (OSError, ValueError) as error:
        print(f"audit compare: {error}", file=sys.stderr)  # the command's answer, not a diagnostic
        return 2
    markdown = render_markdown(comparison)
    print(markdown)
    target = out or (new if new.is_dir() else new.parent)
    target.mkdir(parents=True, exist_ok=True)
    (target / "compare.md").write_text(markdown, encoding="utf-8")
    (target / "compare.html").write_text(render_html(comparison), encoding="utf-8")
    log.info("wrote %s and compare.html", target / "compare.md")
    return 0
