"""Pure summaries of what a run recorded: memory growth of a process, and Spark's query progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024
PHASES = ("latestOffset", "queryPlanning", "getBatch", "walCommit", "addBatch", "commitOffsets")


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares line through (x, y) points: (slope, intercept)."""
    n = len(points)
    if n == 0:
        return 0.0, 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0, mean_y
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
    return slope, mean_y - slope * mean_x


@dataclass(frozen=True)
class MemoryGrowth:
    """Trend of a process's resident memory over the judged part of a run (after a warm-up)."""

    minutes: float  # length of the judged part
    start_mb: float  # the fitted line at its start
    end_mb: float  # and at its end
    growth_mb: float
    growth_pct: float
    per_10_min_mb: float  # the slope, as MiB per 10 minutes
    flat: bool


def memory_growth(
    series: Sequence[tuple[float, int]], warmup_fraction: float = 0.2, tolerance: float = 0.05
) -> MemoryGrowth | None:
    """Flat means the fitted growth over the judged part is at most `tolerance` of where it started.

    A fit rather than last - first: a JVM's resident memory moves in steps with each GC, and a
    single sample at either end would decide the verdict.
    """
    if len(series) < 3:
        return None
    t0 = series[0][0]
    cut = t0 + (series[-1][0] - t0) * warmup_fraction
    judged = [(t - t0, v / MiB) for t, v in series if t >= cut]
    if len(judged) < 3:
        return None
    slope, intercept = fit(judged)
    start, end = judged[0][0], judged[-1][0]
    start_mb, end_mb = intercept + slope * start, intercept + slope * end
    growth = end_mb - start_mb
    pct = growth / start_mb if start_mb > 0 else 0.0
    return MemoryGrowth(
        minutes=round((end - start) / 60, 2),
        start_mb=round(start_mb, 1),
        end_mb=round(end_mb, 1),
        growth_mb=round(growth, 1),
        growth_pct=round(100 * pct, 2),
        per_10_min_mb=round(slope * 600, 1),
        flat=pct <= tolerance,
    )


@dataclass(frozen=True)
class ProgressSummary:
    """Spark's own account of where a query's time went, summed over the batches with input."""

    batches: int
    input_rows: int  # as Spark counts them: a source read twice in one plan counts twice
    max_batch_rows: int
    duration_ms: dict[str, int]  # per trigger phase, summed
    trigger_ms: int  # the summed triggerExecution
    state_rows: int  # rows in the state store after the last batch

    def shares(self) -> dict[str, float]:
        """Each phase as a fraction of the summed triggerExecution."""
        if not self.trigger_ms:
            return {}
        return {k: round(v / self.trigger_ms, 3) for k, v in self.duration_ms.items()}


def summarize_progress(reports: Iterable[Mapping[str, Any]], after_batch: int = -1) -> ProgressSummary:
    """Sum the progress of batches with input whose id is greater than `after_batch`."""
    durations: Counter[str] = Counter()
    batches = rows = biggest = trigger = state = 0
    for report in reports:
        if report.get("batchId", -1) <= after_batch:
            continue
        operators = report.get("stateOperators") or []
        if operators:
            state = sum(int(op.get("numRowsTotal", 0)) for op in operators)
        n = int(report.get("numInputRows", 0))
        if n == 0:
            continue
        batches += 1
        rows += n
        biggest = max(biggest, n)
        phases = report.get("durationMs", {})
        trigger += int(phases.get("triggerExecution", 0))
        for phase in PHASES:
            durations[phase] += int(phases.get(phase, 0))
    return ProgressSummary(
        batches=batches,
        input_rows=rows,
        max_batch_rows=biggest,
        duration_ms=dict(durations),
        trigger_ms=trigger,
        state_rows=state,
    )
