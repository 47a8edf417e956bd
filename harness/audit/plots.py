"""The audit's plots as PNG bytes: what a reviewer looks at before reading any table.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot, so nothing here
touches matplotlib's global backend or needs a display.
"""

from __future__ import annotations

import io
import textwrap

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.audit.model import AuditResult, ScenarioResult

ACKNOWLEDGED_COLOUR = "#4c72b0"
COUNTED_COLOUR = "#dd8452"
FAULT_COLOUR = "#c44e52"
HEAL_COLOUR = "#55a868"
# One colour per version set; the render test finds the first on screen to know a plot was drawn.
SET_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
# The timeline's two step lines, (sample field, colour, width, style): counted thinner and dashed on
# top, so that where it equals acknowledged both lines stay visible.
SERIES = (
    ("acknowledged", ACKNOWLEDGED_COLOUR, 2.0, "-"),
    ("counted", COUNTED_COLOUR, 1.5, "--"),
)


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
        for name, colour, width, style in SERIES:
            values = [getattr(s, name) for s in scenario.timeline]
            axes.step(times, values, where="post", label=name, color=colour, linewidth=width, linestyle=style)
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
    """Seconds from heal to matching counts, one row per fault, one bar per version set: an upgrade
    that recovers slower stands out. Several scenarios with one fault in a set show the slowest.

    Horizontal bars: a fault is named in a few words ("latency 300..1000 ms on kafka, cassandra"),
    and a dozen such names side by side under vertical bars overlap into one unreadable line."""
    sets = [vs for vs in result.version_sets if vs.status == "ran"]
    faults = list(dict.fromkeys(s.fault for vs in sets for s in vs.scenarios if s.fault))
    # Room per fault for a label wrapped on two lines, and for each set's bar.
    per_fault = 0.15 + 0.25 * max(len(sets), 1)
    figure = Figure(figsize=(8, 1.6 + per_fault * max(len(faults), 1)), layout="constrained")
    axes = figure.add_subplot()
    figure.suptitle("recovery time per fault", x=0.02, ha="left", fontsize=11)
    axes.set_xlabel("seconds from heal to matching counts")
    if not faults:
        _placeholder(axes, "no fault scenario recorded a recovery time")
        return _png(figure)
    height = 0.8 / len(sets)
    for i, vs in enumerate(sets):
        ys, lengths = [], []
        for y, fault in enumerate(faults):
            times = [s.recovery_s for s in vs.scenarios if s.fault == fault and s.recovery_s is not None]
            offset = y + height * (i - (len(sets) - 1) / 2)
            if times:
                ys.append(offset)
                lengths.append(max(times))
            else:
                axes.text(0, offset, " n/a", ha="left", va="center", fontsize=8, color="grey")
        colour = SET_COLOURS[i % len(SET_COLOURS)]
        bars = axes.barh(ys, lengths, height=height * 0.9, label=vs.label, color=colour)
        axes.bar_label(bars, fmt=" %.1f", fontsize=8)
    axes.set_yticks(range(len(faults)), [textwrap.fill(f, 34) for f in faults], fontsize=9)
    # The first fault at the top, in catalogue order, as the tables list them.
    axes.set_ylim(len(faults) - 0.5, -0.5)
    axes.margins(x=0.15)
    # Above the bars, never on them.
    axes.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.01), ncols=2, frameon=False)
    return _png(figure)
