"""Failpoint specs and the command line: what the harness passes in is what the job runs with."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import failpoints
from pipeline.config import PipelineConfig, from_arguments, parser
from pipeline.failpoints import ACTIONS, POINTS, Failpoint, Failpoints

# --- failpoints ---------------------------------------------------------------------------------


def test_parse_accepts_valid_specs() -> None:
    assert failpoints.parse([]) == {}
    assert failpoints.parse(["sink.after_write=crash@3", "sink.before_write=crash"]) == {
        "sink.after_write": Failpoint("crash", 3),
        "sink.before_write": Failpoint("crash", None),
    }


@given(
    point=st.sampled_from(POINTS), action=st.sampled_from(ACTIONS), batch=st.none() | st.integers(0, 10**9)
)
def test_parse_reads_any_valid_spec(point: str, action: str, batch: int | None) -> None:
    spec = f"{point}={action}" + ("" if batch is None else f"@{batch}")
    assert failpoints.parse([spec]) == {point: Failpoint(action, batch)}


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "crash",
        "sink.after_write",
        "sink.after_write=",
        "nope=crash",
        "sink.after_write=explode",
        "SINK.AFTER_WRITE=crash",
        "=crash@1",
    ],
)
def test_parse_rejects_bad_specs_naming_the_valid_ones(spec: str) -> None:
    with pytest.raises(ValueError, match="bad failpoint") as error:
        failpoints.parse([spec])
    assert all(name in str(error.value) for name in POINTS + ACTIONS)


@pytest.mark.parametrize(
    "spec",
    [
        "sink.after_write=crash@x",
        "sink.after_write=crash@1.5",
        "sink.after_write=crash@3=crash",
        "sink.after_write=crash@",
        "sink.after_write=crash@+",
    ],
)
def test_parse_rejects_a_bad_batch_id(spec: str) -> None:
    with pytest.raises(ValueError, match="bad failpoint"):
        failpoints.parse([spec])


class Kills:
    """Stands in for signal.pthread_kill: records instead of killing the test process."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, pid: int, sig: int) -> None:
        self.calls.append((pid, sig))


def test_hit_without_specs_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    kills = Kills()
    monkeypatch.setattr(signal, "pthread_kill", kills)
    points = Failpoints()
    for name in (*POINTS, "not.a.point"):
        for batch_id in (0, 1, 10**6):
            points.hit(name, batch_id)
    assert kills.calls == []


def test_hit_kills_only_at_its_point_and_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    kills = Kills()
    monkeypatch.setattr(signal, "pthread_kill", kills)
    points = Failpoints(["sink.mid_write=crash@3", "sink.after_write=crash"])
    points.hit("sink.mid_write", 2)
    points.hit("sink.before_write", 3)
    assert kills.calls == []
    points.hit("sink.mid_write", 3)
    assert kills.calls == [(threading.get_ident(), signal.SIGKILL)]
    points.hit("sink.after_write", 0)  # no batch: every batch
    assert kills.calls == [(threading.get_ident(), signal.SIGKILL)] * 2


def test_or_later_kills_at_the_first_batch_from_n_on(monkeypatch: pytest.MonkeyPatch) -> None:
    kills = Kills()
    monkeypatch.setattr(signal, "pthread_kill", kills)
    assert failpoints.parse(["sink.mid_write=crash@4+"]) == {"sink.mid_write": Failpoint("crash", 4, True)}
    points = Failpoints(["sink.mid_write=crash@4+"])
    points.hit("sink.mid_write", 3)
    assert kills.calls == []
    points.hit("sink.mid_write", 6)
    assert kills.calls == [(threading.get_ident(), signal.SIGKILL)]


def test_stop_freezes_the_process_and_prints_its_pid(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kills = Kills()
    monkeypatch.setattr(signal, "pthread_kill", kills)
    Failpoints(["sink.mid_write=stop@2"]).hit("sink.mid_write", 2)
    assert kills.calls == [(threading.get_ident(), signal.SIGSTOP)]
    assert f"FAILPOINT sink.mid_write stop batch=2 pid={os.getpid()}" in capsys.readouterr().err


# --- command line -------------------------------------------------------------------------------

REQUIRED = [
    "run",
    "--bootstrap-servers",
    "kafka:9092",
    "--topic",
    "views",
    "--cassandra-hosts",
    "cass",
    "--keyspace",
    "ks",
    "--checkpoint",
    "/ck",
]


def test_minimal_command_line_gives_the_defaults() -> None:
    config = from_arguments(parser().parse_args(REQUIRED))
    assert config == PipelineConfig(
        bootstrap_servers="kafka:9092",
        topic="views",
        cassandra_hosts=("cass",),
        keyspace="ks",
        checkpoint="/ck",
    )


def test_every_option_round_trips() -> None:
    argv = [
        "run",
        "--bootstrap-servers",
        "k1:9092,k2:9092",
        "--topic",
        "t",
        "--cassandra-hosts",
        " c1:9142, ,c2:9142,",
        "--keyspace",
        "tally",
        "--checkpoint",
        "s3a://b/ck",
        "--master",
        "spark://m:7077",
        "--trigger-interval",
        "5 seconds",
        "--window",
        "10 minutes",
        "--allowed-lateness",
        "1 hour",
        "--starting-offsets",
        "latest",
        "--max-offsets-per-trigger",
        "500",
        "--max-event-bytes",
        "2048",
        "--replication-factor",
        "3",
        "--shuffle-partitions",
        "8",
        "--progress-log",
        "/tmp/p.jsonl",
        "--failpoint",
        "sink.mid_write=crash@2",
        "--failpoint",
        "sink.after_write=crash",
        "--sink",
        "harness.scenario.wrong_sinks:IncrementingSink",
    ]
    assert from_arguments(parser().parse_args(argv)) == PipelineConfig(
        bootstrap_servers="k1:9092,k2:9092",
        topic="t",
        cassandra_hosts=("c1:9142", "c2:9142"),
        keyspace="tally",
        checkpoint="s3a://b/ck",
        master="spark://m:7077",
        trigger_interval="5 seconds",
        window="10 minutes",
        allowed_lateness="1 hour",
        starting_offsets="latest",
        max_offsets_per_trigger=500,
        max_event_bytes=2048,
        replication_factor=3,
        shuffle_partitions=8,
        progress_log="/tmp/p.jsonl",
        failpoints=("sink.mid_write=crash@2", "sink.after_write=crash"),
        sink="harness.scenario.wrong_sinks:IncrementingSink",
    )


# Fields the command line cannot set. A new field must be added here or get a flag.
NOT_ON_COMMAND_LINE: set[str] = set()


def test_every_config_field_has_a_flag() -> None:
    run = next(action for action in parser()._actions if action.dest == "command").choices["run"]  # type: ignore[union-attr]
    dests = {action.dest for action in run._actions}
    assert {f.name for f in dataclasses.fields(PipelineConfig)} - dests == NOT_ON_COMMAND_LINE


def test_missing_required_option_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(REQUIRED[:-2])
    assert "--checkpoint" in capsys.readouterr().err


hosts = st.lists(st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True), min_size=1, max_size=4)


@given(names=hosts, port=st.none() | st.integers(1, 65535))
def test_cassandra_contact_splits_host_and_port(names: list[str], port: int | None) -> None:
    entries = tuple(name if port is None else f"{name}:{port}" for name in names)
    config = PipelineConfig("k:9092", "t", entries, "ks", "/ck")
    assert config.cassandra_contact == (names, 9042 if port is None else port)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (("c1",), (["c1"], 9042)),
        (("c1:9142", "c2:9142"), (["c1", "c2"], 9142)),
        (("c1:9042", "c2"), (["c1", "c2"], 9042)),  # an explicit default port is the same port
    ],
)
def test_cassandra_contact_examples(entries: tuple[str, ...], expected: tuple[list[str], int]) -> None:
    assert PipelineConfig("k:9092", "t", entries, "ks", "/ck").cassandra_contact == expected


@pytest.mark.parametrize("entries", [("c1:9142", "c2"), ("c1:9042", "c2:9043")])
def test_cassandra_contact_rejects_mixed_ports(entries: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="share one port"):
        _ = PipelineConfig("k:9092", "t", entries, "ks", "/ck").cassandra_contact
