"""Reads what Spark recorded in the checkpoint: the watermark a batch filtered late events with."""

from __future__ import annotations

import json

from pyspark.sql import SparkSession


def _batch_metadata(spark: SparkSession, checkpoint: str, batch_id: int) -> dict[str, object] | None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/offsets/{batch_id}")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    # Line 1 is the log version, line 2 the batch metadata, then one line of offsets per source.
    metadata: dict[str, object] = json.loads(str(text).splitlines()[1])
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
