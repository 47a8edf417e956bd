"""Reads what Spark recorded in the checkpoint for a batch: the watermark that batch ran with."""

from __future__ import annotations

import json

from pyspark.sql import SparkSession


def batch_watermark_ms(spark: SparkSession, checkpoint: str, batch_id: int) -> int:
    """The event-time watermark of batch `batch_id`, from `offsets/<batch_id>` (written before the batch ran).

    The offset log is the source of truth Spark itself replays from, so a re-run of the batch gets
    the same watermark and drops, and therefore reports, the same late events.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/offsets/{batch_id}")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    stream = fs.open(path)
    try:
        text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    # Line 1 is the log version, line 2 the batch metadata, then one line of offsets per source.
    metadata = json.loads(str(text).splitlines()[1])
    return int(metadata.get("batchWatermarkMs", 0))
