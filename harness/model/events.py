"""The pageview event format shared with the pipeline, its dead-letter reasons, its windows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

# Dead-letter reasons: the pipeline writes these strings, the checker compares against them.
EMPTY_VALUE = "empty_value"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
MISSING_SITE_ID = "missing_site_id"
MISSING_EVENT_ID = "missing_event_id"
INVALID_TS = "invalid_ts"
FUTURE_TS = "future_ts"
OVERSIZED = "oversized"
DEAD_REASONS = (
    EMPTY_VALUE,
    INVALID_UTF8,
    INVALID_JSON,
    MISSING_SITE_ID,
    MISSING_EVENT_ID,
    INVALID_TS,
    FUTURE_TS,
    OVERSIZED,
)


@dataclass(frozen=True)
class PageView:
    """One pageview; on the wire `ts` is event time in epoch milliseconds (UTC)."""

    event_id: str
    site_id: str
    page: str
    ts_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "site_id": self.site_id,
            "page": self.page,
            "ts": self.ts_ms,
        }

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def window_start_ms(ts_ms: int, window_ms: int) -> int:
    """Start of the epoch-aligned tumbling window holding `ts_ms` (floors, also before 1970)."""
    if window_ms <= 0:
        raise ValueError(f"window_ms must be positive, got {window_ms}")
    return ts_ms - ts_ms % window_ms


Kind = Literal["valid", "dead"]


@dataclass(frozen=True)
class Expected:
    """What the pipeline should do with a record: count it (valid) or dead-letter it (`reason`)."""

    kind: Kind
    event_id: str | None = None
    site_id: str | None = None
    ts_ms: int | None = None
    reason: str | None = None

    @classmethod
    def valid(cls, view: PageView) -> Expected:
        return cls("valid", event_id=view.event_id, site_id=view.site_id, ts_ms=view.ts_ms)

    @classmethod
    def dead(cls, reason: str, event_id: str | None = None) -> Expected:
        return cls("dead", event_id=event_id, reason=reason)
