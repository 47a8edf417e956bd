"""Reads what Spark recorded in the checkpoint (the watermark a batch filtered late events with), and
keeps Tally's own file beside it, through Hadoop's file system so that HDFS and S3 work like a disk."""

from __future__ import annotations

import json
from typing import Any

from py4j.java_gateway import JavaClass
from pyspark.sql import SparkSession


def java_class(spark: SparkSession, name: str) -> Any:
    """The JVM class `name`, named in full. Walked from `spark.sparkContext._jvm` instead
    (`jvm.org.apache.hadoop.fs.Path`), py4j asks the JVM for a class at every dot, under each of
    PySpark's dozen imports, and each miss looks into every one of Spark's jars: 1.6 ms of the
    driver's CPU for a `Path` instead of 0.2 ms, and a batch makes dozens of such calls."""
    gateway = spark.sparkContext._gateway
    assert gateway is not None
    return JavaClass(name, gateway._gateway_client)


def _path_and_fs(spark: SparkSession, checkpoint: str, name: str) -> tuple[Any, Any]:
    path = java_class(spark, "org.apache.hadoop.fs.Path")(f"{checkpoint.rstrip('/')}/{name}")
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def read_text(spark: SparkSession, checkpoint: str, name: str) -> str | None:
    """The file `name` under the checkpoint, or None when it does not exist."""
    path, fs = _path_and_fs(spark, checkpoint, name)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        return str(java_class(spark, "org.apache.commons.io.IOUtils").toString(stream, "UTF-8"))
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
    """The watermark batch `batch_id` judges lateness by: the *previous* batch's.

    That is the one Spark's stateful operators (with statefulOperator.allowMultiple, the default)
    drop late rows by, so the deduplication and the sink agree; without deduplication the sink alone
    decides, by the same rule. It is in the offset log, written before the batch ran, so a replay of
    the batch finds the same value and counts and reports the same events.
    """
    # Batch 0 has no previous batch: Spark then uses its own (initial) watermark.
    return batch_watermark_ms(spark, checkpoint, batch_id - 1 if batch_id > 0 else 0)


def batch_ids(spark: SparkSession, checkpoint: str, log: str) -> list[int]:
    """The batch ids in Spark's `offsets` (planned) or `commits` (done) log, in order."""
    path, fs = _path_and_fs(spark, checkpoint, log)
    if not fs.exists(path):
        return []
    names = (str(status.getPath().getName()) for status in fs.listStatus(path))
    # Spark writes each entry to a temporary file and renames it: only the numbered names count.
    return sorted(int(name) for name in names if name.isdigit())


def batch_watermark_ms(spark: SparkSession, checkpoint: str, batch_id: int) -> int:
    metadata = _batch_metadata(spark, checkpoint, batch_id)
    if metadata is None:
        raise FileNotFoundError(f"no offsets/{batch_id} in checkpoint {checkpoint}")
    return int(str(metadata.get("batchWatermarkMs", 0)))


def batch_end_offsets(spark: SparkSession, checkpoint: str, batch_id: int) -> str:
    """Kafka JSON offsets where batch `batch_id` stopped reading (the one source's line)."""
    text = read_text(spark, checkpoint, f"offsets/{batch_id}")
    if text is None:
        raise FileNotFoundError(f"no offsets/{batch_id} in checkpoint {checkpoint}")
    return text.splitlines()[2]


def batch_offsets(spark: SparkSession, checkpoint: str, batch_id: int) -> int:
    """How many Kafka offsets batch `batch_id` covers, from the offset log: at least its records
    (a transaction's markers and aborted records take offsets too). A partition new since the batch
    before counts from offset 0."""
    start = (
        initial_offsets(spark, checkpoint)
        if batch_id == 0
        else batch_end_offsets(spark, checkpoint, batch_id - 1)
    )
    before = _partition_offsets(start)
    end = _partition_offsets(batch_end_offsets(spark, checkpoint, batch_id))
    return sum(offset - max(before.get(partition, 0), 0) for partition, offset in end.items())


def _partition_offsets(line: str) -> dict[tuple[str, str], int]:
    topics: dict[str, dict[str, int]] = json.loads(line)
    return {
        (topic, p): int(offset) for topic, partitions in topics.items() for p, offset in partitions.items()
    }


def initial_offsets(spark: SparkSession, checkpoint: str) -> str:
    """Kafka JSON offsets the query's first batch started from, as the Kafka source recorded them."""
    text = read_text(spark, checkpoint, "sources/0/0")
    if text is None:
        raise FileNotFoundError(f"no sources/0/0 in checkpoint {checkpoint}")
    # The Kafka source writes a zero byte before its version line, for Spark 2.1's reader.
    return text.lstrip("\x00").splitlines()[1]
