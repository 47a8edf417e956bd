"""How long a driver took to start: from its container's launch to the Spark session, the query, and
the first committed batch. Read after the fact from the container's timestamped log and the progress
log, so measuring costs the driver nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SESSION = re.compile(r"^(\S+) spark session \S+ up on ")
QUERY = re.compile(r"^(\S+) query \S+ started on ")


@dataclass(frozen=True)
class Startup:
    """Seconds from the container's launch; None for a milestone not reached (yet)."""

    session_s: float | None
    query_s: float | None
    first_batch_s: float | None

    def __str__(self) -> str:
        def show(seconds: float | None) -> str:
            return "-" if seconds is None else f"{seconds:.1f} s"

        return (
            f"session {show(self.session_s)}, query started {show(self.query_s)}, "
            f"first batch committed {show(self.first_batch_s)} after launch"
        )


def instant(text: str) -> datetime:
    """Docker's RFC 3339 timestamps carry nanoseconds; datetime takes microseconds."""
    text = re.sub(r"(\.\d{6})\d*", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


def first_commit(reports: list[dict[str, Any]], since: datetime) -> datetime | None:
    """When the first batch that started after `since` and read offsets was committed: its trigger
    time plus the trigger's duration (Spark reports progress right after `commits/N`)."""
    for report in reports:
        started = instant(report["timestamp"])
        if started >= since and any(source.get("endOffset") for source in report.get("sources", [])):
            return started + timedelta(milliseconds=report["durationMs"]["triggerExecution"])
    return None


def startup(launched: datetime, timestamped_log: str, reports: list[dict[str, Any]]) -> Startup:
    """`timestamped_log`: the driver's output with docker's timestamps (`docker logs -t`)."""

    def after(moment: datetime | None) -> float | None:
        return None if moment is None else round((moment - launched).total_seconds(), 3)

    def logged(pattern: re.Pattern[str]) -> datetime | None:
        for line in timestamped_log.splitlines():
            if match := pattern.match(line):
                return instant(match.group(1))
        return None

    return Startup(
        session_s=after(logged(SESSION)),
        query_s=after(logged(QUERY)),
        first_batch_s=after(first_commit(reports, launched)),
    )
