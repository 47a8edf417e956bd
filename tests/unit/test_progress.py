"""The progress log: one line of Spark's JSON per batch, what the harness waits on and reports."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pyspark.sql import SparkSession

from pipeline.progress import ProgressLog


def _lines(path: Path, count: int, timeout_s: float = 60.0) -> list[dict[str, object]]:
    # Spark calls listeners from its listener bus, after the query moved on: wait for the lines.
    deadline = time.monotonic() + timeout_s
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            assert len(lines) >= count, f"{len(lines)} progress lines after {timeout_s} s, expected {count}"
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


def test_each_batch_is_one_line_of_sparks_json(spark: SparkSession, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for n in range(3):
        (source / f"{n}.txt").write_text("".join(f"line {n} {i}\n" for i in range(n + 1)))
    # A session of its own, so the listener hears this test's query and no other.
    session = spark.newSession()
    log = tmp_path / "progress.jsonl"
    ProgressLog(str(log)).register(session)
    query = (
        session.readStream.format("text")
        .option("maxFilesPerTrigger", 1)
        .load(str(source))
        .writeStream.format("noop")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()

    progress = _lines(log, 3)

    assert [p["batchId"] for p in progress] == [0, 1, 2]
    assert sorted(p["numInputRows"] for p in progress) == [1, 2, 3]
    assert all(p["id"] == query.id for p in progress)
    assert all("durationMs" in p and "sources" in p for p in progress)
