"""One trial of the pipeline on the stack: its own topic, job, checkpoint, history and drivers.

A trial produces workloads (every send in the history), runs drivers in turn on one checkpoint,
waits until Spark has committed every produced offset, and judges the Cassandra tables.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.checker.offset_log import generations_offsets
from harness.checker.sink_reader import cassandra_session, generation_checkpoints, snapshot_or_empty
from harness.checker.verdict import Verdict, check
from harness.eventually import eventually
from harness.model.history import History, Op
from harness.model.snapshot import SinkSnapshot
from harness.stack.driver import Driver, DriverSpec, consumed_offsets, last_progress
from harness.stack.kafka_admin import create_topic, end_offsets
from harness.stack.services import StackInfo
from harness.workload.generator import WorkloadSpec, generate
from harness.workload.producer import ProduceSummary, Transactions, produce, produce_in_transactions

UNITS_MS = {"ms": 1, "millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


def duration_ms(text: str) -> int:
    """'1 minute', '30 seconds', '500 ms' -> milliseconds (the interval strings Spark accepts)."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-z]+?)s?\s*", text.lower())
    if not match or match.group(2) not in UNITS_MS:
        raise ValueError(f"unsupported duration {text!r}: use '<n> ms|seconds|minutes|hours|days'")
    return int(match.group(1)) * UNITS_MS[match.group(2)]


# Every trial's job writes into this one keyspace of its stack, as the jobs of one deployment do:
# the pipeline keys every row by its job. A keyspace per trial cost each scenario six schema changes
# (about 1.2 s, and 3 s of Cassandra's CPU), and the node a set of tables per scenario for the rest
# of the session.
KEYSPACE = "tally"


class Trial:
    def __init__(
        self, stack: StackInfo, name: str, partitions: int = 4, keyspace: str = KEYSPACE, **spec: Any
    ) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.stack = stack
        self.name = f"{name}-{suffix}"
        topic = self.name
        workdir = stack.shared_dir / self.name
        workdir.mkdir(parents=True)
        self.spec = DriverSpec(topic=topic, keyspace=keyspace, checkpoint=workdir / "checkpoint", **spec)
        self.history = History(workdir / "history.jsonl")
        self.drivers: list[Driver] = []
        self._next_index = 0
        create_topic(stack.bootstrap_servers, topic, partitions, stack.replication)

    @property
    def job(self) -> str:
        """The pipeline's --job: the harness runs every job under its topic's name."""
        return self.spec.topic

    def new_checkpoint(self) -> Path:
        """A checkpoint beside the trial's others that no driver has used."""
        taken = {p.name for p in self.spec.checkpoint.parent.glob("checkpoint*") if p.is_dir()}
        return self.spec.checkpoint.parent / f"checkpoint-{len(taken) + 1}"

    def move_to(self, checkpoint: Path, **changes: Any) -> None:
        """Later drivers run on `checkpoint` (a reset, a take-over), with `changes` to the spec."""
        self.spec = replace(self.spec, checkpoint=checkpoint, **changes)

    @property
    def window_ms(self) -> int:
        return duration_ms(self.spec.window)

    def produce(
        self,
        workload: WorkloadSpec,
        transactions: Transactions | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> ProduceSummary:
        """Send a workload; record numbers continue across calls so the history stays one sequence.
        `config`: producer settings over the harness's own (a negative control's `acks=1`)."""
        records = list(generate(workload))
        server, topic = self.stack.bootstrap_servers, self.spec.topic
        if transactions is None:
            summary = produce(
                records, server, topic, self.history, first_index=self._next_index, config=config
            )
        else:
            summary = produce_in_transactions(
                records, server, topic, self.history, transactions, first_index=self._next_index
            )
        self._next_index += len(records)
        return summary

    def start_driver(self, ready: bool = True, **overrides: Any) -> Driver:
        """A driver of this trial's spec (with `overrides`); `ready`: wait until its query runs."""
        driver = Driver(self.stack, replace(self.spec, **overrides) if overrides else self.spec)
        self.drivers.append(driver)
        return driver.start(ready=ready)

    def wait_exit(self, driver: Driver, timeout_s: float = 300) -> int:
        """Until `driver` has exited (a failpoint crash, a kill); returns its exit code."""
        return eventually(
            driver.exit_code,
            lambda code: code is not None,
            expected=f"{driver.name} to exit",
            timeout_s=timeout_s,
            diagnose=self.diagnosis,
        )  # type: ignore[return-value]

    def wait_consumed(self, timeout_s: float = 300) -> dict[int, int]:
        """Until Spark reports a committed batch ending at Kafka's current end offsets."""
        target = end_offsets(self.stack.bootstrap_servers, self.spec.topic)
        return eventually(
            lambda: consumed_offsets(self.spec),
            lambda seen: all(seen.get(p, 0) >= end for p, end in target.items()),
            expected=f"offsets {target} consumed by {self.spec.topic}",
            timeout_s=timeout_s,
            diagnose=self.diagnosis,
            abort=self._driver_gone,
        )

    def _driver_gone(self) -> str | None:
        if not self.drivers:
            return "no driver was started"
        code = self.drivers[-1].exit_code()
        if code is None:
            return None
        tail = "\n".join(self.drivers[-1].logs().splitlines()[-15:])
        return f"driver {self.drivers[-1].name} exited with code {code}; its log ends:\n{tail}"

    def snapshot(self, timeout_s: float = 120) -> SinkSnapshot:
        """The tables, with the settings and Spark's offset log that late reports are judged by.
        Read at QUORUM until a read succeeds: while a node is cut off, its peers take seconds to
        see it gone, and a read that meets it until then times out (it is never read from fewer)."""

        def read() -> tuple[SinkSnapshot, dict[int, str]]:
            with cassandra_session(self.stack.cassandra_nodes, self.stack.cassandra_port) as session:
                tables = snapshot_or_empty(session, self.spec.keyspace, self.job, self.window_ms)
                late = generation_checkpoints(session, self.spec.keyspace, self.job) if tables.late else {}
                return tables, late

        tables, checkpoints = eventually(
            read, lambda _: True, expected="a read of the tables at QUORUM", timeout_s=timeout_s
        )
        return replace(
            tables,
            allowed_lateness_ms=duration_ms(self.spec.allowed_lateness),
            dedup=self.spec.dedup,
            # Drivers see the shared directory at the same path as the harness.
            batch_end_offsets=generations_offsets({g: Path(c) for g, c in checkpoints.items()}),
        )

    def verdict(
        self,
        distinct: bool | None = None,
        snapshot: SinkSnapshot | None = None,
        only: Callable[[Op], bool] | None = None,
    ) -> Verdict:
        """`distinct`: judge distinct events, not copies; by default, when the pipeline deduplicates.
        `snapshot`: the tables read once for several judgements (by default, read now); `only`: judge
        a part of the history (see `harness.checker.verdict.check`)."""
        return check(
            self.history,
            snapshot if snapshot is not None else self.snapshot(),
            distinct=self.spec.dedup if distinct is None else distinct,
            only=only,
        )

    def diagnosis(self) -> str:
        """Last query progress, and where the history and every log are."""
        for driver in self.drivers:
            driver.save_logs()
        logs = sorted(str(p) for p in self.stack.logs_dir.glob("*.log"))
        return (
            f"last query progress of {self.spec.topic}:\n{last_progress(self.spec)}\n"
            f"history: {self.history.path}\nlogs (containers are saved at teardown): "
            f"{self.stack.logs_dir}\n  " + "\n  ".join(logs)
        )

    def assert_exact(self) -> Verdict:
        verdict = self.verdict()
        assert verdict.valid is True, f"{verdict.explain()}\n\n{self.diagnosis()}"
        return verdict

    def close(self) -> None:
        for driver in self.drivers:
            driver.remove()
        self.history.close()
