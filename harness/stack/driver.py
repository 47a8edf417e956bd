"""The pipeline's driver as a process of its own: a container of the Spark image, submitted to the master.

One container per driver run, so a crash is `docker kill` and a freeze is `docker pause`; the
checkpoint and the progress log live in the shared directory and survive every driver. A driver
reaches Kafka and Cassandra through Toxiproxy, so network faults hit the pipeline and nothing else.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from testcontainers.core.container import DockerContainer

from harness.stack import containers
from harness.stack.services import StackInfo
from harness.stack.startup import Startup, instant, startup

log = logging.getLogger("harness.driver")

REPO = Path(__file__).resolve().parents[2]
# Mounted read-only into each driver, so code changes need no image rebuild. The harness is there for
# the mutation suite's wrong sinks (`--sink harness.scenario.wrong_sinks:...`); importing them loads
# only the pipeline, pyspark and cassandra-driver, which the image has.
SOURCES = ("pipeline", "harness")
READY = "query .* started on"
# spark-submit options of every harness-launched driver and its executor: the JIT's first tier only
# (C1). A test driver lives for seconds to minutes and counts thousands of events; on 2 cores, the
# optimizing tier's compiles of Spark's start-up paths cost more than they return in that time
# (measured: first batch committed 14-15 s after launch with both tiers, 11 s with C1). The
# benchmark gives its Spark drivers the same, and its executors the JVM's default (`DRIVER_JIT`).
JIT = "-XX:TieredStopAtLevel=1"
SUBMIT_ARGS = ("--driver-java-options", JIT, "--conf", f"spark.executor.extraJavaOptions={JIT}")
FROZEN = re.compile(r"FAILPOINT \S+ stop batch=\d+ pid=(\d+)")
CRASHED = re.compile(r"FAILPOINT \S+ crash batch=\d+")


@dataclass(frozen=True)
class DriverSpec:
    """What a driver runs on: every field maps to a `python -m pipeline run` option."""

    topic: str
    keyspace: str
    checkpoint: Path
    window: str = "1 minute"
    allowed_lateness: str = "10 minutes"
    # Count copies of an event once (the pipeline's --dedup); the checker then judges distinct events.
    dedup: bool = False
    trigger_interval: str = "1 second"
    max_offsets_per_trigger: int | None = None
    kafka_isolation_level: str = "read_committed"
    failpoints: tuple[str, ...] = field(default=())
    sink: str | None = None
    starting_offsets: str = "earliest"
    # A new checkpoint that takes the job over from this one (the pipeline's --take-over-from).
    take_over_from: Path | None = None

    @property
    def progress_log(self) -> Path:
        return self.checkpoint.parent / f"{self.checkpoint.name}.progress.jsonl"


class Driver:
    """One run of the pipeline driver. A spec can be run by many drivers in turn (restarts)."""

    runs = 0

    def __init__(self, stack: StackInfo, spec: DriverSpec) -> None:
        self.stack = stack
        self.spec = spec
        Driver.runs += 1
        self.name = f"driver-{spec.topic}-{Driver.runs}"
        self._container: DockerContainer | None = None

    def endpoints(self) -> tuple[str, str]:
        """Kafka's bootstrap servers and Cassandra's host:port, through Toxiproxy, so that a network
        fault reaches the pipeline (and only the pipeline: the producer and the checker go direct)."""
        return self.stack.proxied_bootstrap_servers, self.stack.proxied_cassandra_hosts

    def stream_args(self) -> list[str]:
        """The options every streaming job of this checkout takes (the pipeline, the seed's job)."""
        s = self.spec
        kafka, cassandra = self.endpoints()
        args = [
            "--bootstrap-servers",
            kafka,
            "--topic",
            s.topic,
            "--cassandra-hosts",
            cassandra,
            "--keyspace",
            s.keyspace,
            "--checkpoint",
            str(s.checkpoint),
            "--master",
            self.stack.spark_master,
            "--trigger-interval",
            s.trigger_interval,
            "--progress-log",
            str(s.progress_log),
        ]
        if s.max_offsets_per_trigger:
            args += ["--max-offsets-per-trigger", str(s.max_offsets_per_trigger)]
        return args

    def command(self) -> list[str]:
        s = self.spec
        cmd = [
            "python3",
            "-m",
            "pipeline",
            "run",
            *self.stream_args(),
            "--window",
            s.window,
            "--allowed-lateness",
            s.allowed_lateness,
            "--dedup" if s.dedup else "--no-dedup",
            "--kafka-isolation-level",
            s.kafka_isolation_level,
            "--starting-offsets",
            s.starting_offsets,
            "--replication-factor",
            str(self.stack.replication),
        ]
        if s.take_over_from:
            cmd += ["--take-over-from", str(s.take_over_from)]
        for failpoint in s.failpoints:
            cmd += ["--failpoint", failpoint]
        if s.sink:
            cmd += ["--sink", s.sink]
        return cmd

    def env(self) -> dict[str, str]:
        """The container's environment beyond PYTHONPATH."""
        return {"PYSPARK_SUBMIT_ARGS": " ".join([*SUBMIT_ARGS, "pyspark-shell"])}

    def mounts(self) -> dict[str, Path]:
        """The source folders mounted read-only into the container: path inside -> folder here."""
        for source in SOURCES:
            if not (REPO / source).is_dir():
                raise FileNotFoundError(
                    f"{REPO / source} is missing: the harness runs drivers from a source checkout "
                    "(pip install -e .), not from an installed wheel"
                )
        return {f"/opt/tally/{source}": REPO / source for source in SOURCES}

    def start(self, timeout_s: float = 180, ready: bool = True) -> Self:
        """Launch, and unless `ready` is False wait until the query has started."""
        shared = str(self.stack.shared_dir)
        container = (
            containers.labelled(self.stack.images.spark, self.name, self.command())
            .with_volume_mapping(shared, shared, mode="rw")
            .with_env("PYTHONPATH", "/opt/tally:/opt/py")
        )
        for key, value in self.env().items():
            container.with_env(key, value)
        for inside, folder in self.mounts().items():
            container.with_volume_mapping(str(folder), inside, mode="ro")
        # Kept before it is ready: a driver that dies at start still has a log to save and a
        # container to remove, and the diagnosis must show that log, not "never started".
        self._container = container
        containers.start(container, READY if ready else None, timeout_s)
        return self

    @property
    def container(self) -> DockerContainer:
        if self._container is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._container

    def stop(self, timeout_s: float = 120) -> int:
        """SIGTERM, wait for the batch in flight to finish; returns the exit code."""
        wrapped = self.container.get_wrapped_container()
        wrapped.stop(timeout=int(timeout_s))
        return int(wrapped.wait()["StatusCode"])

    def kill(self) -> None:
        self.container.get_wrapped_container().kill(signal="SIGKILL")

    def frozen_pid(self) -> int | None:
        """The pid a `stop` failpoint froze with SIGSTOP, once the driver has logged it."""
        found = FROZEN.findall(self.logs())
        return int(found[-1]) if found else None

    def failpoint_crash(self) -> str | None:
        """The failpoint line a `crash` failpoint logged before its SIGKILL, if it fired."""
        return failpoint_crash(self.logs())

    def resume(self, pid: int) -> None:
        """SIGCONT to a process a `stop` failpoint froze: the zombie carries on where it stopped."""
        result = self.container.get_wrapped_container().exec_run(["kill", "-CONT", str(pid)])
        if result.exit_code != 0:
            raise RuntimeError(f"could not resume pid {pid} in {self.name}: {result.output!r}")

    def exit_code(self) -> int | None:
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        return (
            None
            if wrapped.status in ("created", "running", "paused")
            else int(wrapped.attrs["State"]["ExitCode"])
        )

    def logs(self) -> str:
        wrapped = self.container.get_wrapped_container()
        return "" if wrapped is None else wrapped.logs().decode(errors="replace")

    def startup(self) -> Startup:
        """Launch to session, query and first committed batch, for a driver not removed yet."""
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        launched = instant(wrapped.attrs["State"]["StartedAt"])
        return startup(launched, wrapped.logs(timestamps=True).decode(errors="replace"), progress(self.spec))

    def save_logs(self) -> Path | None:
        return containers.save_logs(self.container, self.stack.logs_dir)

    def remove(self) -> None:
        if self._container is not None:
            if self.save_logs() is not None:
                # One timing line per driver: its start-up is most of a scenario's fixed cost.
                log.info("%s: %s", self.name, self.startup())
            containers.remove(self._container)
            self._container = None


def failpoint_crash(logs: str) -> str | None:
    found = CRASHED.findall(logs)
    return found[-1] if found else None


def progress(spec: DriverSpec) -> list[dict[str, Any]]:
    """Every query progress reported so far for this spec's checkpoint, across driver runs."""
    if not spec.progress_log.exists():
        return []
    return [json.loads(line) for line in spec.progress_log.read_text().splitlines() if line.strip()]


def source_offsets(report: dict[str, Any], topic: str, which: str) -> dict[int, int]:
    """`which` is "startOffset" or "endOffset" of the Kafka source in one progress report."""
    for source in report.get("sources", []):
        offsets = source.get(which)
        if isinstance(offsets, str):
            offsets = json.loads(offsets)
        if offsets and topic in offsets:
            return {int(p): int(o) for p, o in offsets[topic].items()}
    return {}


def consumed_offsets(spec: DriverSpec) -> dict[int, int]:
    """Per Kafka partition, the end offset of the last batch Spark reported as done (i.e. committed)."""
    for report in reversed(progress(spec)):
        offsets = source_offsets(report, spec.topic, "endOffset")
        if offsets:
            return offsets
    return {}


def last_progress(spec: DriverSpec) -> str:
    reports = progress(spec)
    if not reports:
        return "no query progress reported yet"
    last = reports[-1]
    keep = ("batchId", "timestamp", "numInputRows", "sources", "eventTime", "stateOperators", "durationMs")
    return json.dumps({k: last[k] for k in keep if k in last}, indent=1)
