"""The events an upgrade scenario sends while its components move, picked out of its history so that
the scenario's checker judges them on their own: what became of the input a move interrupted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from harness.audit.model import InFlight
from harness.checker.verdict import Verdict
from harness.model.events import window_start_ms
from harness.model.history import Op
from harness.scenario.loads import START_MS
from harness.scenario.upgrades import IN_FLIGHT_MINUTES


def in_flight(ops: Iterable[Op], window_ms: int) -> Callable[[Op], bool]:
    """Picks the background producer's records (harness/scenario/upgrades.py:Producer): those of its
    workloads, the valid ones in the windows of its event-time minutes.

    A workload is known by the seed in its records' event ids, which a malformed record, carrying
    no event time, has too. It is the producer's when most of its valid events are dated in those
    minutes, because the loads before and after date a few events across the boundaries (their
    disorder). By window, not by event time, because the checker judges whole rows: the first
    chunk's events dated up to a second before its first minute share that window with the load
    before the move, and are judged with the whole scenario only. With `--seed 0` the first
    chunk's seed (seed * 1000) is the first load's, so are its event ids: the chunk is not picked,
    its rows cannot be judged apart, and the verdict on the events in flight is unknown."""
    first, end = (START_MS + minute * 60_000 for minute in IN_FLIGHT_MINUTES)

    def dated_in_flight(op: Op) -> bool:
        if op.kind != "valid" or op.ts_ms is None:
            return False
        return first <= window_start_ms(op.ts_ms, window_ms) < end

    invokes = [op for op in ops if op.type == "invoke"]
    dated = Counter(_workload(op) for op in invokes if dated_in_flight(op))
    valid = Counter(_workload(op) for op in invokes if op.kind == "valid")
    producers = {workload for workload, n in dated.items() if 2 * n > valid[workload]}
    return lambda op: _workload(op) in producers and (op.kind == "dead" or dated_in_flight(op))


def _workload(op: Op) -> str | None:
    """The seed of the workload that made a record: its event_id is `{seed}-{n}`
    (harness/workload/generator.py)."""
    return op.event_id.rpartition("-")[0] if op.event_id else None


def in_flight_result(verdict: Verdict) -> InFlight:
    """The checker's verdict on the events in flight, as the audit stores it."""
    s = verdict.summary
    if s is None:
        return InFlight(valid=None, error=verdict.error or "the checker gave no summary")
    return InFlight(
        valid=verdict.valid,
        attempted=s.attempted,
        acknowledged=s.acknowledged,
        failed=s.failed,
        unknown=s.indeterminate,
        counted=s.counted_total,
        dead_lettered=s.dead_lettered,
        late=s.late,
        lost=s.lost,
        duplicated=s.duplicated,
        unexpected=s.unexpected,
        misclassified=s.misclassified,
        wrongly_late=s.wrongly_late,
    )
