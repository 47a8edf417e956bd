"""The audit's plots as PNG bytes: what a reviewer looks at before reading any table.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot, so nothing here
touches matplotlib's global backend or needs a display.
"""

from __future__ import annotations

import io
import textwrap
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.audit.model import AuditResult, ScenarioResult

ACKNOWLEDGED_COLOUR = "#4c72b0"
COUNTED_COLOUR = "#dd8452"
FAULT_COLOUR = "#c44e52"
HEAL_COLOUR = "#55a868"
# An upgrade's timeline keeps its data below this share of the height: its labels go above.
DATA_SHARE = 0.8
LABEL_Y = 0.97  # the labels' top, as a share of the height
LABEL_PAD_PT = 4  # between a side label and the line it stands by
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
    if scenario.moved and fault is not None and heal is not None:
        _mark_transition(axes, scenario, fault, heal)
    else:
        _mark_fault(axes, scenario, fault, heal)
    if heal is not None and scenario.recovery_s is not None:
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


def _mark_fault(axes: Axes, scenario: ScenarioResult, fault: float | None, heal: float | None) -> None:
    if fault is not None:
        axes.axvline(fault, color=FAULT_COLOUR, linewidth=1, label=f"fault: {scenario.fault or '?'}")
        if heal is not None:
            axes.axvspan(fault, heal, color=FAULT_COLOUR, alpha=0.08)
    if heal is not None:
        axes.axvline(heal, color=HEAL_COLOUR, linewidth=1, label="heal")


def _mark_transition(axes: Axes, scenario: ScenarioResult, moved_at: float, moved_by: float) -> None:
    """An upgrade's timeline in three parts: the versions it started on ("old"), the move (shaded,
    and named in the legend), the versions it moved to ("new"); the versions are named in the title.

    The side labels stand outside the shaded move, one ending at its start and one beginning at its
    end, and "moving" is written upright inside it: a move of a few seconds in a run of minutes is
    narrower than any word, and this way no label can run into another."""
    axes.axvspan(
        moved_at,
        moved_by,
        color=FAULT_COLOUR,
        alpha=0.12,
        label=textwrap.fill(f"moving: {scenario.fault or '?'}", 48),
    )
    axes.axvline(moved_at, color=FAULT_COLOUR, linewidth=1)
    axes.axvline(moved_by, color=HEAL_COLOUR, linewidth=1)
    low, high = axes.get_ylim()
    axes.set_ylim(low, low + (high - low) / DATA_SHARE)
    # The versions under the title, where a long label always fits; beside the move, the words
    # that place them, short enough for a move in the first seconds of a run.
    axes.set_title(f"{scenario.name}: {scenario.verdict}\n{_transition(scenario)}", loc="left", fontsize=10)
    _side_label(axes, "old", moved_at, "right")
    _side_label(axes, "new", moved_by, "left")
    axes.text(
        (moved_at + moved_by) / 2,
        LABEL_Y,
        "moving",
        transform=axes.get_xaxis_transform(),
        rotation=90,
        ha="center",
        va="top",
        fontsize=8,
        color=FAULT_COLOUR,
        clip_on=True,
    )


def _side_label(axes: Axes, text: str, at_s: float, ha: Literal["left", "right"]) -> None:
    """`text` in the band above the data, ending (`ha="right"`) or beginning at the line at `at_s`.

    Clipped to the axes: a move at the very start or end of a run cuts a side label short rather
    than letting it run over the tick labels or the title."""
    axes.annotate(
        text,
        (at_s, LABEL_Y),
        xycoords=axes.get_xaxis_transform(),  # x in seconds, y as a share of the height
        xytext=(LABEL_PAD_PT if ha == "left" else -LABEL_PAD_PT, 0),
        textcoords="offset points",
        ha=ha,
        va="top",
        fontsize=8,
        clip_on=True,
        # Over the recovery line that may cross it, which stays visible above and below.
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )


def _transition(scenario: ScenarioResult) -> str:
    """What ran before and after the move: the components that changed, with their versions."""
    if not scenario.versions_after:  # an audit.json from before the field
        return f"from {scenario.versions}"
    before, after = scenario.versions.split(), scenario.versions_after.split()
    if before == after:  # a refused rollback, or a round trip
        return f"{scenario.versions}, the same before and after the move"
    return (
        f"{' '.join(v for v in before if v not in after)} → {' '.join(v for v in after if v not in before)}"
    )


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
