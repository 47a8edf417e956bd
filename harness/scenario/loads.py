"""The workloads scenarios produce: events of 50 sites over a few minutes of event time from a fixed
start, some malformed, out of order, re-sent or dated in the future, as a scenario asks."""

from __future__ import annotations

from harness.scenario.steps import Produce
from harness.workload.generator import WorkloadSpec

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on a window boundary
# Re-sent copies land up to two batches after their original, some past a restart. Under a backlog a
# batch drops input by the watermark of the batch before it (max event time of the batch before that,
# minus the lateness): with 30 s of lateness over four minutes of event time (6,000 events: 750
# records per 30 s), copies sent more than about 2,750 records late arrive after the watermark.
RESEND_DELAY_RECORDS = 4_000


def load(
    seed: int,
    events: int,
    minute: int = 0,
    minutes: int = 4,
    malformed: float = 0.01,
    disorder_ms: int = 1_000,
    resend: float = 0.0,
    future: float = 0.0,
) -> Produce:
    return Produce(
        WorkloadSpec(
            seed=seed,
            events=events,
            sites=50,
            start_ms=START_MS + minute * 60_000,
            spread_ms=minutes * 60_000,
            disorder_ms=disorder_ms,
            malformed_fraction=malformed,
            resend_fraction=resend,
            resend_delay_records=RESEND_DELAY_RECORDS,
            future_fraction=future,
        )
    )
