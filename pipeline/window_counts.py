"""The absolute count of every open window, kept beside Spark's checkpoint, one file per batch.

Batch N's counts are batch N-1's, plus what batch N counts, less the windows its watermark closed:
a pure function of what is fixed before N runs (the counts after N-1, and N's offsets and
watermark in Spark's offset log). The sink writes them to `tally-counts/N` under the checkpoint
while it writes batch N to Cassandra, atomically (a temporary file renamed into place, by Spark's
own `CheckpointFileManager`), and returns only when both are done: batch N+1, the only reader, starts
after Spark commits N. A replay of N, by whichever driver, starts again from `tally-counts/N-1` and
finds the same values. The query itself keeps no state: this file is the
state, and it is only as large as the open windows (sites x windows within the allowed lateness).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import SparkSession

from pipeline.checkpoint import java_class, read_text

FOLDER = "tally-counts"
# Batch N needs only N-1's file; the few before it are kept for whoever reads a checkpoint to debug.
RETAIN = 10

# (site_id, window_start_ms, window_end_ms) -> views
Window = tuple[str, int, int]
Counts = Mapping[Window, int]


def advance(before: Counts, added: Iterable[tuple[Window, int]], watermark_ms: int) -> dict[Window, int]:
    """The counts after a batch: `before`, plus what it `added` per window, without the windows that
    ended at or before the batch's watermark (no event of theirs is ever counted again)."""
    after = {window: views for window, views in before.items() if window[2] > watermark_ms}
    for window, views in added:
        after[window] = after.get(window, 0) + views
    return after


class WindowCounts:
    """`tally-counts/N` under one checkpoint; one instance serves one query, batch after batch."""

    def __init__(self, spark: SparkSession, checkpoint: str) -> None:
        self._spark = spark
        self._checkpoint = checkpoint.rstrip("/")
        # The counts this instance last saved: what the next batch starts from, without a read.
        self._last: tuple[int, dict[Window, int]] | None = None
        self._file_manager: Any = None

    def before(self, batch_id: int) -> dict[Window, int]:
        """The counts after batch `batch_id - 1`: empty before the checkpoint's first batch."""
        if batch_id == 0:
            return {}
        if self._last is not None and self._last[0] == batch_id - 1:
            return dict(self._last[1])
        text = read_text(self._spark, self._checkpoint, f"{FOLDER}/{batch_id - 1}")
        if text is None:
            raise FileNotFoundError(
                f"{self._checkpoint}/{FOLDER}/{batch_id - 1} is missing: batch {batch_id - 1} was "
                "committed without its window counts. Was this checkpoint written by a Tally from "
                "before they were kept here? Move the job to a new checkpoint with --take-over-from."
            )
        return {(site, start, end): views for site, start, end, views in json.loads(text)}

    def save(self, batch_id: int, counts: Counts) -> None:
        """Write the counts after batch `batch_id`, replacing what an earlier attempt wrote."""
        rows = sorted([site, start, end, views] for (site, start, end), views in counts.items())
        self._write(f"{FOLDER}/{batch_id}", json.dumps(rows, separators=(",", ":")))
        self._last = (batch_id, dict(counts))
        if batch_id >= RETAIN:
            self._delete(f"{FOLDER}/{batch_id - RETAIN}")

    def _manager(self, name: str) -> tuple[Any, Any]:
        path_class = java_class(self._spark, "org.apache.hadoop.fs.Path")
        if self._file_manager is None:
            # Made once: it resolves the checkpoint's file system, the same for every batch.
            conf = self._spark.sparkContext._jsc.hadoopConfiguration()
            manager = java_class(
                self._spark, "org.apache.spark.sql.execution.streaming.CheckpointFileManager"
            )
            self._file_manager = manager.create(path_class(self._checkpoint), conf)
        return self._file_manager, path_class(f"{self._checkpoint}/{name}")

    def _write(self, name: str, text: str) -> None:
        manager, path = self._manager(name)
        manager.mkdirs(path.getParent())
        stream = manager.createAtomic(path, True)
        try:
            stream.write(bytearray(text.encode()))
        except Exception:
            stream.cancel()
            raise
        stream.close()

    def _delete(self, name: str) -> None:
        manager, path = self._manager(name)
        manager.delete(path)
