"""Which addresses a driver is given: the pipeline under test goes through Toxiproxy (network faults
must reach it), the benchmark's contenders go direct (a proxy would tax only one of them)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from harness.bench.contenders import BenchDriver
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


def test_a_crash_counts_only_when_its_failpoint_fired() -> None:
    """WaitDriverExit says the fault did not land when the driver exited for any other reason."""
    crashed = (
        "2026-12-02T02:53:36Z batch 2: 60 counts, 11 dead letters, 0 late\n"
        "2026-12-02T02:53:37Z FAILPOINT sink.after_write crash batch=3 pid=7\n"
    )
    assert failpoint_crash(crashed) == "FAILPOINT sink.after_write crash batch=3"
    assert failpoint_crash("FAILPOINT sink.mid_write stop batch=1 pid=7\n") is None
    assert failpoint_crash("query failed: StreamingQueryException\n") is None
