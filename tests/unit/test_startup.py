"""A driver's start-up milestones, read from its timestamped log and the progress log."""

from __future__ import annotations

from harness.stack.startup import Startup, instant, startup

LAUNCHED = instant("2026-12-01T14:49:57.051194077Z")
LOG = """\
2026-12-01T14:49:57.494863421Z WARNING: Using incubator modules: jdk.incubator.vector
2026-12-01T14:50:01.051194077Z spark session app-20261201144959-0001 up on spark://127.0.0.1:37747
2026-12-01T14:50:06.381868512Z query 499eee67-1b25 started on spark://127.0.0.1:37747
"""


Offsets = dict[str, dict[str, int]]


def report(timestamp: str, trigger_ms: int, end_offset: Offsets | None) -> dict[str, object]:
    return {
        "timestamp": timestamp,
        "durationMs": {"triggerExecution": trigger_ms},
        "sources": [{"startOffset": None, "endOffset": end_offset}],
    }


def test_milestones_are_seconds_after_launch() -> None:
    reports = [
        # A batch of an earlier driver on the same checkpoint does not count for this one.
        report("2026-12-01T14:49:50.000Z", 500, {"t": {"0": 10}}),
        report("2026-12-01T14:50:06.439Z", 10_778, {"t": {"0": 150}}),
    ]
    assert startup(LAUNCHED, LOG, reports) == Startup(session_s=4.0, query_s=9.331, first_batch_s=20.166)


def test_milestones_not_reached_are_none() -> None:
    idle = [report("2026-12-01T14:50:06.439Z", 100, None)]
    timing = startup(LAUNCHED, LOG.splitlines()[0], idle)
    assert timing == Startup(session_s=None, query_s=None, first_batch_s=None)
    assert str(timing) == "session -, query started -, first batch committed - after launch"
