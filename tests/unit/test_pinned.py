"""Settings pinned to the checkpoint: recorded at the first start, a changed one refused by name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipeline.config import PipelineConfig
from pipeline.pinned import FILE, PINNED, SettingsChanged, pin

CONFIG = PipelineConfig(
    bootstrap_servers="k:9092", topic="pageviews", cassandra_hosts=("c",), keyspace="ks", checkpoint=""
)


def config_in(tmp_path: Path, **changes: object) -> PipelineConfig:
    return replace(CONFIG, checkpoint=str(tmp_path / "checkpoint"), **changes)  # type: ignore[arg-type]


def test_the_first_start_records_every_pinned_setting(spark: SparkSession, tmp_path: Path) -> None:
    pin(spark, config_in(tmp_path))
    recorded = (tmp_path / "checkpoint" / FILE).read_text()
    for option in PINNED:
        assert f'"{option}"' in recorded
    pin(spark, config_in(tmp_path))  # the same settings again: accepted


@pytest.mark.parametrize(
    ("change", "option", "old", "new"),
    [
        ({"window": "5 minutes"}, "--window", "'1 minute'", "'5 minutes'"),
        ({"dedup": True}, "--dedup", "False", "True"),
        ({"max_event_bytes": 1024}, "--max-event-bytes", "65536", "1024"),
    ],
)
def test_a_changed_setting_is_refused_with_both_values_and_the_fix(
    spark: SparkSession, tmp_path: Path, change: dict[str, object], option: str, old: str, new: str
) -> None:
    pin(spark, config_in(tmp_path))
    with pytest.raises(SettingsChanged) as refused:
        pin(spark, config_in(tmp_path, **change))
    message = str(refused.value)
    assert f"{option}: the checkpoint was built with {old}, this start asks for {new}" in message
    assert "Run with the recorded values" in message


def test_settings_that_do_not_change_results_may_change(spark: SparkSession, tmp_path: Path) -> None:
    pin(spark, config_in(tmp_path))
    pin(spark, config_in(tmp_path, trigger_interval="5 seconds", max_offsets_per_trigger=10))
