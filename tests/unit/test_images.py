"""The Spark image's Kafka connector follows the Scala version of the pyspark distribution it ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.stack.images import ImageBuildError, scala_of


def jars(directory: Path, *names: str) -> Path:
    directory.mkdir()
    for name in names:
        (directory / name).touch()
    return directory


@pytest.mark.parametrize(
    ("names", "scala"),
    [
        (("spark-core_2.13-4.0.0.jar", "spark-sql_2.13-4.0.0.jar", "scala-library-2.13.16.jar"), "2.13"),
        (("spark-core_2.12-3.5.7.jar", "kafka-clients-3.4.1.jar"), "2.12"),
    ],
)
def test_scala_version_is_read_from_spark_core(tmp_path: Path, names: tuple[str, ...], scala: str) -> None:
    assert scala_of(jars(tmp_path / "jars", *names)) == scala


@pytest.mark.parametrize(
    "names",
    [(), ("spark-sql_2.13-4.0.0.jar",), ("spark-core_2.12-3.5.7.jar", "spark-core_2.13-4.0.0.jar")],
)
def test_no_or_two_spark_cores_is_a_build_error(tmp_path: Path, names: tuple[str, ...]) -> None:
    with pytest.raises(ImageBuildError, match="spark-core"):
        scala_of(jars(tmp_path / "jars", *names))
