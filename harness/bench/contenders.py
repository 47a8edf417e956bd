"""The three consumers the benchmark runs on the same topic: Tally's pipeline, the seed's RDD job
(both as driver containers submitted to the Spark master), and the plain Python consumer (a host
process). Each reports what it has consumed, and where its counts are in Cassandra."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cassandra.cluster import Session
from docker.models.containers import Container

from harness.bench import plain_consumer, seed_job
from harness.bench.resources import ContainerProbe, Probe, ProcessProbe
from harness.checker.sink_reader import epoch_ms
from harness.eventually import eventually
from harness.model.snapshot import RowKey
from harness.stack.driver import JIT, REPO, Driver, DriverSpec, consumed_offsets, last_progress, progress
from harness.stack.services import StackInfo

# The Spark contenders' drivers run the JIT's first tier only, their executors the JVM's default. A
# driver plans and schedules a few batches a second (branchy code, run often, never for long); on 2
# cores the optimizing tier's compiles of it cost the batches more than its code saves them
# (measured: p99 at 10,000/s 2.3-2.6 s against 3.3-3.7 s, and 0.47 of a core for the driver's
# container against 0.57-0.71). An executor's loops need that tier: with the first only, the 5 M
# drain ran at 79,000 events/s instead of 169,000.
DRIVER_JIT = ("--driver-java-options", JIT)


def submit_env(submit_args: tuple[str, ...]) -> dict[str, str]:
    """spark-submit's options for a PySpark driver. PySpark splits them as a shell would, so they
    are quoted: an option whose value has spaces (two JVM flags for the executors) stays one."""
    if not submit_args:
        return {}
    return {"PYSPARK_SUBMIT_ARGS": shlex.join([*submit_args, "pyspark-shell"])}


@dataclass(frozen=True)
class Tuning:
    """How the Spark contenders are run: the settings the benchmark chooses (see the README)."""

    trigger_interval: str = "1 second"
    max_offsets_per_trigger: int | None = None
    window: str = "1 minute"
    allowed_lateness: str = "10 minutes"
    # Extra `python -m pipeline run` options, and spark-submit options (PYSPARK_SUBMIT_ARGS).
    pipeline_args: tuple[str, ...] = ()
    submit_args: tuple[str, ...] = DRIVER_JIT
    python_flush_interval_s: float = 1.0
    # Run the pipeline from another directory (a candidate change) instead of this checkout's.
    pipeline_dir: Path | None = None
    # A jar put first on the pipeline executor's class path: A/B a change on the JVM's side (a
    # patched Spark class) as `pipeline_dir` does one in Python. Never the shipped configuration.
    executor_jar: Path | None = None


class Contender(ABC):
    """One consumer of one topic, writing to its own keyspace."""

    label: str  # pipeline | seed | python
    table: str

    def __init__(self, stack: StackInfo, topic: str, keyspace: str, workdir: Path, tuning: Tuning) -> None:
        self.stack = stack
        self.topic = topic
        self.keyspace = keyspace
        self.workdir = workdir
        self.tuning = tuning
        workdir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def start(self) -> None:
        """Start, and return once it is consuming (or fail with its log)."""

    @abstractmethod
    def consumed(self) -> dict[int, int]:
        """Per partition, the offset up to which its counts are written (committed)."""

    @abstractmethod
    def gone(self) -> str | None:
        """Why waiting on it is pointless (it exited), or None while it runs."""

    @abstractmethod
    def stop(self) -> int:
        """Graceful stop; returns the exit code."""

    @abstractmethod
    def probes(self) -> dict[str, Probe]:
        """Its own processes, by role: 'driver' (and the shared executor, watched by the run)."""

    @abstractmethod
    def diagnosis(self) -> str: ...


class BenchDriver(Driver):
    """A Driver that can run another module of this checkout (the seed's job) with extra options."""

    def __init__(
        self,
        stack: StackInfo,
        spec: DriverSpec,
        *,
        module: str = "pipeline",
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        pipeline_dir: Path | None = None,
    ) -> None:
        super().__init__(stack, spec)
        self.module = module
        self.extra_args = extra_args
        self._env = dict(env or {})
        self.pipeline_dir = pipeline_dir or REPO / "pipeline"

    def endpoints(self) -> tuple[str, str]:
        # Direct, like the other contenders: the benchmark measures the pipeline, not a proxy.
        return self.stack.bootstrap_servers, self.stack.cassandra_hosts

    def command(self) -> list[str]:
        if self.module == "pipeline":
            return [*super().command(), *self.extra_args]
        return ["python3", "-m", self.module, *self.stream_args(), *self.extra_args]

    def env(self) -> dict[str, str]:
        # Only the contender's own options (`Tuning.submit_args`), not the harness's C1-only executors.
        return self._env

    def mounts(self) -> dict[str, Path]:
        # The seed's job lives in harness/bench; it imports pipeline.job for the progress log.
        return {"/opt/tally/pipeline": self.pipeline_dir.resolve(), "/opt/tally/harness": REPO / "harness"}


class SparkContender(Contender):
    module = "pipeline"

    def __init__(self, stack: StackInfo, topic: str, keyspace: str, workdir: Path, tuning: Tuning) -> None:
        super().__init__(stack, topic, keyspace, workdir, tuning)
        self.spec = DriverSpec(
            topic=topic,
            keyspace=keyspace,
            checkpoint=workdir / "checkpoint",
            window=tuning.window,
            allowed_lateness=tuning.allowed_lateness,
            trigger_interval=tuning.trigger_interval,
            max_offsets_per_trigger=tuning.max_offsets_per_trigger,
        )
        self.driver: BenchDriver | None = None

    def extra_args(self) -> tuple[str, ...]:
        return ()

    def submit_args(self) -> tuple[str, ...]:
        return self.tuning.submit_args

    def start(self) -> None:
        self.driver = BenchDriver(
            self.stack,
            self.spec,
            module=self.module,
            extra_args=self.extra_args(),
            env=submit_env(self.submit_args()),
            pipeline_dir=self.tuning.pipeline_dir,
        )
        self.driver.start()

    def consumed(self) -> dict[int, int]:
        return consumed_offsets(self.spec)

    def progress(self) -> list[dict[str, Any]]:
        return progress(self.spec)

    def gone(self) -> str | None:
        if self.driver is None:
            return "not started"
        return _exited(self.driver.name, self.driver.exit_code(), self.driver.logs)

    def stop(self) -> int:
        if self.driver is None:
            return 0
        code = self.driver.stop()
        self.driver.remove()
        return code

    def probes(self) -> dict[str, Probe]:
        return {"driver": ContainerProbe(self.container().name)}

    def container(self) -> Container:
        """The driver's container, for the probes and the soak's heap sampler."""
        assert self.driver is not None
        return self.driver.container.get_wrapped_container()

    def diagnosis(self) -> str:
        logs = self.driver.save_logs() if self.driver else None
        return f"last query progress:\n{last_progress(self.spec)}\ndriver log: {logs}"


class PipelineContender(SparkContender):
    label = "pipeline"
    table = "pageviews"

    def extra_args(self) -> tuple[str, ...]:
        return self.tuning.pipeline_args

    def submit_args(self) -> tuple[str, ...]:
        jar = self.tuning.executor_jar
        if jar is None:
            return self.tuning.submit_args
        # The workdir is in the stack's shared directory, which the Spark worker mounts at the same
        # path: the executor finds the copy there. The class path's first entry wins.
        placed = self.workdir / "executor-jars" / jar.name
        placed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(jar, placed)
        return (*self.tuning.submit_args, "--conf", f"spark.executor.extraClassPath={placed}")


class SeedContender(SparkContender):
    label = "seed"
    table = seed_job.TABLE
    module = "harness.bench.seed_job"


class PythonContender(Contender):
    label = "python"
    table = plain_consumer.TABLE

    def __init__(self, stack: StackInfo, topic: str, keyspace: str, workdir: Path, tuning: Tuning) -> None:
        super().__init__(stack, topic, keyspace, workdir, tuning)
        self.progress_log = workdir / "python-consumer.progress.jsonl"
        self.log = workdir / "python-consumer.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "harness.bench.plain_consumer",
            "--bootstrap-servers",
            self.stack.bootstrap_servers,
            "--topic",
            self.topic,
            "--group",
            f"plain-{self.keyspace}",
            "--cassandra-hosts",
            self.stack.cassandra_hosts,
            "--keyspace",
            self.keyspace,
            "--flush-interval-s",
            str(self.tuning.python_flush_interval_s),
            "--progress-log",
            str(self.progress_log),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        eventually(
            lambda: self.log.read_text(errors="replace"),
            lambda text: "assigned [" in text,
            expected="the plain consumer to be assigned its partitions",
            timeout_s=60,
            abort=self.gone,
        )

    def consumed(self) -> dict[int, int]:
        if not self.progress_log.exists():
            return {}
        lines = self.progress_log.read_text().splitlines()
        offsets: dict[int, int] = {}
        for line in lines:
            if line.strip():
                offsets.update({int(p): int(o) for p, o in json.loads(line)["offsets"].items()})
        return offsets

    def gone(self) -> str | None:
        if self.process is None:
            return "not started"
        return _exited(
            "the plain consumer", self.process.poll(), lambda: self.log.read_text(errors="replace")
        )

    def stop(self) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def probes(self) -> dict[str, Probe]:
        assert self.process is not None
        return {"driver": ProcessProbe(self.process.pid)}

    def diagnosis(self) -> str:
        return f"plain consumer log: {self.log}"


CONTENDERS: dict[str, type[Contender]] = {
    "pipeline": PipelineContender,
    "seed": SeedContender,
    "python": PythonContender,
}


@dataclass
class Counts:
    """Reads a contender's counts: every table here sums to (site, window) -> views."""

    session: Session
    keyspace: str
    table: str
    _totals: Any = field(default=None, init=False, repr=False)

    def rows(self) -> dict[RowKey, int]:
        out: dict[RowKey, int] = {}
        query = f"SELECT site_id, window_start, views FROM {self.keyspace}.{self.table}"
        for row in self.session.execute(query):
            key = (row.site_id, epoch_ms(row.window_start))
            out[key] = out.get(key, 0) + row.views
        return out

    def total(self) -> int:
        """Sum of all counts, computed by Cassandra (a poll every 100 ms must stay cheap)."""
        if self._totals is None:
            self._totals = self.session.prepare(
                f"SELECT sum(views) AS views FROM {self.keyspace}.{self.table}"
            )
        row = self.session.execute(self._totals).one()
        return int(row.views or 0) if row else 0

    def exists(self) -> bool:
        rows = self.session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
            (self.keyspace, self.table),
        )
        return rows.one() is not None


def _exited(name: str, code: int | None, log: Callable[[], str]) -> str | None:
    """Why waiting on a contender is pointless: it exited; its log is read only then."""
    if code is None:
        return None
    tail = "\n".join(log().splitlines()[-20:])
    return f"{name} exited with code {code}; its log ends:\n{tail}"
