"""What the pipeline's sink holds at the end of a run: counts, dead letters and late reports, with the
settings and Spark's offset log needed to judge whether each late report could have been late."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

RowKey = tuple[str, int]  # (site_id, window_start_ms)
Position = tuple[str, int, int]  # (topic, partition, offset)
TopicPartition = tuple[str, int]
# (generation, batch id); batch -1 stands for where the generation started reading.
BatchKey = tuple[int, int]


@dataclass(frozen=True)
class LateReport:
    """One row of `late_events`: the row the event would have counted in, the watermark the sink
    says it missed, and the batch that read it."""

    site_id: str
    window_start_ms: int
    watermark_ms: int
    batch_id: int
    generation: int = 1

    @property
    def row(self) -> RowKey:
        return (self.site_id, self.window_start_ms)


@dataclass(frozen=True)
class SinkSnapshot:
    """`counts` are absolute; `late` maps each event reported too late to count to its report.

    `allowed_lateness_ms` and `dedup` are the pipeline's settings: they say which watermark a late
    report may claim (0 lateness is the loosest sound bound). `batch_end_offsets` is Spark's offset
    log of each generation's checkpoint (`offsets/N`: (generation, batch id) -> end offset per topic
    partition, and (generation, -1) -> the offsets it started from); a batch whose entry is missing
    (purged) is judged by positions alone.
    """

    window_ms: int
    counts: Mapping[RowKey, int] = field(default_factory=dict)
    dead_letters: Mapping[Position, str] = field(default_factory=dict)
    late: Mapping[Position, LateReport] = field(default_factory=dict)
    allowed_lateness_ms: int = 0
    dedup: bool = False
    batch_end_offsets: Mapping[BatchKey, Mapping[TopicPartition, int]] = field(default_factory=dict)
