"""The audit's plots as PNG bytes: what a reviewer looks at before reading any table.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot, so nothing here
touches matplotlib's global backend or needs a display.
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.audit_model import AuditResult, ScenarioResult

ACKNOWLEDGED_COLOUR = "#4c72b0"
COUNTED_COLOUR = "#dd8452"
FAULT_COLOUR = "#c44e52"
HEAL_COLOUR = "#55a868"
# One colour per version set; the render test finds the first on screen to know a plot was drawn.
SET_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _placeholder(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center", color="grey")


def timeline_png(scenario: ScenarioResult) -> bytes:
    """Counted against acknowledged over time, the fault window shaded: a gap that closes after the
    heal is a recovery, one that stays open is lost data, a counted line above is duplication."""
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(f"{scenario.name}: {scenario.verdict}", loc="left", fontsize=11)
    axes.set_xlabel("seconds since the scenario started")
    axes.set_ylabel("events")
    times = [s.t_s for s in scenario.timeline]
    if times:
        axes.step(
            times,
            [s.acknowledged for s in scenario.timeline],
            where="post",
            label="acknowledged",
            color=ACKNOWLEDGED_COLOUR,
            linewidth=2,
        )
        axes.step(
            times,
            [s.counted for s in scenario.timeline],
            where="post",
            label="counted",
            color=COUNTED_COLOUR,
            linewidth=1.5,
            linestyle="--",
        )
    else:
        _placeholder(axes, "no timeline recorded")
    fault, heal = scenario.fault_at_s, scenario.heal_at_s
    if fault is not None:
        axes.axvline(fault, color=FAULT_COLOUR, linewidth=1, label=f"fault: {scenario.fault or '?'}")
        if heal is not None:
            axes.axvspan(fault, heal, color=FAULT_COLOUR, alpha=0.08)
    if heal is not None:
        axes.axvline(heal, color=HEAL_COLOUR, linewidth=1, label="heal")
        if scenario.recovery_s is not None:
            axes.axvline(
                heal + scenario.recovery_s,
                color=HEAL_COLOUR,
                linewidth=1,
                linestyle=":",
                label=f"recovered after {scenario.recovery_s:.1f} s",
            )
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower right", fontsize=8)
    return _png(figure)


def recovery_png(result: AuditResult) -> bytes:
    """Seconds from heal to matching counts, grouped by fault, one bar per version set: an upgrade
    that recovers slower stands out. Several scenarios with one fault in a set show the slowest."""
    sets = [vs for vs in result.version_sets if vs.status == "ran"]
    faults = list(dict.fromkeys(s.fault for vs in sets for s in vs.scenarios if s.fault))
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title("recovery time per fault", loc="left", fontsize=11)
    axes.set_ylabel("seconds from heal to matching counts")
    if not faults:
        _placeholder(axes, "no fault scenario recorded a recovery time")
        return _png(figure)
    # Narrow bars for a single set: a bar as wide as its group reads as a different kind of chart.
    width = min(0.8 / len(sets), 0.3)
    for i, vs in enumerate(sets):
        xs, heights = [], []
        for x, fault in enumerate(faults):
            times = [s.recovery_s for s in vs.scenarios if s.fault == fault and s.recovery_s is not None]
            offset = x + width * (i - (len(sets) - 1) / 2)
            if times:
                xs.append(offset)
                heights.append(max(times))
            else:
                axes.text(offset, 0, "n/a", ha="center", va="bottom", fontsize=8, color="grey")
        colour = SET_COLOURS[i % len(SET_COLOURS)]
        bars = axes.bar(xs, heights, width=width * 0.95, label=vs.label, color=colour)
        axes.bar_label(bars, fmt="%.1f", fontsize=8)
    axes.set_xticks(range(len(faults)), faults, fontsize=9)
    axes.set_xlim(-0.5, len(faults) - 0.5)
    axes.margins(y=0.15)
    axes.legend(fontsize=8)
    return _png(figure)
