"""Scenarios of the replicated topology: a node of Kafka or Cassandra killed or cut off while records
are produced and batches written, judged by the same checker over the same history.

The producer's `acks=all` (idempotent) must keep every acknowledged record through a leader's death;
the pipeline's LOCAL_QUORUM writes must go on with one Cassandra node gone, and stop (no batch
committed) with two gone; a node cut off from its peers must not make a read at QUORUM miss a write.
The negative controls (`harness/scenario/mutants.py`) are the same scenarios with `acks=1` and with
writes at ONE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.eventually import eventually
from harness.nemesis.nodes import NodeFault
from harness.scenario.loads import load
from harness.scenario.steps import (
    Check,
    Context,
    EnsureDriver,
    Heal,
    Hold,
    Inject,
    Produce,
    StartDriver,
    Step,
    WaitConsumed,
    WaitProgress,
)
from harness.stack.driver import consumed_offsets
from harness.stack.kafka_admin import end_offsets
from harness.workload.generator import WorkloadSpec
from harness.workload.producer import ProduceSummary

# A leader whose death loses what only it had: a record acknowledged with `acks=1` and not yet
# fetched by a follower. The producer sends as fast as it can while the broker dies, so that many
# records are in that window; with `acks=all` none may be lost.
FAST_LOAD_EVENTS = 60_000
# Longer than KRaft's broker session (9 s): the controllers fence the cut-off broker and elect new
# leaders while it is gone.
BROKER_HOLD_S = 15
# Long enough for a dozen batches to try their writes while two Cassandra nodes are down.
STALL_HOLD_S = 15
# Producer settings of the `acks=1` control: a leader's acknowledgement alone (idempotence needs all).
ACKS_ONE: Mapping[str, Any] = {"acks": "1", "enable.idempotence": False}


class BackgroundLoad:
    """One workload sent on a thread, every send in the trial's history: a producer that does not
    stop while a node dies. `join()` returns its summary (sends a fault left unknown end `info`)."""

    def __init__(self, ctx: Context, workload: WorkloadSpec, config: Mapping[str, Any] | None) -> None:
        self._ctx = ctx
        self._workload = workload
        self._config = config
        self._summary: ProduceSummary | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="background-load", daemon=True)

    def _send(self) -> None:
        try:
            self._summary = self._ctx.trial.produce(self._workload, config=self._config)
        except BaseException as error:
            self._error = error

    def start(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def sending(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._thread.join(timeout=300)

    def join(self) -> ProduceSummary:
        self.stop()
        if self._error is not None:
            raise RuntimeError(f"the background load failed: {self._error!r}") from self._error
        if self._summary is None:
            raise RuntimeError("the background load did not finish within 300 s")
        return self._summary


@dataclass(frozen=True)
class ProduceDuring(Step):
    """Start sending `workload` in the background, and wait until its first records are in Kafka:
    a fault injected next lands while records are being acknowledged."""

    workload: WorkloadSpec
    config: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        settings = f" with {dict(self.config)}" if self.config else ""
        return f"keep producing {self.workload.events} events as fast as the brokers take them{settings}"

    def run(self, ctx: Context) -> None:
        stack, topic = ctx.trial.stack, ctx.trial.spec.topic
        before = sum(end_offsets(stack.bootstrap_servers, topic).values())
        ctx.background.append(BackgroundLoad(ctx, self.workload, self.config or None).start())
        eventually(
            lambda: sum(end_offsets(stack.bootstrap_servers, topic).values()) - before,
            lambda sent: sent >= 1_000,
            expected="the background load's first thousand records in Kafka",
            timeout_s=120,
            diagnose=ctx.trial.diagnosis,
        )


@dataclass(frozen=True)
class InjectUnderLoad(Inject):
    """Inject the fault, and make sure the background load was still sending when it landed."""

    def __str__(self) -> str:
        return f"{super().__str__()}, while the load is being sent"

    def run(self, ctx: Context) -> None:
        super().run(ctx)
        loads = [work for work in ctx.background if isinstance(work, BackgroundLoad)]
        sending = bool(loads) and all(work.sending() for work in loads)
        # A fault after the last acknowledgement tests nothing of the producer: say so, not pass.
        assert sending, "the fault did not land: the background load had ended before it; give it more events"


@dataclass(frozen=True)
class JoinLoad(Step):
    def __str__(self) -> str:
        return "wait until the background load has ended (each send ok, fail or info in the history)"

    def run(self, ctx: Context) -> None:
        for work in ctx.background:
            if isinstance(work, BackgroundLoad):
                summary = work.join()
                ctx.outcomes.append(
                    f"background load: {summary.attempted} sent, {summary.acknowledged} acknowledged, "
                    f"{summary.failed} failed, {summary.indeterminate} unknown"
                )
        ctx.background.clear()


@dataclass(frozen=True)
class HoldStalled(Step):
    """With too few replicas for a quorum: once the sink has logged a write it could not make, no
    batch may be committed for `seconds` (a batch committed now would hold writes no quorum took)."""

    seconds: float

    def __str__(self) -> str:
        return f"wait for a refused write, then hold {self.seconds:.0f} s: no batch may be committed"

    def run(self, ctx: Context) -> None:
        driver = ctx.trial.drivers[-1]
        eventually(
            lambda: "write failed" in driver.logs(),
            bool,
            expected="the sink to log a write it could not make at LOCAL_QUORUM (the fault landed)",
            timeout_s=180,
            diagnose=ctx.trial.diagnosis,
        )
        before = consumed_offsets(ctx.trial.spec)
        time.sleep(self.seconds)
        after = consumed_offsets(ctx.trial.spec)
        assert after == before, (
            f"batches were committed while no quorum could take their writes: offsets {before} -> {after}"
        )
        ctx.outcomes.append(f"no batch committed for {self.seconds:.0f} s after a refused write")


def _load(seed: int, events: int, minute: int = 0) -> WorkloadSpec:
    return load(seed, events, minute=minute).workload


def _running(seed: int, events: int) -> tuple[Step, ...]:
    """A first load and a driver that has committed some of it: a fault next hits a running stream."""
    return (Produce(_load(seed, events)), StartDriver(), WaitProgress())


def _under_load(
    fault: NodeFault, seed: int, events: int, config: Mapping[str, Any] | None
) -> tuple[Step, ...]:
    """A broker fault while a fast load is being acknowledged, held past KRaft's broker session, then
    healed; the stream catches up."""
    return (
        *_running(seed, events),
        ProduceDuring(_load(seed + 1, FAST_LOAD_EVENTS, minute=2), config=dict(config or {})),
        InjectUnderLoad(fault),
        Hold(BROKER_HOLD_S),
        Heal(fault),
        JoinLoad(),
        EnsureDriver(),
        WaitConsumed(),
    )


def _while_writing(fault: NodeFault, seed: int, events: int) -> tuple[Step, ...]:
    """A Cassandra fault on a running stream, and new input while it is on: batches write through it."""
    return (*_running(seed, events), Inject(fault), Produce(_load(seed + 1, events // 2, minute=2)))


def leader_killed(seed: int, events: int, config: Mapping[str, Any] | None = None) -> tuple[Step, ...]:
    """The broker leading partition 0 is SIGKILLed while a fast load is acknowledged, and started
    again on its log: it comes back a follower, and truncates whatever no other replica had."""
    return _under_load(NodeFault("kill", "kafka", leader=True), seed, events, config)


def broker_isolated(seed: int, events: int) -> tuple[Step, ...]:
    """The leader of partition 0 cut off from the other brokers and from every client while records
    are produced, past its session: the controllers elect new leaders; then it rejoins."""
    return (*_under_load(NodeFault("isolate", "kafka", leader=True), seed, events, None), Check())


def cassandra_node_killed(seed: int, events: int) -> tuple[Step, ...]:
    """One Cassandra node SIGKILLed while batches write: a quorum is still there, so every produced
    offset must be committed before the node comes back; then hints and reads at QUORUM agree."""
    kill = NodeFault("kill", "cassandra")
    return (*_while_writing(kill, seed, events), WaitConsumed(), Heal(kill), Check())


def cassandra_two_killed(seed: int, events: int) -> tuple[Step, ...]:
    """Two of three Cassandra nodes SIGKILLed while batches write: no quorum, so the pipeline must
    stop committing; after the heal it catches up exactly."""
    kill = NodeFault("kill", "cassandra", count=2)
    return (
        *_while_writing(kill, seed, events),
        HoldStalled(STALL_HOLD_S),
        Heal(kill),
        EnsureDriver(),
        WaitConsumed(),
        Check(),
    )


def cassandra_node_partitioned(seed: int, events: int) -> tuple[Step, ...]:
    """One Cassandra node cut off from its peers while batches write; the drivers still reach it, so
    it still coordinates writes it cannot replicate. The checker reads at QUORUM while the node is
    cut off (what a reader sees then), and again after the heal."""
    return (*_while_writing(NodeFault("partition", "cassandra"), seed, events), WaitConsumed())


def partitioned_then_healed(seed: int, events: int) -> tuple[Step, ...]:
    return (
        *cassandra_node_partitioned(seed, events),
        Check(),
        Heal(NodeFault("partition", "cassandra")),
        Check(),
    )
