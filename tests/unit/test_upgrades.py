"""Upgrades in place, without Docker: which containers a move restarts, in what order, with which
volumes; what `--upgrade COMPONENT=OLD:NEW` makes of the audit's options; the scenarios it plans."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from harness.audit.run import add_arguments, options
from harness.scenario.steps import Check, Context, StartDriver, StopDriver
from harness.scenario.upgrades import (
    COMPATIBILITY,
    LOST_LOG,
    CassandraCompatibility,
    CompareClassification,
    DowngradeKafkaMetadata,
    FinalizeKafka,
    JoinProducer,
    ProduceThrough,
    Transition,
    TryRollback,
    Upgrade,
    UpgradeSSTables,
    _errors,
    _last_line,
    plan,
    release,
)
from harness.stack.services import (
    CASSANDRA_DATA,
    KAFKA_DATA,
    ProxyPorts,
    Service,
    _cassandra,
    _kafka,
    _spark,
    upgrade_plan,
)
from harness.stack.versions import OLDEST, Versions, upgrade_paths

BASE = Versions()


def services(workdir: Path) -> dict[str, Service]:
    master, worker = _spark("spark:old", workdir / "shared", 7077, 8080, 8081)
    return {
        "kafka": _kafka("kafka:old", 9092, 9093, ProxyPorts(1, 2, 3, 4), workdir / "kafka-data"),
        "cassandra": _cassandra("cassandra:old", 9042, 7000, 7001, 7199, workdir / "cassandra-data"),
        "spark-master": master,
        "spark-worker": worker,
    }


def test_kafka_restarts_on_the_new_image_with_its_log_its_ports_and_its_cluster_id(tmp_path: Path) -> None:
    old = services(tmp_path)
    stop, start = upgrade_plan(old, "kafka", "kafka:new")
    assert (stop.action, stop.service) == ("stop", old["kafka"])
    assert start.action == "start"
    assert start.service == replace(old["kafka"], image="kafka:new")
    assert start.service.volumes == {str(tmp_path / "kafka-data"): KAFKA_DATA}
    assert start.service.env["KAFKA_CLUSTER_ID"] == old["kafka"].env["KAFKA_CLUSTER_ID"]
    assert "controlled shutdown" in str(stop)
    assert f"{tmp_path / 'kafka-data'} -> {KAFKA_DATA}" in str(start)


def test_cassandra_is_drained_then_restarts_on_its_data_directory(tmp_path: Path) -> None:
    old = services(tmp_path)
    drain, stop, start = upgrade_plan(old, "cassandra", "cassandra:new")
    assert [drain.action, stop.action, start.action] == ["drain", "stop", "start"]
    assert "nodetool.sh drain" in str(drain)
    assert start.service == replace(old["cassandra"], image="cassandra:new")
    assert start.service.volumes == {str(tmp_path / "cassandra-data"): CASSANDRA_DATA}
    # nodetool inside the container reaches the node on the JMX port the harness gave it.
    assert start.service.env["CASSANDRA_JMX_PORT"] == "7199"


def test_a_restart_with_settings_keeps_the_rest_of_the_environment(tmp_path: Path) -> None:
    old = services(tmp_path)
    *_, start = upgrade_plan(old, "cassandra", "cassandra:old", {COMPATIBILITY: "UPGRADING"})
    assert start.service.env == {**old["cassandra"].env, COMPATIBILITY: "UPGRADING"}
    assert start.service.image == "cassandra:old"


def test_spark_stops_the_worker_first_and_starts_the_master_first(tmp_path: Path) -> None:
    old = services(tmp_path)
    moves = upgrade_plan(old, "spark", "spark:new")
    assert [(m.action, m.service.role) for m in moves] == [
        ("stop", "spark-worker"),
        ("stop", "spark-master"),
        ("start", "spark-master"),
        ("start", "spark-worker"),
    ]
    worker = moves[-1].service
    assert worker.image == "spark:new"
    # The checkpoints live in the shared directory, at the same path for the worker and the drivers.
    assert worker.volumes == {str(tmp_path / "shared"): str(tmp_path / "shared")}
    assert worker.command == old["spark-worker"].command


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("kafka=3.9.1:4.1.1", Transition("kafka", "3.9.1", "4.1.1")),
        (" spark = 3.5.7 : 4.0.0 ", Transition("spark", "3.5.7", "4.0.0")),
    ],
)
def test_a_transition_is_component_old_and_new(spec: str, parsed: Transition) -> None:
    assert Transition.parse(spec) == parsed


@pytest.mark.parametrize("spec", ["kafka=3.9.1", "kafka=:4.1.1", "zookeeper=3.8:3.9", "kafka"])
def test_a_malformed_transition_is_refused_naming_the_form(spec: str) -> None:
    with pytest.raises(ValueError, match="COMPONENT=OLD:NEW"):
        Transition.parse(spec)


def audit_options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_audit_starts_on_the_old_versions_and_builds_each_new_set_first() -> None:
    opts = options(audit_options("--upgrade", "kafka=3.9.1:4.1.1", "--upgrade", "spark=3.5.7:4.0.0"))
    (start,) = opts.version_sets
    assert start == replace(BASE, kafka="3.9.1", spark="3.5.7")
    assert opts.moves_to == (
        replace(BASE, kafka="4.1.1", spark="3.5.7"),
        replace(BASE, kafka="4.1.1", spark="4.0.0"),
    )
    assert [c.name for c in opts.controls] == [LOST_LOG]
    assert [e.name for e in opts.scenarios] == [
        "rollback-kafka-4.1.1-3.9.1-before-finalize",
        "upgrade-kafka-3.9.1-4.1.1-spark-3.5.7-4.0.0",
        "rollback-kafka-4.1.1-3.9.1-after-finalize",
        "rollback-spark-4.0.0-3.5.7",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ("--upgrade", "kafka=3.9.1:4.1.1", "--matrix", "spark=3.5.7,4.0.0"),
        ("--upgrade", "kafka=3.9.1:4.1.1", "--scenarios", "normal-flow"),
        ("--upgrade", "kafka=3.9.1:4.1.1", "--upgrade", "kafka=4.1.1:4.2.0"),
    ],
)
def test_an_upgrade_audit_refuses_what_it_cannot_combine(argv: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="--upgrade"):
        options(audit_options(*argv))


def test_the_upgrade_moves_each_component_under_load_then_a_fault_then_the_check() -> None:
    kafka, spark = Transition("kafka", "3.9.1", "4.1.1"), Transition("spark", "3.5.7", "4.0.0")
    (upgrade,) = [e for e in plan(BASE, [kafka, spark]).scenarios if e.name.startswith("upgrade-")]
    steps = upgrade.build(7, 2000).steps
    kinds = [type(step) for step in steps]
    produce, join = kinds.index(ProduceThrough), kinds.index(JoinProducer)
    moving = steps[produce:join]
    assert [s.transition for s in moving if isinstance(s, Upgrade)] == [kafka, spark]
    # Finalized after Kafka's roll; Spark's driver stopped before its move, and the next on the new image.
    assert any(isinstance(s, FinalizeKafka) and s.version == "4.1.1" for s in moving)
    spark_move = next(i for i, s in enumerate(moving) if isinstance(s, Upgrade) and s.transition == spark)
    assert isinstance(moving[spark_move - 1], StopDriver)
    assert isinstance(moving[spark_move + 1], StartDriver)
    # ANSI on by default from Spark 4.0: the same records classified under both versions, reported.
    assert moving[spark_move + 2] == CompareClassification(spark)
    after = steps[join:]
    assert any(isinstance(s, StartDriver) and s.failpoints for s in after), "a fault after the move"
    assert steps[-1] == Check()
    assert "upgrade kafka 3.9.1 -> 4.1.1 in place" in upgrade.build(7, 2000).describe()


def test_kafka_rollbacks_and_the_control() -> None:
    kafka = Transition("kafka", "3.9.1", "4.1.1")
    planned = plan(BASE, [kafka])
    before, _, after = planned.scenarios
    assert [s.transition for s in before.build(1, 100).steps if isinstance(s, Upgrade)] == [
        kafka,
        kafka.back(),
    ]
    assert not any(isinstance(s, FinalizeKafka) for s in before.build(1, 100).steps)
    refused = [s for s in after.build(1, 100).steps if isinstance(s, DowngradeKafkaMetadata | TryRollback)]
    assert refused == [DowngradeKafkaMetadata("3.9.1"), TryRollback(kafka.back())]
    (control,) = planned.controls
    moves = [s for s in control.build(1, 100).steps if isinstance(s, Upgrade)]
    # On empty storage there and back, so the scenarios after it start on the old version.
    assert [(m.transition, m.lose_data) for m in moves] == [(kafka, True), (kafka.back(), True)]
    assert control.build(1, 100).steps[-1] == Check()


def test_cassandra_5_goes_through_its_storage_steps_then_rewrites_its_sstables() -> None:
    cassandra = Transition("cassandra", "4.1.10", "5.0.6")
    before, upgrade, after = plan(BASE, [cassandra]).scenarios
    moving = [s for s in upgrade.build(1, 100).steps if isinstance(s, Upgrade | CassandraCompatibility)]
    assert moving == [
        Upgrade(cassandra, settings=((COMPATIBILITY, "CASSANDRA_4"),)),
        CassandraCompatibility("UPGRADING"),
        CassandraCompatibility("NONE"),
    ]
    assert UpgradeSSTables() in upgrade.build(1, 100).steps
    # The way back is tried twice: in CASSANDRA_4, where 4.1 can still read the data (before the
    # upgrade, ending on the old version), and after NONE, where it cannot (reported).
    assert before.name == "rollback-cassandra-5.0.6-4.1.10-in-cassandra-4"
    assert [s for s in before.build(1, 100).steps if isinstance(s, Upgrade)] == [
        Upgrade(cassandra, settings=((COMPATIBILITY, "CASSANDRA_4"),)),
        Upgrade(cassandra.back()),
    ]
    assert not any(isinstance(s, CassandraCompatibility) for s in before.build(1, 100).steps)
    assert after.name == "rollback-cassandra-5.0.6-4.1.10-after-none"
    assert TryRollback(cassandra.back()) in after.build(1, 100).steps
    assert "try to roll back cassandra 5.0.6 -> 4.1.10 in place" in after.build(1, 100).describe()


def test_a_move_within_4x_has_no_storage_steps() -> None:
    cassandra = Transition("cassandra", "4.0.19", "4.1.10")
    upgrade, after = plan(BASE, [cassandra]).scenarios
    assert not any(
        isinstance(s, CassandraCompatibility | UpgradeSSTables) for s in upgrade.build(1, 100).steps
    )
    assert after.name == "rollback-cassandra-4.1.10-4.0.19"


def test_a_refusal_names_its_files_by_count() -> None:
    logged = (
        "WARN  [main] StartupChecks.java:314 - The JVM is not configured to stop on OutOfMemoryError\n"
        "ERROR [main] CassandraDaemon.java:900 - Detected unreadable sstables "
        "/var/lib/cassandra/data/tally/pageviews-1/oa-5-big-Data.db,/var/lib/cassandra/data/system/local-2/"
        "oa-22-big-Index.db,/var/lib/cassandra/data/system/local-2/oa-22-big-Data.db, please check NEWS.txt\n"
        "INFO  [main] the JVM exits"
    )
    assert _last_line(logged) == (
        "ERROR [main] CassandraDaemon.java:900 - Detected unreadable sstables "
        "3 files such as oa-5-big-Data.db, please check NEWS.txt"
    )


def test_spark_alone_has_no_kafka_rollback_and_no_control() -> None:
    planned = plan(BASE, [Transition("spark", "3.5.7", "4.0.0")])
    assert [e.name for e in planned.scenarios] == ["upgrade-spark-3.5.7-4.0.0", "rollback-spark-4.0.0-3.5.7"]
    assert planned.controls == ()


@pytest.mark.parametrize(("version", "expected"), [("4.1.1", "4.1"), ("3.9.1", "3.9"), ("4.0.0", "4.0")])
def test_the_release_version_kafka_features_takes(version: str, expected: str) -> None:
    assert release(version) == expected


def test_upgrade_without_a_value_runs_the_declared_paths_in_order() -> None:
    opts = options(audit_options("--upgrade"))
    (start,) = opts.version_sets
    assert start == replace(BASE, kafka=OLDEST["kafka"], cassandra=OLDEST["cassandra"], spark=OLDEST["spark"])
    assert opts.moves_to[-1] == BASE
    assert [e.name for e in opts.scenarios][:2] == [
        f"rollback-kafka-{BASE.kafka}-{OLDEST['kafka']}-before-finalize",
        f"rollback-cassandra-{BASE.cassandra}-{OLDEST['cassandra']}-in-cassandra-4",
    ]


def test_the_deep_profile_runs_the_declared_upgrades_after_its_catalogue() -> None:
    opts = options(audit_options("--profile", "deep"))
    assert opts.upgrades is not None
    declared = plan(BASE, [Transition.parse(p) for p in upgrade_paths()])
    assert [e.name for e in opts.upgrades.scenarios] == [e.name for e in declared.scenarios]
    assert [c.name for c in opts.upgrades.controls] == [LOST_LOG]
    # A selection, the mutation suite or the quick profile stays what it names.
    assert options(audit_options("--profile", "deep", "--scenarios", "normal-flow")).upgrades is None
    assert options(audit_options("--profile", "deep", "--mutants")).upgrades is None
    assert options(audit_options()).upgrades is None


class LoggedStack:
    def __init__(self, logged: str) -> None:
        self.logged = logged

    def logs(self, role: str) -> str:
        return self.logged if role == "cassandra" else ""


def test_an_error_a_started_node_logged_is_reported_by_its_cause() -> None:
    logged = (
        "INFO  [main] Initializing system.compaction_history\n"
        "ERROR [SSTableBatchOpen:2] JVMStabilityInspector.java:68 - Exception in thread\n"
        "java.lang.IllegalStateException: org.apache.cassandra.exceptions.UnknownColumnException\n"
        "\tat org.apache.cassandra.io.sstable.format.SSTableReader.open(SSTableReader.java:514)\n"
        "Caused by: org.apache.cassandra.exceptions.UnknownColumnException: Unknown column x\n"
        "INFO  [main] Initializing system.sstable_activity\n"
    )
    ctx = cast(Context, SimpleNamespace(stack=LoggedStack(logged)))
    assert _errors(ctx, "cassandra") == (
        "; 1 ERROR line(s) logged as it started, the first: cassandra: Caused by: "
        "org.apache.cassandra.exceptions.UnknownColumnException: Unknown column x"
    )
    assert _errors(cast(Context, SimpleNamespace(stack=LoggedStack("INFO  [main] up\n"))), "cassandra") == ""


def test_the_gate_runs_the_upgrade_without_what_other_tiers_of_the_gate_check() -> None:
    spark = Transition("spark", "3.5.7", "4.0.0")
    planned = plan(BASE, [spark])
    assert CompareClassification(spark) in planned.upgrade.build(1, 100).steps
    assert CompareClassification(spark) not in planned.gate.build(1, 100).steps
    # The fault after the move is the chaos tier's crash-after_write, on the same (default) versions.
    assert not any(isinstance(s, StartDriver) and s.failpoints for s in planned.gate.build(1, 100).steps)
    assert planned.gate.build(1, 100).steps[-1] == Check()
    assert planned.gate.name == planned.upgrade.name
    opts = options(audit_options("--profile", "gate", "--upgrade", "spark=3.5.7:4.0.0"))
    assert [e.build(1, 100).steps for e in opts.scenarios] == [planned.gate.build(1, 100).steps]
