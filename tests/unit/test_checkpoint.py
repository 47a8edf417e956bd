"""What the sink reads from Spark's checkpoint: how many offsets a batch covers."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from pipeline.checkpoint import batch_offsets

METADATA = '{"batchWatermarkMs":0,"batchTimestampMs":0,"conf":{}}'


def test_a_batch_covers_its_end_offsets_less_the_batch_befores(spark: SparkSession, tmp_path: Path) -> None:
    # As Spark writes them: the Kafka source's initial offsets after a zero byte and a version line;
    # each offset log entry a version line, the batch's metadata, then the source's end offsets.
    (tmp_path / "sources" / "0").mkdir(parents=True)
    (tmp_path / "sources" / "0" / "0").write_text('\x00v1\n{"t":{"0":5,"1":0}}')
    (tmp_path / "offsets").mkdir()
    (tmp_path / "offsets" / "0").write_text(f'v1\n{METADATA}\n{{"t":{{"1":3,"0":15}}}}')
    (tmp_path / "offsets" / "1").write_text(f'v1\n{METADATA}\n{{"t":{{"0":15,"1":3,"2":4}}}}')

    assert batch_offsets(spark, str(tmp_path), 0) == 10 + 3
    # Partition 2 appeared after batch 0 was planned: it counts from its first offset.
    assert batch_offsets(spark, str(tmp_path), 1) == 4
