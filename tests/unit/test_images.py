"""The Spark image's Kafka connector follows the Scala version of the pyspark distribution it ships;
the Cassandra image's base, and with it its Java and JVM options, follows the Cassandra version."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.stack.images import HERE, JAVA11, JAVA17, Base, ImageBuildError, cassandra_base, scala_of


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


@pytest.mark.parametrize(
    ("version", "suite", "java"),
    [
        ("4.0.19", "bullseye", 11),
        ("4.1.10", "bullseye", 11),
        ("5.0.6", "bookworm", 17),
        ("5.1.0-beta1", "bookworm", 17),
        ("6.0.0", "bookworm", 17),
    ],
)
def test_cassandra_before_5_runs_on_java_11_from_bullseye(version: str, suite: str, java: int) -> None:
    base = cassandra_base(version)
    assert (base.suite, base.java) == (suite, java)


def test_cassandra_3_needs_java_8_which_no_base_has() -> None:
    with pytest.raises(ImageBuildError, match="Java 8"):
        cassandra_base("3.11.19")


@pytest.mark.parametrize("base", [JAVA11, JAVA17])
def test_a_base_installs_its_java_and_is_tagged_by_suite_and_java(base: Base) -> None:
    assert f"openjdk-{base.java}-jre-headless" in base.packages
    assert base.tag.startswith(f"tally/base:{base.suite}-jre{base.java}-")


@pytest.mark.parametrize("base", [JAVA11, JAVA17])
def test_the_cassandra_image_has_jvm_options_for_each_java_it_runs_on(base: Base) -> None:
    """start-cassandra.sh reads jvm<java>.options for the Java its base installed."""
    options = (HERE / "cassandra" / f"jvm{base.java}.options").read_text().splitlines()
    assert "-Djdk.attach.allowAttachSelf=true" in options
    assert all(line.startswith(("-", "#")) for line in options)
