"""The scenario catalogue: every scenario the gate (chaos tier) and the audit run, and the negative
controls, each built for a seed and a size.

An `Entry` names a scenario, the fault it carries (None for plain flows) and the profiles it belongs
to; `build(seed, events)` makes its steps, `events` being the size of the scenario's main phase.
Profiles: `gate` is what `tox` runs on every change (the shortest representative of each fault
class), `quick` the default audit, `deep` everything; `replicated` the shortest scenario of each
fault class of the replicated topology. Each entry names the topologies it runs on: the faults of
one node need three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.nemesis.faults import Fault, NetworkFault
from harness.scenario import replication
from harness.scenario.loads import load
from harness.scenario.profiles import Profile
from harness.scenario.steps import (
    Check,
    EnsureDriver,
    ForeignWrites,
    Heal,
    Hold,
    Inject,
    KillDriverMidway,
    Produce,
    ResumeDriver,
    ResumeZombie,
    Scenario,
    SecondJob,
    StartDriver,
    StartRefused,
    Step,
    StopDriver,
    TakeOver,
    WaitConsumed,
    WaitDriverExit,
    WaitFrozen,
    WaitProgress,
    WaitWritesAttempted,
)
from harness.stack.topology import Topology
from harness.workload.producer import Transactions

SEED = 20261124
# Seeds a scenario of the gate ever failed with (scenario name -> seeds), as Hypothesis keeps its
# failing examples: the gate runs each of them beside the run's fresh seed, for good.
KEPT_SEEDS: dict[str, tuple[int, ...]] = {}
# Small batches: a fault lands between batches of one phase, not before or after all of it.
MAX_OFFSETS_PER_TRIGGER = 2_000
CRASH_POINTS = ("sink.before_write", "sink.mid_write", "sink.after_write")
RESENDS: dict[str, Any] = {"allowed_lateness": "30 seconds"}


def crash_in_a_fresh_batch(point: str, seed: int = SEED, events: int = 4_000) -> tuple[Step, ...]:
    """Phase A committed as batch 0; phase B (new windows) arrives while the same driver runs, and its
    first batch crashes at `point`; a new driver replays it. One driver carries both phases, armed
    from batch 1 (a batch that writes nothing, such as the watermark's no-data batch, never reaches
    a point): a restart in between would only add a start, which graceful-restart covers."""
    return (
        load(seed, events),
        StartDriver(failpoints=(f"{point}=crash@1+",)),
        WaitConsumed(),
        load(seed + 1, events * 3 // 8, minute=30),
        WaitDriverExit(),
        StartDriver(),
        WaitConsumed(),
    )


def zombie(seed: int = SEED, events: int = 12_000) -> tuple[Step, ...]:
    """Batch 1 freezes half written; the replacement reruns it and goes on updating the same windows
    (two windows over six batches), then the zombie wakes up and writes its stale second half."""
    return (
        load(seed, events, minutes=2),
        StartDriver(failpoints=("sink.mid_write=stop@1",)),
        WaitFrozen(),
        StartDriver(),
        WaitConsumed(),
        ResumeZombie(),
    )


def outage(fault: Fault, hold_s: float = 10, seed: int = SEED, events: int = 6_000) -> tuple[Step, ...]:
    return (
        load(seed, events),
        StartDriver(),
        WaitProgress(),
        Inject(fault),
        Hold(hold_s),
        Heal(fault),
        load(seed + 1, events // 2, minute=2),
        EnsureDriver(),
        WaitConsumed(),
        Check(),
    )


def network_fault(
    fault: NetworkFault, hold_s: float = 8, seed: int = SEED, events: int = 6_000
) -> tuple[Step, ...]:
    """The second load goes straight to Kafka while the pipeline's link is faulty: the stream must
    read it through the fault or after the heal, and write it to Cassandra exactly once."""
    return (
        load(seed, events),
        StartDriver(),
        WaitProgress(),
        Inject(fault),
        load(seed + 1, events // 2, minute=2),
        Hold(hold_s),
        Heal(fault),
        EnsureDriver(),
        WaitConsumed(),
        Check(),
    )


def driver_sigkill(seed: int = SEED, events: int = 12_000) -> tuple[Step, ...]:
    return (load(seed, events), StartDriver(), KillDriverMidway(), StartDriver(), WaitConsumed(), Check())


def resend_dedup(seed: int = SEED, events: int = 6_000) -> tuple[Step, ...]:
    """A tenth of the events re-sent, some after the watermark; the driver is SIGKILLed midway, so
    copies of events counted before the kill arrive after the restart: the dedup state must survive."""
    return (
        load(seed, events, resend=0.1),
        StartDriver(),
        KillDriverMidway(),
        StartDriver(),
        WaitConsumed(),
        Check(late=True),
    )


def transactional_input(seed: int, events: int) -> tuple[Step, ...]:
    """Transactions of 50 records, a third aborted, the driver SIGKILLed midway: only the committed
    records count, each once; an aborted record is in the log, under offsets the batches read."""
    return (
        Produce(load(seed, events).workload, Transactions(size=50, abort_fraction=0.3, seed=seed)),
        StartDriver(),
        KillDriverMidway(),
        StartDriver(),
        WaitConsumed(),
        Check(),
    )


def resend_no_dedup(seed: int = SEED, events: int = 6_000) -> tuple[Step, ...]:
    """The same re-sends, judged as distinct events: without deduplication the copies are counted."""
    return (load(seed, events, resend=0.1), StartDriver(), WaitConsumed(), Check(distinct=True))


def normal_flow(seed: int, events: int) -> tuple[Step, ...]:
    return (load(seed, events), StartDriver(), WaitConsumed(), Check())


def graceful_restart(seed: int, events: int) -> tuple[Step, ...]:
    """More events for the same windows and new ones while the driver is down: the next one must add
    to the state the first left in the checkpoint."""
    return (
        load(seed, events),
        StartDriver(),
        WaitConsumed(),
        StopDriver(),
        load(seed + 1, events // 2, minute=2),
        StartDriver(),
        WaitConsumed(),
        Check(),
    )


def settings_changed(seed: int, events: int) -> tuple[Step, ...]:
    """A restart on the same checkpoint with another window is refused by name; with the recorded
    one it goes on, and the counts stay exact."""
    return (
        load(seed, events),
        StartDriver(),
        WaitConsumed(),
        StopDriver(),
        StartRefused(
            (("window", "5 minutes"),),
            "--window: the checkpoint was built with '1 minute', this start asks for '5 minutes'",
        ),
        load(seed + 1, events // 2, minute=2),
        StartDriver(),
        WaitConsumed(),
        Check(),
    )


def checkpoint_reset(seed: int, events: int, reset: Step | None = None) -> tuple[Step, ...]:
    """The driver dies half-way through writing batch 4, the checkpoint is replaced, and more events
    arrive for the same windows: a start on a new checkpoint alone is refused, and the documented
    take-over continues exactly, the half-written batch included. With one minute of lateness over
    four minutes of events, the first windows are final before the reset (their new events must be
    reported late by the watermark carried over) and the last still open (carried and added to)."""
    return (
        load(seed, events),
        StartDriver(failpoints=("sink.mid_write=crash@4",)),
        WaitDriverExit(),
        StartRefused((), "would make a second generation", new_checkpoint=True),
        # Fewer batches after the reset than before it: a fence by batch id alone would lose.
        load(seed + 1, events // 4),
        reset or TakeOver(),
        load(seed + 2, events // 8, minute=3),
        WaitConsumed(),
    )


def foreign_write(seed: int, events: int) -> tuple[Step, ...]:
    """Another client writes over one count and deletes another while the job runs: the documented
    correction, a take-over, rewrites every open window above them, and later counts are exact."""
    return (
        load(seed, events),
        StartDriver(),
        WaitConsumed(),
        ForeignWrites(),
        StopDriver(),
        TakeOver(),
        load(seed + 1, events // 2),
        WaitConsumed(),
        Check(),
    )


def cassandra_killed_mid_batch(seed: int, events: int) -> tuple[Step, ...]:
    """Batch 1 is frozen after its checks and before its first write; Cassandra is killed; the batch
    resumes and every write it sends fails. It must not be committed until Cassandra is back and has
    acknowledged them: a sink that returns early, skips or gives up on failed writes loses them."""
    cassandra = Fault("kill", "cassandra")
    return (
        load(seed, events),
        StartDriver(failpoints=("sink.before_write=stop@1",)),
        WaitFrozen(),
        Inject(cassandra),
        ResumeDriver(),
        WaitWritesAttempted(batch_id=1),
        Heal(cassandra),
        EnsureDriver(),
        WaitConsumed(),
        Check(),
    )


def second_job(seed: int, events: int) -> tuple[Step, ...]:
    """Two jobs, two topics, one keyspace, at the same time: each counts exactly its own events."""
    return (load(seed, events), StartDriver(), SecondJob(events // 2), WaitConsumed(), Check())


def future_timestamp(seed: int, events: int) -> tuple[Step, ...]:
    """One event in 200 dated 2100, from a clock gone wrong: each a dead letter (future_ts), the
    rest counted, and no event late (counted, one of them would have taken the watermark to 2100)."""
    return (load(seed, events, malformed=0.0, future=0.005), StartDriver(), WaitConsumed(), Check())


def bad_input(seed: int, events: int) -> tuple[Step, ...]:
    """Every kind of malformed record, 15 % of the input: each must be dead-lettered with its reason."""
    return (load(seed, events, malformed=0.15), StartDriver(), WaitConsumed(), Check())


def late_events(seed: int, events: int) -> tuple[Step, ...]:
    """With one minute of allowed lateness, a tenth of the input arrives for windows long closed: it
    must be reported late, the rest counted."""
    return (
        load(seed, events, minute=10, minutes=5, disorder_ms=0),
        StartDriver(),
        WaitConsumed(),
        load(seed + 1, events // 10, minute=0, minutes=1, disorder_ms=0),
        load(seed + 2, events // 10, minute=15, minutes=1, disorder_ms=0),
        WaitConsumed(),
        Check(late=True),
    )


# Under a backlog of 6,000 events over four minutes, a batch of 1,000 records covers 40 s of event
# time, more than the allowed lateness, and events run up to two minutes behind: the watermark a
# batch drops input by (planned from the batch two before, 80 s of event time back) and its own
# (from the batch before) differ while late input arrives, and some of it is late by either.
LATE_BACKLOG: dict[str, Any] = {"allowed_lateness": "10 seconds", "max_offsets_per_trigger": 1_000}
# Batches of 500: batch 4, where the driver dies, is planned with a watermark a minute of event time in.
RESET: dict[str, Any] = {"allowed_lateness": "1 minute", "max_offsets_per_trigger": 500}


def late_backlog(seed: int, events: int) -> tuple[Step, ...]:
    """A backlog read 1,000 records a batch, events up to 120 s out of order, 10 s of lateness: some
    are late by the watermark Spark drops by, more would be by the batch's own."""
    return (
        load(seed, events, minutes=4, disorder_ms=120_000),
        StartDriver(),
        WaitConsumed(),
    )


GATE: frozenset[Profile] = frozenset({"gate", "deep"})
GATE_QUICK: frozenset[Profile] = frozenset({"gate", "quick", "deep"})
QUICK: frozenset[Profile] = frozenset({"quick", "deep"})
DEEP: frozenset[Profile] = frozenset({"deep"})
REPLICATED: frozenset[Profile] = frozenset({"replicated", "deep"})
SINGLE: frozenset[Topology] = frozenset({"single"})
BOTH: frozenset[Topology] = frozenset({"single", "replicated"})
REPLICATED_ONLY: frozenset[Topology] = frozenset({"replicated"})


@dataclass(frozen=True)
class Entry:
    name: str
    steps: Callable[[int, int], tuple[Step, ...]]  # (seed, events) -> steps
    fault: str | None = None
    profiles: frozenset[Profile] = DEEP
    # The step after which the fault is on (the kill sent, the crash seen); the next step that
    # heals or starts a driver ends it.
    fault_step: type[Step] | None = None
    # DriverSpec fields of the scenario's trial; they override MAX_OFFSETS_PER_TRIGGER.
    trial: Mapping[str, Any] = field(default_factory=dict)
    # The size below which the scenario stops testing what it is for (e.g. batches to kill between).
    min_events: int = 0
    topologies: frozenset[Topology] = SINGLE

    def __post_init__(self) -> None:
        if (self.fault is None) != (self.fault_step is None):
            raise ValueError(f"{self.name}: a fault needs the step that injects it, and vice versa")

    def build(self, seed: int, events: int) -> Scenario:
        return Scenario(
            self.name, self.steps(seed, max(events, self.min_events)), seed=seed, trial=self.trial
        )

    def driver_spec(self) -> dict[str, Any]:
        return {"max_offsets_per_trigger": MAX_OFFSETS_PER_TRIGGER, **self.trial}


def _crash(point: str) -> Callable[[int, int], tuple[Step, ...]]:
    return lambda seed, events: (*crash_in_a_fresh_batch(point, seed, events), Check())


def _outage(fault: Fault) -> Callable[[int, int], tuple[Step, ...]]:
    return lambda seed, events: outage(fault, seed=seed, events=events)


def _network(fault: NetworkFault) -> Callable[[int, int], tuple[Step, ...]]:
    return lambda seed, events: network_fault(fault, seed=seed, events=events)


NETWORK_FAULTS: dict[str, NetworkFault] = {
    "kafka-link-cut": NetworkFault("cut", ("kafka",)),
    "cassandra-link-reset": NetworkFault("reset", ("cassandra",)),
    "network-latency": NetworkFault("latency", ("kafka", "cassandra")),
    "kafka-link-reset": NetworkFault("reset", ("kafka",)),
    "cassandra-link-cut": NetworkFault("cut", ("cassandra",)),
}
NETWORK_PROFILES: dict[str, frozenset[Profile]] = {
    "kafka-link-cut": GATE_QUICK,
    "cassandra-link-reset": GATE_QUICK,
    "network-latency": QUICK,
}
CRASH_PROFILES = {"sink.before_write": DEEP, "sink.mid_write": GATE, "sink.after_write": GATE_QUICK}

CATALOGUE: tuple[Entry, ...] = (
    Entry("normal-flow", normal_flow, profiles=QUICK | REPLICATED, topologies=BOTH),
    Entry("graceful-restart", graceful_restart, "graceful restart (SIGTERM)", QUICK, StopDriver),
    Entry(
        "driver-sigkill", driver_sigkill, "SIGKILL driver", GATE_QUICK, KillDriverMidway, min_events=12_000
    ),
    *(
        Entry(
            f"crash-{point.removeprefix('sink.')}",
            _crash(point),
            f"crash at {point}",
            CRASH_PROFILES[point],
            WaitDriverExit,
            # Phase A, produced before the start, in one batch: the crash is then always phase B's.
            trial={"max_offsets_per_trigger": None},
        )
        for point in CRASH_POINTS
    ),
    Entry(
        "zombie-driver",
        lambda seed, events: (*zombie(seed=seed, events=events), Check()),
        "freeze driver mid-write",
        GATE,
        WaitFrozen,
        min_events=12_000,
    ),
    Entry("spark-worker-killed", _outage(Fault("kill", "spark-worker")), "kill spark-worker", DEEP, Inject),
    Entry("kafka-killed", _outage(Fault("kill", "kafka")), "kill kafka", GATE_QUICK, Inject),
    Entry("kafka-paused", _outage(Fault("pause", "kafka")), "pause kafka", DEEP, Inject),
    Entry("cassandra-killed", _outage(Fault("kill", "cassandra")), "kill cassandra", DEEP, Inject),
    Entry("cassandra-paused", _outage(Fault("pause", "cassandra")), "pause cassandra", QUICK, Inject),
    Entry(
        "cassandra-killed-mid-batch",
        cassandra_killed_mid_batch,
        "kill cassandra between a batch's checks and its writes",
        GATE_QUICK,
        Inject,
    ),
    *(
        Entry(name, _network(fault), str(fault), NETWORK_PROFILES.get(name, DEEP), Inject)
        for name, fault in NETWORK_FAULTS.items()
    ),
    Entry("bad-input", bad_input, profiles=GATE_QUICK),
    Entry("settings-changed", settings_changed, profiles=QUICK),
    Entry(
        "checkpoint-reset",
        lambda seed, events: (*checkpoint_reset(seed, events), Check(late=True)),
        profiles=GATE_QUICK,
        trial=RESET,
    ),
    Entry("foreign-write", foreign_write, profiles=QUICK),
    Entry("second-job-same-keyspace", second_job, profiles=QUICK),
    Entry("future-timestamp", future_timestamp, profiles=QUICK),
    Entry("late-events", late_events, profiles=GATE_QUICK, trial={"allowed_lateness": "1 minute"}),
    Entry(
        "late-backlog",
        lambda seed, events: (*late_backlog(seed, events), Check(late=True)),
        profiles=GATE_QUICK,
        trial=LATE_BACKLOG,
        min_events=6_000,
    ),
    Entry(
        "transactional-input",
        transactional_input,
        "SIGKILL driver, aborted transactions",
        GATE_QUICK,
        fault_step=KillDriverMidway,
        min_events=8_000,
    ),
    Entry(
        "resend-dedup",
        resend_dedup,
        "SIGKILL driver, producer re-sends",
        GATE_QUICK,
        fault_step=KillDriverMidway,
        trial={**RESENDS, "dedup": True},
        min_events=8_000,
    ),
    Entry(
        "kafka-leader-killed",
        lambda seed, events: (*replication.leader_killed(seed, events), Check()),
        "SIGKILL the leader broker of partition 0 while producing",
        REPLICATED,
        Inject,
        topologies=REPLICATED_ONLY,
    ),
    Entry(
        "kafka-broker-isolated",
        replication.broker_isolated,
        "isolate the leader broker of partition 0 while producing",
        REPLICATED,
        Inject,
        topologies=REPLICATED_ONLY,
    ),
    Entry(
        "cassandra-node-killed",
        replication.cassandra_node_killed,
        "SIGKILL one cassandra node",
        REPLICATED,
        Inject,
        topologies=REPLICATED_ONLY,
    ),
    Entry(
        "cassandra-two-killed",
        replication.cassandra_two_killed,
        "SIGKILL two of three cassandra nodes",
        REPLICATED,
        Inject,
        topologies=REPLICATED_ONLY,
    ),
    Entry(
        "cassandra-node-partitioned",
        replication.partitioned_then_healed,
        "cut one cassandra node off from its peers",
        REPLICATED,
        Inject,
        topologies=REPLICATED_ONLY,
    ),
)
BY_NAME = {entry.name: entry for entry in CATALOGUE}


def select(
    profile: Profile, names: list[str] | None = None, topology: Topology = "single"
) -> tuple[Entry, ...]:
    """The profile's entries for `topology` in catalogue order, or the named ones (any profile) in
    the order given."""
    if names:
        unknown = [name for name in names if name not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown scenarios {unknown}; the catalogue has {sorted(BY_NAME)}")
        elsewhere = [name for name in names if topology not in BY_NAME[name].topologies]
        if elsewhere:
            raise ValueError(
                f"{elsewhere} do not run on the {topology} topology: "
                + ", ".join(f"{n} needs {'/'.join(sorted(BY_NAME[n].topologies))}" for n in elsewhere)
            )
        return tuple(BY_NAME[name] for name in names)
    return tuple(entry for entry in CATALOGUE if profile in entry.profiles and topology in entry.topologies)
