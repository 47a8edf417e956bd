"""Reads what Spark recorded in the checkpoint (the watermark a batch filtered late events with), and
keeps Tally's own file beside it, through Hadoop's file system so that HDFS and S3 work like a disk."""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import SparkSession


def _path_and_fs(spark: SparkSession, checkpoint: str, name: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/{name}")
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def read_text(spark: SparkSession, checkpoint: str, name: str) -> str | None:
    """The file `name` under the checkpoint, or None when it does not exist."""
    path, fs = _path_and_fs(spark, checkpoint, name)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def create_text(spark: SparkSession, checkpoint: str, name: str, text: str) -> None:
    """Write a new file under the checkpoint; an existing one is an error, never overwritten."""
    path, fs = _path_and_fs(spark, checkpoint, name)
    stream = fs.create(path, False)
    try:
        stream.write(bytearray(text.encode()))
    finally:
        stream.close()


def _batch_metadata(spark: SparkSession, checkpoint: str, batch_id: int) -> dict[str, object] | None:
    text = read_text(spark, checkpoint, f"offsets/{batch_id}")
    if text is None:
        return None
    # Line 1 is the log version, line 2 the batch metadata, then one line of offsets per source.
    metadata: dict[str, object] = json.loads(text.splitlines()[1])
    return metadata


def late_event_watermark_ms(spark: SparkSession, checkpoint: str, batch_id: int) -> int:
    """The watermark below which batch `batch_id`'s aggregation dropped input as late.

    Spark (with statefulOperator.allowMultiple, the default) filters late rows by the *previous*
    batch's watermark and evicts state by the current one; both are in the offset log, written
    before the batch ran, so a replay of the batch finds the same value and reports the same events.
    """
    # Batch 0 has no previous batch: Spark then uses its own (initial) watermark.
    source = batch_id - 1 if batch_id > 0 else 0
    metadata = _batch_metadata(spark, checkpoint, source)
    if metadata is None:
        raise FileNotFoundError(f"no offsets/{source} in checkpoint {checkpoint}: the checkpoint is damaged")
    return int(str(metadata.get("batchWatermarkMs", 0)))
