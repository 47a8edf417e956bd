"""Unit-tier fixtures: one local SparkSession, Hypothesis profiles, and Kafka-shaped DataFrames.

Nothing here touches Docker, Kafka or Cassandra. Select the Hypothesis profile with
HYPOTHESIS_PROFILE=fast (the default, for tox and CI) or HYPOTHESIS_PROFILE=deep (an audit).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# Every example runs at least one Spark job: wall-clock deadlines would only measure the JVM's mood.
_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
# No example database for CI: a fresh checkout has none to replay, and the repo must stay clean.
settings.register_profile("fast", max_examples=25, database=None, **_COMMON)
# Another Spark version (tox -e unit-spark35): the same properties, fewer examples; what differs
# between versions is which SQL functions exist and how they behave, not the data drawn.
settings.register_profile("compat", max_examples=8, database=None, **_COMMON)
settings.register_profile("deep", max_examples=300, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

# The columns and types Spark's Kafka source produces (spark-sql-kafka, `KafkaRecordToRowConverter`).
KAFKA_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
)

# (partition, offset, value): the part of a Kafka record the pipeline reads.
KafkaRecord = tuple[int, int, bytes | None]


@dataclass(frozen=True)
class KafkaFrames:
    """Builds static DataFrames shaped like the Kafka source's rows, all on one topic."""

    spark: SparkSession
    topic: str = "pageviews"
    # Every record's Kafka timestamp: an event time over an hour past it is future_ts.
    produced: dt.datetime = dt.datetime(2024, 1, 1)
    schema: ClassVar[StructType] = KAFKA_SCHEMA

    def __call__(self, records: Sequence[KafkaRecord]) -> DataFrame:
        rows = [
            (None, value, self.topic, partition, offset, self.produced, 0)
            for partition, offset, value in records
        ]
        return self.spark.createDataFrame(rows, self.schema)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("tally-unit")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # No dependence on the machine's host name resolving.
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def kafka_frames(spark: SparkSession) -> KafkaFrames:
    return KafkaFrames(spark)
