"""Whether a late report is justified: the watermark it claims must cover its event, and must be one
the pipeline could have had, given the events Spark had read before the batch that reported it.

Late is the one place where the pipeline may leave an acknowledged event uncounted, so a report is
not taken on trust. Spark drops an event of batch B when its window ended at or before the watermark
(with deduplication: when its own time is at or before it). That watermark is the previous batch's,
set when batch B-1 was planned from the event times of batches up to B-2, minus the allowed
lateness, and never below 0. So a report of batch B is justified only if

    window end (dedup: event time)  <=  watermark  <=  max(0, max event time read by B-2 - lateness)

The events read by batch B-2 are the positions below its end offsets in Spark's offset log. Each
generation (checkpoint) numbers its batches from 0; a generation that took the job over starts
where the one before committed, with that one's watermark carried over, so for its batches 0 and 1
everything below its start offsets counts as read. Where a log entry is missing, the bound falls
back to what positions alone prove: in the event's own partition only earlier offsets were read
before it; in the others, any. Sends whose outcome is unknown (info) may have been read anywhere,
so their times always count. Every fallback is looser, never tighter: a correct pipeline is never
judged wrongly late.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping
from itertools import accumulate

from harness.model.events import window_start_ms
from harness.model.history import Op
from harness.model.snapshot import LateReport, Position, SinkSnapshot, TopicPartition

NEVER = -1  # a ceiling below every event time: nothing was read


class LatenessJudge:
    def __init__(self, acked: Mapping[Position, Op], unknown: Iterable[Op], snapshot: SinkSnapshot) -> None:
        self._window_ms = snapshot.window_ms
        self._lateness_ms = snapshot.allowed_lateness_ms
        self._dedup = snapshot.dedup
        self._ends = snapshot.batch_end_offsets
        times: defaultdict[TopicPartition, list[tuple[int, int]]] = defaultdict(list)
        for (topic, partition, offset), op in acked.items():
            if op.kind == "valid" and op.ts_ms is not None:
                times[(topic, partition)].append((offset, op.ts_ms))
        # Per partition: offsets in order and the running maximum of event time up to each.
        self._offsets: dict[TopicPartition, list[int]] = {}
        self._running_max: dict[TopicPartition, list[int]] = {}
        for tp, pairs in times.items():
            pairs.sort()
            self._offsets[tp] = [offset for offset, _ in pairs]
            self._running_max[tp] = list(accumulate((ts for _, ts in pairs), max))
        self._unknown_max = max(
            (op.ts_ms for op in unknown if op.kind == "valid" and op.ts_ms is not None), default=NEVER
        )

    def unjustified(self, position: Position, report: LateReport, event_ts_ms: int | None) -> str | None:
        """Why `report` of the event at `position` cannot be right, or None when it can.

        `event_ts_ms`: the acknowledged event's time; None for a report matched to an info send,
        judged by the row it names."""
        # The acknowledged event's own window, whichever row the report names (a wrong row is
        # flagged on its own).
        window_start = (
            report.window_start_ms if event_ts_ms is None else window_start_ms(event_ts_ms, self._window_ms)
        )
        if self._dedup:
            floor, what = (event_ts_ms, "event time") if event_ts_ms is not None else (window_start, "window")
        else:
            floor, what = window_start + self._window_ms, "window end"
        if report.watermark_ms < floor:
            return f"watermark {report.watermark_ms} is before the event's {what} {floor}: it was not late"
        wrong_batch = self._outside_batch(position, report.generation, report.batch_id)
        if wrong_batch:
            return wrong_batch
        ceiling, read = self._ceiling(position, report.generation, report.batch_id)
        highest = max(0, ceiling - self._lateness_ms) if ceiling != NEVER else 0
        if report.watermark_ms > highest:
            seen = f"event times up to {ceiling}" if ceiling != NEVER else "no event"
            return (
                f"watermark {report.watermark_ms} in batch {report.batch_id} is above {highest}, the "
                f"highest it could be: {read} held {seen}, less {self._lateness_ms} ms of allowed lateness"
            )
        return None

    def _outside_batch(self, position: Position, generation: int, batch_id: int) -> str | None:
        topic, partition, offset = position
        end = self._ends.get((generation, batch_id), {}).get((topic, partition))
        start = self._ends.get((generation, batch_id - 1), {}).get((topic, partition))
        if (end is not None and offset >= end) or (start is not None and offset < start):
            return (
                f"reported by batch {batch_id} of generation {generation}, which read offsets "
                f"[{'?' if start is None else start}, {end}) of {topic}/{partition}"
            )
        return None

    def _ceiling(self, position: Position, generation: int, batch_id: int) -> tuple[int, str]:
        """The largest event time read before the batch's watermark was set, and what was read."""
        if batch_id < 2:
            # Batches 0 and 1 drop by the watermark the generation started with: nothing for the
            # first, the one carried over for a take-over, set from what the old one had read.
            started = self._ends.get((generation, -1))
            if generation == 1 or started is None:
                return self._unknown_max, f"no batch before batch {batch_id}'s watermark"
            highest = max((self._max_below(tp, end) for tp, end in started.items()), default=NEVER)
            return max(highest, self._unknown_max), f"the input before generation {generation}"
        before = self._ends.get((generation, batch_id - 2))
        if before is not None:
            highest = max((self._max_below(tp, end) for tp, end in before.items()), default=NEVER)
            return max(highest, self._unknown_max), f"the input of batches up to {batch_id - 2}"
        topic, partition, offset = position
        highest = max(
            (self._max_below(tp, offset if tp == (topic, partition) else None) for tp in self._offsets),
            default=NEVER,
        )
        return max(highest, self._unknown_max), f"the input before offset {offset} of {topic}/{partition}"

    def _max_below(self, tp: TopicPartition, end: int | None) -> int:
        """Largest acknowledged event time in `tp` below offset `end` (None: anywhere)."""
        offsets = self._offsets.get(tp)
        if not offsets:
            return NEVER
        count = len(offsets) if end is None else bisect_left(offsets, end)
        return self._running_max[tp][count - 1] if count else NEVER
