"""The pageview event format shared with the pipeline, its dead-letter reasons, its windows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
