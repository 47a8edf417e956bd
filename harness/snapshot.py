"""What the pipeline's sink holds at the end of a run: counts, dead letters and late reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

RowKey = tuple[str, int]  # (site_id, window_start_ms)
Position = tuple[str, int, int]  # (topic, partition, offset)


@dataclass(frozen=True)
class SinkSnapshot:
    """`counts` are absolute; `late` maps each too-late event to the row it would have counted in."""

    window_ms: int
    counts: Mapping[RowKey, int] = field(default_factory=dict)
    dead_letters: Mapping[Position, str] = field(default_factory=dict)
    late: Mapping[Position, RowKey] = field(default_factory=dict)
