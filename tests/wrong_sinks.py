"""Deliberately wrong sinks: negative controls that the checker must catch on the real stack.

They run inside the real driver (`--sink tests.wrong_sinks:NAME`), with the same failpoints as the
real sink, so a fault replays a batch through them exactly as it would through ours.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipeline.counting import KIND_EVENT
from pipeline.sink import CassandraSink


class IncrementingSink(CassandraSink):
    """Adds each batch's events to the stored count (read, add, write), with no fence: a replayed
    batch is added twice."""

    def write(self, batch: DataFrame, batch_id: int) -> None:
        self.failpoints.hit("sink.before_write", batch_id)
        deltas = (
            batch.where(F.col("kind") == KIND_EVENT)
            .groupBy("site_id", "window_start", "window_end")
            .count()
            .collect()
        )
        read = self.session.prepare(
            f"SELECT views FROM {self.keyspace}.pageviews WHERE site_id = ? AND window_start = ?"
        )
        write = self.session.prepare(
            f"INSERT INTO {self.keyspace}.pageviews (site_id, window_start, window_end, views, batch_id)"
            " VALUES (?, ?, ?, ?, ?)"
        )
        for row in deltas:
            current = self.session.execute(read, (row.site_id, row.window_start)).one()
            views = (current.views if current else 0) + row["count"]
            self.session.execute(write, (row.site_id, row.window_start, row.window_end, views, batch_id))
        self.failpoints.hit("sink.after_write", batch_id)
