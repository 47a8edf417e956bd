"""What a scenario looked like while it ran: a sampler of acknowledged against accounted-for events,
and the times of its steps, from which the audit reads when the fault hit, when it was healed, and
how long the pipeline could not write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cassandra.cluster import Cluster, Session

from harness.audit.model import Sample
from harness.checker.sink_reader import reader, snapshot_or_empty
from harness.eventually import Periodic
from harness.scenario.steps import EnsureDriver, Heal, StartDriver, Step
from harness.scenario.trial import Trial

log = logging.getLogger("harness.sampler")

# The first of these after the fault heals it: the service answers again, or a driver runs again.
HEAL_STEPS = (Heal, StartDriver, EnsureDriver)


class Sampler:
    """Every `interval_s`, one `Sample`: events acknowledged so far (the trial's history) and events
    Cassandra accounts for (counts + dead letters + late reports), so both lines meet when the run is
    exact. A read that fails (Cassandra down or frozen) leaves a gap rather than a wrong point."""

    def __init__(
        self,
        trial: Trial,
        started: float,
        interval_s: float = 1.0,
        on_sample: Callable[[Sample], None] | None = None,
    ) -> None:
        self._trial = trial
        self._started = started
        self._on_sample = on_sample
        self.samples: list[Sample] = []
        self._periodic = Periodic(self.sample, interval_s, name=f"sampler-{trial.name}", log=log)
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._seen_ops = 0
        self._acknowledged = 0
        self._events: set[tuple[str | None, int | None]] = set()
        self._lock = threading.Lock()  # acknowledged() is also called by the step clock's thread

    def __enter__(self) -> Sampler:
        self._periodic.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the thread and take one last sample: the final point of the plot is the end state."""
        self._periodic.stop(timeout_s=30)
        self.sample()
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    def acknowledged(self) -> int:
        """Acknowledged events in the pipeline's units: with deduplication, re-sent copies of a valid
        event already acknowledged do not count (the pipeline drops them without a trace)."""
        with self._lock:
            # Slicing is atomic under the GIL: the producer appends while this thread reads.
            new = self._trial.history.ops[self._seen_ops :]
            self._seen_ops += len(new)
            for op in new:
                if op.type != "ok":
                    continue
                if self._trial.spec.dedup and op.kind == "valid":
                    event = (op.event_id, op.ts_ms)
                    if event in self._events:
                        continue
                    self._events.add(event)
                self._acknowledged += 1
            return self._acknowledged

    def _accounted(self) -> int:
        if self._session is None:
            stack = self._trial.stack
            self._cluster = reader(stack.cassandra_nodes, stack.cassandra_port, connect_timeout=5)
            self._session = self._cluster.connect()
            self._session.default_timeout = 5
        trial = self._trial
        snapshot = snapshot_or_empty(self._session, trial.spec.keyspace, trial.job, trial.window_ms)
        return sum(snapshot.counts.values()) + len(snapshot.dead_letters) + len(snapshot.late)

    def sample(self) -> Sample | None:
        acknowledged = self.acknowledged()
        try:
            accounted = self._accounted()
        except Exception:  # the driver reconnects by itself; a failed connect is retried next time
            if self._session is None and self._cluster is not None:
                self._cluster.shutdown()
                self._cluster = None
            return None
        point = Sample(round(time.monotonic() - self._started, 2), acknowledged, accounted)
        self.samples.append(point)
        if self._on_sample is not None:
            self._on_sample(point)
        return point


@dataclass
class StepClock:
    """The `on_step` hook of `scenario.run`: when each step started and ended, in scenario seconds."""

    started: float
    acknowledged: Callable[[], int]
    fault_step: type[Step] | None = None  # marked when its first instance is done
    current: tuple[int, Step] | None = None
    fault_at_s: float | None = None
    heal_at_s: float | None = None
    acknowledged_at_heal: int | None = None
    ended: list[tuple[int, float]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, index: int, step: Step, done: bool) -> None:
        if not done:
            self.current = (index, step)
            return
        at = round(self.now(), 2)
        self.ended.append((index, at))
        if self.fault_step and self.fault_at_s is None and isinstance(step, self.fault_step):
            self.fault_at_s = at
        elif self.fault_at_s is not None and self.heal_at_s is None and isinstance(step, HEAL_STEPS):
            self.heal_at_s = at
            self.acknowledged_at_heal = self.acknowledged()


def recovery_s(samples: list[Sample], heal_at_s: float | None, target: int | None) -> float | None:
    """Seconds from the heal until Cassandra accounted for every event acknowledged by then."""
    if heal_at_s is None or target is None:
        return None
    for point in samples:
        if point.t_s >= heal_at_s and point.counted >= target:
            return round(point.t_s - heal_at_s, 2)
    return None


def stalls(samples: Sequence[Sample]) -> list[tuple[float, float]]:
    """Each stretch during which acknowledged events waited and Cassandra accounted for none of them,
    as (start, end) in scenario seconds: from the first sample that saw events waiting to the first
    that saw Cassandra account for more than at that start, or to the last sample if none did.

    Progress counts only where a sample saw it: a read that failed (Cassandra down) leaves a gap,
    and a stall runs on through the gap instead of ending at the sample before it. So the stretch is
    known to within a sampling interval, and never cut short by one."""
    found = []
    start: Sample | None = None
    for point in sorted(samples, key=lambda sample: sample.t_s):
        if start is not None and point.counted > start.counted:
            found.append((start.t_s, point.t_s))
            start = None
        if start is None and point.acknowledged > point.counted:
            start = point
    if start is not None and samples:
        found.append((start.t_s, max(sample.t_s for sample in samples)))
    return [(begin, end) for begin, end in found if end > begin]


def unable_to_write_s(samples: Sequence[Sample], from_s: float | None, until_s: float | None) -> float | None:
    """How long the pipeline was unable to write around a fault: the longest stall overlapping the
    fault's window, from `from_s` (the fault; for an upgrade, the first move's start) to `until_s`
    (when the counts recovered; None: the end of the run). A stall that began before the window,
    a driver stopped ahead of a move, counts whole. None without a fault."""
    if from_s is None:
        return None
    overlapping = [
        end - begin for begin, end in stalls(samples) if end > from_s and (until_s is None or begin < until_s)
    ]
    return round(max(overlapping, default=0.0), 2)
