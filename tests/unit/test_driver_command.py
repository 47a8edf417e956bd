"""Which addresses a driver is given: the pipeline under test goes through Toxiproxy (network faults
must reach it), the benchmark's contenders go direct (a proxy would tax only one of them). And the
spark-submit options a benchmark contender is given."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.bench.__main__ import options, parser
from harness.bench.contenders import (
    DRIVER_JIT,
    BenchDriver,
    PipelineContender,
    SeedContender,
    Tuning,
    submit_env,
)
from harness.stack import containers
from harness.stack.driver import Driver, DriverSpec, failpoint_crash

STACK = SimpleNamespace(
    bootstrap_servers="127.0.0.1:9092",
    cassandra_hosts="127.0.0.1:9042",
    proxied_bootstrap_servers="127.0.0.1:19092",
    proxied_cassandra_hosts="127.0.0.1:19042",
    spark_master="spark://127.0.0.1:7077",
    replication=1,
)
SPEC = DriverSpec(topic="t", keyspace="k", checkpoint=Path("/shared/c"), dedup=True, sink="m:Sink")


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_pipeline_under_test_goes_through_the_proxies() -> None:
    command = Driver(STACK, SPEC).command()  # type: ignore[arg-type]
    assert option(command, "--bootstrap-servers") == STACK.proxied_bootstrap_servers
    assert option(command, "--cassandra-hosts") == STACK.proxied_cassandra_hosts
    assert "--dedup" in command
    assert option(command, "--sink") == "m:Sink"


def test_every_benchmark_contender_goes_direct() -> None:
    for module in ("pipeline", "harness.bench.seed_job"):
        command = BenchDriver(STACK, SPEC, module=module).command()  # type: ignore[arg-type]
        assert option(command, "--bootstrap-servers") == STACK.bootstrap_servers, module
        assert option(command, "--cassandra-hosts") == STACK.cassandra_hosts, module


def test_a_benchmark_option_with_spaces_reaches_spark_submit_as_one() -> None:
    options = ("--conf", "spark.executor.extraJavaOptions=-XX:A=1 -XX:B=2")
    # PySpark's own split (java_gateway: shlex.split of PYSPARK_SUBMIT_ARGS).
    assert shlex.split(submit_env(options)["PYSPARK_SUBMIT_ARGS"]) == [*options, "pyspark-shell"]
    assert submit_env(()) == {}


def test_an_executor_jar_reaches_the_pipelines_executor_from_the_shared_directory(tmp_path: Path) -> None:
    jar = tmp_path / "patch.jar"
    jar.write_bytes(b"PK")
    workdir = tmp_path / "shared" / "bench_pipeline"
    tuning = Tuning(executor_jar=jar)
    pipeline = PipelineContender(STACK, "t", "k", workdir, tuning)  # type: ignore[arg-type]
    placed = workdir / "executor-jars" / "patch.jar"
    assert pipeline.submit_args() == (*DRIVER_JIT, "--conf", f"spark.executor.extraClassPath={placed}")
    assert placed.read_bytes() == b"PK"
    # The seed stands for the design it replaces: it never runs the candidate's classes.
    assert SeedContender(STACK, "t", "k", tmp_path / "seed", tuning).submit_args() == DRIVER_JIT  # type: ignore[arg-type]


def test_an_executor_jar_is_refused_before_the_stack_starts_when_it_cannot_apply(tmp_path: Path) -> None:
    jar = tmp_path / "patch.jar"
    with pytest.raises(SystemExit, match="no such file"):
        options(parser().parse_args(["--executor-jar", str(jar)]))
    jar.write_bytes(b"PK")
    with pytest.raises(SystemExit, match="add the pipeline to --contenders"):
        options(parser().parse_args(["--executor-jar", str(jar), "--contenders", "seed,python"]))
    assert options(parser().parse_args(["--executor-jar", str(jar)])).tuning.executor_jar == jar


def test_a_crash_counts_only_when_its_failpoint_fired() -> None:
    """WaitDriverExit says the fault did not land when the driver exited for any other reason."""
    crashed = (
        "2026-12-02T02:53:36Z batch 2: 60 counts, 11 dead letters, 0 late\n"
        "2026-12-02T02:53:37Z FAILPOINT sink.after_write crash batch=3 pid=7\n"
    )
    assert failpoint_crash(crashed) == "FAILPOINT sink.after_write crash batch=3"
    assert failpoint_crash("FAILPOINT sink.mid_write stop batch=1 pid=7\n") is None
    assert failpoint_crash("query failed: StreamingQueryException\n") is None


class DeadOnArrival:
    """A driver container that Docker created and that exited before its query started."""

    def __init__(self) -> None:
        self.name = "tally-driver-t-1"

    def logs(self, **_: object) -> bytes:
        return b"Error: Unrecognized option: -XX:Bogus\n"


class FakeContainer:
    def __init__(self, wrapped: DeadOnArrival | None) -> None:
        self.wrapped = wrapped

    def with_volume_mapping(self, *_: object, **__: object) -> FakeContainer:
        return self

    def with_env(self, *_: object) -> FakeContainer:
        return self

    def get_wrapped_container(self) -> DeadOnArrival | None:
        return self.wrapped


def test_a_driver_that_dies_at_start_keeps_its_log_for_the_diagnosis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    container = FakeContainer(DeadOnArrival())

    def refuse(*_: object) -> None:
        raise containers.ContainerStartError("did not log 'query .* started on'")

    monkeypatch.setattr(containers, "labelled", lambda *_: container)
    monkeypatch.setattr(containers, "start", refuse)
    stack = SimpleNamespace(
        **vars(STACK), shared_dir=tmp_path, logs_dir=tmp_path / "logs", images=SimpleNamespace(spark="s")
    )
    driver = Driver(stack, SPEC)  # type: ignore[arg-type]
    with pytest.raises(containers.ContainerStartError):
        driver.start()
    assert "Unrecognized option" in driver.logs()
    saved = driver.save_logs()
    assert saved is not None
    assert "Unrecognized option" in saved.read_text()


def test_a_driver_docker_never_created_has_no_log_and_nothing_to_remove(tmp_path: Path) -> None:
    driver = Driver(SimpleNamespace(**vars(STACK), logs_dir=tmp_path), SPEC)  # type: ignore[arg-type]
    driver._container = FakeContainer(None)  # type: ignore[assignment]
    assert driver.logs() == ""
    assert driver.save_logs() is None
    driver.remove()
