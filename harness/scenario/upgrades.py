"""Upgrades in place on live data: the stack starts on the old versions, a producer keeps sending
while a component moves to its new version on the same data (Kafka's log, Spark's checkpoint,
Cassandra's SSTables), a fault follows on the new versions, and one check judges the whole history.

`--upgrade kafka=3.9.1:4.1.1` on the audit's command line is a `Transition`; `plan()` makes its
scenarios: the upgrade, the rollbacks Kafka documents (before and after finalizing its metadata
version) and those of Spark and Cassandra, and the negative control (a broker that comes back on
empty storage). The gate profile runs the upgrade and the control only (`Plan.upgrade`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import cast, get_args

import docker

from harness.eventually import eventually
from harness.nemesis.faults import wait_answers, wait_cql
from harness.scenario.catalogue import Entry
from harness.scenario.loads import START_MS, load
from harness.scenario.steps import (
    Check,
    Context,
    EnsureDriver,
    StartDriver,
    Step,
    StopDriver,
    TakeOver,
    WaitConsumed,
    WaitDriverExit,
)
from harness.scenario.trial import Trial
from harness.stack.driver import progress
from harness.stack.images import ensure_images
from harness.stack.services import ROLES, Component, Stack, StackInfo
from harness.stack.versions import Versions
from harness.workload.generator import WorkloadSpec

log = logging.getLogger("harness.scenario")

COMPONENTS: tuple[Component, ...] = get_args(Component)
# The producer that runs through a move: a chunk of events every quarter second (100 events/s),
# each chunk two seconds of event time after the last, from minute 4 on (the first load's end).
CHUNK_EVENTS = 25
CHUNK_EVERY_S = 0.25
CHUNK_SPAN_MS = 2_000
FEATURES = "org.apache.kafka.tools.FeatureCommand"
NODETOOL = "/opt/cassandra/nodetool.sh"
# Cassandra 5.0's storage format steps (NEWS.txt, "Upgrading"): every node on 5.0 in CASSANDRA_4
# (4.x's SSTable, commit log and messaging formats: 4.1 can still take the data back), then a
# rolling restart in UPGRADING, then one in NONE; from UPGRADING on, new SSTables are 5.0's.
COMPATIBILITY = "CASSANDRA_STORAGE_COMPATIBILITY_MODE"
CASSANDRA_4, UPGRADING, NONE = "CASSANDRA_4", "UPGRADING", "NONE"
# Event-time minutes of the events sent while moving (the background producer's), after the first
# load and before the load of the fault that follows: the report follows these events on their own.
IN_FLIGHT_MINUTES = (4, 60)


@dataclass(frozen=True)
class Transition:
    """One component's move, `COMPONENT=OLD:NEW` on the command line."""

    component: Component
    old: str
    new: str

    @classmethod
    def parse(cls, spec: str) -> Transition:
        component, _, versions = spec.partition("=")
        old, _, new = versions.partition(":")
        component = component.strip()
        if component not in COMPONENTS or not old.strip() or not new.strip():
            raise ValueError(
                f"--upgrade {spec!r}: want COMPONENT=OLD:NEW with COMPONENT in {list(COMPONENTS)}"
            )
        return cls(cast(Component, component), old.strip(), new.strip())

    def back(self) -> Transition:
        return Transition(self.component, self.new, self.old)

    def __str__(self) -> str:
        return f"{self.component} {self.old} -> {self.new}"


def starting_versions(base: Versions, transitions: Sequence[Transition]) -> Versions:
    """The version set an upgrade audit starts on: `base` with each moved component at its old version."""
    if len({t.component for t in transitions}) != len(transitions):
        raise ValueError("--upgrade: one transition per component")
    return replace(base, **{t.component: t.old for t in transitions})


def _moved(versions: Versions, transition: Transition, to: str) -> Versions:
    return replace(versions, **{transition.component: to})


def _stack(ctx: Context) -> Stack:
    if ctx.stack is None:
        raise RuntimeError("an upgrade in place needs the stack's containers: run the scenario with stack=")
    return ctx.stack


def move(
    ctx: Context, transition: Transition, lose_data: bool = False, settings: Mapping[str, str] | None = None
) -> float:
    """Move one component in place and wait until it answers; the trial's later drivers run on the
    new images. Returns the seconds it took."""
    info = ctx.trial.stack
    current = getattr(info.versions, transition.component)
    if current != transition.old:
        raise RuntimeError(f"{transition}: the stack runs {transition.component} {current}")
    started = time.monotonic()
    versions = _moved(info.versions, transition, transition.new)
    ctx.trial.stack = _stack(ctx).upgrade(
        transition.component, versions, ensure_images(versions), lose_data, settings
    )
    _wait_answers(ctx.trial.stack, transition.component)
    return time.monotonic() - started


def _wait_answers(info: StackInfo, component: Component) -> None:
    if component == "kafka":
        wait_answers(info.bootstrap_servers, "kafka to answer after its upgrade", 120)
    elif component == "cassandra":
        wait_cql(info.cassandra_nodes, info.cassandra_port, "cassandra to answer after its upgrade", 120)


@dataclass(frozen=True)
class Upgrade(Step):
    """One component moved to another version in place (the same data, ports and settings)."""

    transition: Transition
    # Negative control: the new containers start on empty storage.
    lose_data: bool = False
    # Environment variables of the new containers: Cassandra 5.0's storage compatibility mode.
    settings: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        lost = ", its data directory lost (started on empty storage)" if self.lose_data else ""
        settings = "".join(f", {key}={value}" for key, value in self.settings)
        return f"upgrade {self.transition} in place{settings}{lost}"

    def run(self, ctx: Context) -> None:
        seconds = move(ctx, self.transition, self.lose_data, dict(self.settings))
        formats = _sstables(ctx) if self.transition.component == "cassandra" else ""
        errors = _errors(ctx, self.transition.component)
        ctx.outcomes.append(f"{self}: done in {seconds:.1f} s{formats}{errors}")


def _errors(ctx: Context, component: Component) -> str:
    """The errors the component's new containers logged as they started: a version that starts may
    still refuse part of the data (Cassandra 4.1 on 5.0's system tables skips what it cannot read)."""
    found: list[str] = []
    for role in ROLES[component]:
        lines = _stack(ctx).logs(role).splitlines()
        for i, line in enumerate(lines):
            if " ERROR " in f" {line} ":
                # The deepest cause a few lines down says more than "Exception in thread ...".
                below = (c.strip() for c in lines[i + 1 : i + 30])
                causes = [c for c in below if c.startswith(("Caused by", "java."))]
                found.append(f"{role}: {_last_line(causes[-1] if causes else line)}")
    if not found:
        return ""
    return f"; {len(found)} ERROR line(s) logged as it started, the first: {found[0]}"


def _sstables(ctx: Context) -> str:
    """The formats of the job's SSTables on disk (4.x writes `nb`, 5.0 past CASSANDRA_4 `oa`)."""
    formats = _stack(ctx).sstable_formats(ctx.trial.spec.keyspace)
    listed = ", ".join(f"{count} {name}" for name, count in sorted(formats.items())) or "none"
    return f"; the keyspace's SSTables: {listed}"


@dataclass(frozen=True)
class CassandraCompatibility(Step):
    """One of Cassandra 5.0's storage steps: a restart in place (drained) in another mode."""

    mode: str

    def __str__(self) -> str:
        return f"restart cassandra in place with storage_compatibility_mode: {self.mode}"

    def run(self, ctx: Context) -> None:
        started = time.monotonic()
        ctx.trial.stack = _stack(ctx).restart("cassandra", {COMPATIBILITY: self.mode})
        _wait_answers(ctx.trial.stack, "cassandra")
        seconds = time.monotonic() - started
        ctx.outcomes.append(
            f"storage_compatibility_mode {self.mode}: restarted in {seconds:.1f} s{_sstables(ctx)}"
            + _errors(ctx, "cassandra")
        )


@dataclass(frozen=True)
class UpgradeSSTables(Step):
    """The procedure's last step: every SSTable rewritten in the running version's format, so that
    the next major version finds none it cannot read."""

    def __str__(self) -> str:
        return "nodetool upgradesstables"

    def run(self, ctx: Context) -> None:
        started = time.monotonic()
        _stack(ctx).exec("cassandra", (NODETOOL, "upgradesstables"))
        ctx.outcomes.append(f"{self}: done in {time.monotonic() - started:.1f} s{_sstables(ctx)}")


@dataclass(frozen=True)
class CompareClassification(Step):
    """Spark 4.0 turns ANSI SQL mode on by default: the pipeline's parse run over the same corpus of
    records under the old and the new Spark image, side by side (`classification.py`). Reported,
    record by record where they differ; the counts are judged by the check as always."""

    transition: Transition

    def __str__(self) -> str:
        t = self.transition
        return f"classify the probe corpus under spark {t.old} and {t.new} (each image's defaults)"

    def run(self, ctx: Context) -> None:
        # Here, not at the top: the probe module needs pyspark, and `python -m harness pyspark`,
        # which installs it, parses the audit's options from this module's importers.
        from harness.scenario.classification import classify, differences, summary

        t, info = self.transition, ctx.trial.stack
        images = [ensure_images(_moved(info.versions, t, version)).spark for version in (t.old, t.new)]
        # Two one-off containers side by side: each is a JVM start and one small job.
        with ThreadPoolExecutor(max_workers=2) as pool:
            before, after = pool.map(classify, images)
        ctx.outcomes.append(summary(before, after))
        ctx.outcomes += [f"classified differently: {line}" for line in differences(before, after)]


def release(version: str) -> str:
    """Kafka's release version of a broker version, as kafka-features takes it: 4.1.1 -> 4.1."""
    return ".".join(version.split(".")[:2])


def kafka_features(info: StackInfo, *args: str) -> tuple[int, str]:
    """kafka-features inside the broker's container (its image ships kafka-tools); exit code, output."""
    container = docker.from_env().containers.get(info.containers["kafka"])
    command = ["java", "-Xmx256m", "-cp", "/opt/kafka/libs/*", FEATURES]
    result = container.exec_run([*command, "--bootstrap-server", info.bootstrap_servers, *args])
    return result.exit_code, result.output.decode(errors="replace").strip()


def _metadata_version(info: StackInfo) -> str:
    code, output = kafka_features(info, "describe")
    line = next((line for line in output.splitlines() if "metadata.version" in line), output)
    return " ".join(line.split()) if code == 0 else f"describe failed ({code}): {output[-300:]}"


@dataclass(frozen=True)
class FinalizeKafka(Step):
    """Kafka's second moment: once the brokers run the new version, the metadata version moves up
    (`kafka-features upgrade --release-version`). From here a metadata downgrade is refused."""

    version: str

    def __str__(self) -> str:
        return f"finalize kafka: kafka-features upgrade --release-version {release(self.version)}"

    def run(self, ctx: Context) -> None:
        code, output = kafka_features(ctx.trial.stack, "upgrade", "--release-version", release(self.version))
        assert code == 0, f"kafka-features upgrade exited {code}: {output[-1000:]}"
        ctx.outcomes.append(f"{self}: {_metadata_version(ctx.trial.stack)}")


@dataclass(frozen=True)
class DowngradeKafkaMetadata(Step):
    """After finalizing, Kafka documents the metadata downgrade as refused: tried, and the answer
    reported (never a crash of the audit)."""

    version: str  # the broker version whose release the metadata would go back to

    def __str__(self) -> str:
        return f"try kafka-features downgrade --release-version {release(self.version)} (reported)"

    def run(self, ctx: Context) -> None:
        code, output = kafka_features(
            ctx.trial.stack, "downgrade", "--release-version", release(self.version)
        )
        verb = "accepted" if code == 0 else f"refused (exit {code})"
        ctx.outcomes.append(f"metadata downgrade to {release(self.version)}: {verb}: {_last_line(output)}")


@dataclass(frozen=True)
class TryRollback(Step):
    """A move back that the old version may refuse (Kafka's after finalizing, Cassandra's on data
    the new one wrote): tried and reported. A component that does not start is started again on
    its current version, on the same data, and the scenario goes on."""

    transition: Transition  # the rollback: new -> old

    def __str__(self) -> str:
        back = self.transition
        return f"try to roll back {back} in place (a refusal is reported, {back.old} started again)"

    def run(self, ctx: Context) -> None:
        back = self.transition
        try:
            seconds = move(ctx, back)
        except Exception as error:
            ctx.outcomes.append(f"roll back {back} in place: refused: {_last_line(str(error))}")
            seconds = move(ctx, Transition(back.component, back.old, back.old))
            ctx.outcomes.append(f"{back.old} started again on the same data in {seconds:.1f} s")
            return
        ctx.outcomes.append(
            f"roll back {back} in place: started in {seconds:.1f} s{_errors(ctx, back.component)}"
        )


# A list of files in an error (Cassandra names every SSTable it cannot read): the count and one name.
_PATHS = re.compile(r"(/[^\s,]+)(?:,/[^\s,]+)+")


def _last_line(text: str) -> str:
    """The line that says why: a tool's error, a container's last log line."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("\tat ")]
    # An error logged as such first: a warning may mention an error it only guards against.
    for marker in ("ERROR", "Exception", "rror"):
        wanted = [line for line in lines if marker in line]
        if wanted:
            break
    line = (wanted or lines or ["(no output)"])[-1]
    line = _PATHS.sub(
        lambda m: f"{m.group(0).count(',') + 1} files such as {m.group(1).rsplit('/', 1)[-1]}", line
    )
    return line[:400]


@dataclass(frozen=True)
class StartOnRolledBack(Step):
    """A driver of the old Spark on the checkpoint the new one wrote: it runs (a batch committed), or
    it refuses (it exits first), which is reported with its last error; then the documented reset,
    a take-over on a new checkpoint, carries the job on."""

    def __str__(self) -> str:
        return "start a driver on the checkpoint the newer Spark wrote (refused: report it, then take over)"

    def run(self, ctx: Context) -> None:
        trial = ctx.trial
        reports = len(progress(trial.spec))
        driver = trial.start_driver(ready=False)
        code, _ = eventually(
            lambda: (driver.exit_code(), len(progress(trial.spec))),
            lambda seen: seen[0] is not None or seen[1] > reports,
            expected=f"{driver.name} to commit a batch or to exit",
            timeout_s=300,
            diagnose=trial.diagnosis,
        )
        if code is None:
            ctx.outcomes.append("the older Spark runs on the newer checkpoint: a batch committed")
            return
        ctx.outcomes.append(
            f"the older Spark refused the newer checkpoint (exit {code}): {_last_line(driver.logs())}"
        )
        TakeOver().run(ctx)
        ctx.outcomes.append("taken over on a new checkpoint (--take-over-from the refused one)")


class Producer:
    """Sends chunks of events on a thread until stopped, every send in the trial's history: a client
    that does not stop for an upgrade. Sends the move leaves unknown end `info`, as they should."""

    def __init__(self, trial: Trial, seed: int, minute: int) -> None:
        self._trial = trial
        self._seed = seed
        self._start_ms = START_MS + minute * 60_000
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._send, name=f"producer-{trial.name}", daemon=True)
        self._error: BaseException | None = None
        self.attempted = self.acknowledged = self.failed = self.unknown = 0

    def start(self) -> Producer:
        self._thread.start()
        return self

    def _send(self) -> None:
        chunk = 0
        try:
            while not self._stopping.is_set():
                summary = self._trial.produce(
                    WorkloadSpec(
                        # Seeds and event times of their own (none out of order into the first
                        # load's last window): the report judges these events apart.
                        seed=self._seed * 1_000 + 500 + chunk,
                        events=CHUNK_EVENTS,
                        sites=50,
                        start_ms=self._start_ms + chunk * CHUNK_SPAN_MS,
                        spread_ms=CHUNK_SPAN_MS,
                        disorder_ms=0,
                        malformed_fraction=0.01,
                    )
                )
                self.attempted += summary.attempted
                self.acknowledged += summary.acknowledged
                self.failed += summary.failed
                self.unknown += summary.indeterminate
                chunk += 1
                # The load's rate, not a synchronisation: stop() ends the pause at once.
                self._stopping.wait(CHUNK_EVERY_S)
        except BaseException as error:
            self._error = error

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=300)

    def __str__(self) -> str:
        return (
            f"{self.attempted} sent while moving: {self.acknowledged} acknowledged, "
            f"{self.failed} failed, {self.unknown} unknown"
        )

    def raise_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"the background producer failed: {self._error!r}") from self._error


@dataclass(frozen=True)
class ProduceThrough(Step):
    """Start a producer that keeps sending until `JoinProducer`: the moves in between happen under load."""

    minute: int = IN_FLIGHT_MINUTES[0]

    def __str__(self) -> str:
        rate = CHUNK_EVENTS / CHUNK_EVERY_S
        return f"keep producing in the background ({rate:.0f} events/s, event time from minute {self.minute})"

    def run(self, ctx: Context) -> None:
        ctx.background.append(Producer(ctx.trial, ctx.seed, self.minute).start())


@dataclass(frozen=True)
class JoinProducer(Step):
    def __str__(self) -> str:
        return "stop the background producer (every send it made is in the history: ok, fail or info)"

    def run(self, ctx: Context) -> None:
        for producer in ctx.background:
            producer.stop()
            if isinstance(producer, Producer):
                producer.raise_error()
                ctx.outcomes.append(str(producer))
        ctx.background.clear()


def _major(version: str) -> int:
    return int(version.split(".")[0])


def to_cassandra_5(transition: Transition) -> bool:
    """A move from 4.x to 5.x or later: the one with the storage compatibility steps."""
    return transition.component == "cassandra" and _major(transition.old) < 5 <= _major(transition.new)


def _moves(transitions: Sequence[Transition], complete: bool, probe: bool = False) -> tuple[Step, ...]:
    """Each component in turn: Spark's driver is stopped first and its successor runs on the new
    image and the same checkpoint; a Kafka or Cassandra move may end the driver, which a supervisor
    restarts. With `complete`, each procedure goes past its point of no return: Kafka's metadata
    version finalized, Cassandra 5.0 through UPGRADING and NONE and its SSTables rewritten. With
    `probe`, Spark's move classifies the probe corpus under both versions."""
    steps: list[Step] = []
    for transition in transitions:
        if transition.component == "spark":
            steps += [StopDriver(), Upgrade(transition), StartDriver()]
            if probe:
                steps.append(CompareClassification(transition))
            continue
        if to_cassandra_5(transition):
            steps += [Upgrade(transition, settings=((COMPATIBILITY, CASSANDRA_4),)), EnsureDriver()]
            if complete:
                for mode in (UPGRADING, NONE):
                    steps += [CassandraCompatibility(mode), EnsureDriver()]
                steps.append(UpgradeSSTables())
            continue
        steps += [Upgrade(transition), EnsureDriver()]
        if transition.component == "kafka" and complete:
            steps.append(FinalizeKafka(transition.new))
    return tuple(steps)


def _after(seed: int, events: int) -> tuple[Step, ...]:
    """On the new versions: a catalogue fault (a crash after a batch's writes, then a restart on the
    same checkpoint) on windows an hour on, past all the input before, and the whole history checked."""
    return (
        StopDriver(),
        load(seed + 5, events // 2, minute=IN_FLIGHT_MINUTES[1]),
        StartDriver(failpoints=("sink.after_write=crash@0+",)),
        WaitDriverExit(),
        StartDriver(),
        WaitConsumed(),
        Check(),
    )


def _under_load(moves: Sequence[Step], seed: int, events: int, fault: bool = True) -> tuple[Step, ...]:
    """Live data on the versions the stack runs; `moves` while a producer keeps sending; with
    `fault`, a fault on the versions they leave; the whole history checked."""
    return (
        load(seed, events),
        StartDriver(),
        WaitConsumed(),
        ProduceThrough(),
        *moves,
        JoinProducer(),
        WaitConsumed(),
        *(_after(seed, events) if fault else (Check(),)),
    )


def upgrade(
    transitions: Sequence[Transition], seed: int, events: int, probe: bool = True, fault: bool = True
) -> tuple[Step, ...]:
    """Each component to its new version in turn, each procedure completed: exact."""
    return _under_load(_moves(transitions, complete=True, probe=probe), seed, events, fault)


def rollback(transition: Transition, seed: int, events: int) -> tuple[Step, ...]:
    """The documented way back before the point of no return: Kafka's old broker on the new one's
    log before finalizing; Cassandra 4.x on the data 5.0 wrote in CASSANDRA_4."""
    back = Upgrade(transition.back())
    return _under_load((*_moves((transition,), complete=False), back, EnsureDriver()), seed, events)


def rollback_after_finalize(kafka: Transition, seed: int, events: int) -> tuple[Step, ...]:
    """On a stack already upgraded and finalized (the upgrade scenario ran before): the documented
    refusals reported, and the counts exact across whatever happened."""
    return _under_load(
        (DowngradeKafkaMetadata(kafka.old), TryRollback(kafka.back()), EnsureDriver()), seed, events
    )


def cassandra_rollback(cassandra: Transition, seed: int, events: int) -> tuple[Step, ...]:
    """On a stack already on the new Cassandra with its procedure completed (5.0: NONE, SSTables
    rewritten in 5.0's format): the old version on that data, its refusal reported."""
    return _under_load((TryRollback(cassandra.back()), EnsureDriver()), seed, events)


def spark_rollback(spark: Transition, seed: int, events: int) -> tuple[Step, ...]:
    """On a stack already on the new Spark: its checkpoint read by the old one, or refused and reset."""
    return _under_load((StopDriver(), Upgrade(spark.back()), StartOnRolledBack()), seed, events)


def lost_log(kafka: Transition, seed: int, events: int) -> tuple[Step, ...]:
    """Negative control: events acknowledged and not yet read when the broker comes back on empty
    storage. The broker is put back on the old version, empty, for the scenarios after it, before
    the check (which reads only the history and Cassandra) must fail with those events lost."""
    return (
        StartDriver(),
        load(seed, events),
        WaitConsumed(),
        StopDriver(),
        load(seed + 1, events // 2, minute=4),
        Upgrade(kafka, lose_data=True),
        Upgrade(kafka.back(), lose_data=True),
        Check(),
    )


LOST_LOG = "upgrade-loses-kafka-log"


@dataclass(frozen=True)
class Plan:
    """An upgrade audit on one stack, in the order it runs: the control first, as the stack starts
    on the old versions (it leaves them so); the rollbacks before each point of no return, which
    end on the old versions too; the upgrade, which passes them; the rollbacks tried after it."""

    start: Versions
    transitions: tuple[Transition, ...]
    controls: tuple[Entry, ...]
    scenarios: tuple[Entry, ...]

    @property
    def upgrade(self) -> Entry:
        """The scenario that moves every component to its new version, without a rollback."""
        return next(entry for entry in self.scenarios if entry.name.startswith("upgrade-"))

    @property
    def gate(self) -> Entry:
        """The upgrade as the gate runs it, each check once in the gate: without the classification
        probe, whose corpus the unit tiers run on both Sparks (`tox -e unit`, `tox -e unit-spark35`),
        and without the fault after the move, which the chaos tier runs on the same new versions
        (the defaults: crash-after_write)."""
        return replace(self.upgrade, steps=partial(upgrade, self.transitions, probe=False, fault=False))

    @property
    def moves_to(self) -> tuple[Versions, ...]:
        """The version set after each move of the upgrade: their images are built before the stack starts."""
        sets = [self.start]
        for transition in self.transitions:
            sets.append(_moved(sets[-1], transition, transition.new))
        return tuple(sets[1:])


# Where a rollback is still documented as possible, in each scenario's name.
BEFORE_NO_RETURN = {"kafka": "before-finalize", "cassandra": "in-cassandra-4"}


def _before(transitions: Sequence[Transition]) -> list[Entry]:
    """The rollbacks a procedure allows before its point of no return, each ending on the old
    versions: Kafka's before finalizing, Cassandra 5.0's in CASSANDRA_4."""
    return [
        Entry(
            f"rollback-{t.component}-{t.new}-{t.old}-{BEFORE_NO_RETURN[t.component]}",
            partial(rollback, t),
            f"{t} and back",
            fault_step=Upgrade,
        )
        for t in transitions
        if t.component == "kafka" or to_cassandra_5(t)
    ]


def _after_upgrade(t: Transition) -> Entry:
    """The rollback tried on the stack the upgrade left on the new versions, its procedure completed."""
    if t.component == "kafka":
        return Entry(
            f"rollback-kafka-{t.new}-{t.old}-after-finalize",
            partial(rollback_after_finalize, t),
            f"roll back {t.back()} after finalizing",
            fault_step=DowngradeKafkaMetadata,
        )
    if t.component == "cassandra":
        name = f"rollback-cassandra-{t.new}-{t.old}" + ("-after-none" if to_cassandra_5(t) else "")
        return Entry(name, partial(cassandra_rollback, t), f"roll back {t.back()}", fault_step=TryRollback)
    return Entry(
        f"rollback-spark-{t.new}-{t.old}",
        partial(spark_rollback, t),
        f"roll back {t.back()}",
        fault_step=Upgrade,
    )


def plan(base: Versions, transitions: Sequence[Transition]) -> Plan:
    transitions = tuple(transitions)
    start = starting_versions(base, transitions)
    name = "upgrade-" + "-".join(f"{t.component}-{t.old}-{t.new}" for t in transitions)
    move = "upgrade " + ", then ".join(str(t) for t in transitions) + " in place"
    main = Entry(name, partial(upgrade, transitions), move, fault_step=Upgrade)
    kafka = next((t for t in transitions if t.component == "kafka"), None)
    controls = (
        (Entry(LOST_LOG, partial(lost_log, kafka), f"upgrade {kafka} on empty storage", fault_step=Upgrade),)
        if kafka
        else ()
    )
    scenarios = (*_before(transitions), main, *(_after_upgrade(t) for t in transitions))
    return Plan(start, transitions, controls=controls, scenarios=scenarios)


# The steps that move a component: the audit marks the first one's start and the last one's end
# on the timeline, as it marks a fault and its heal.
MOVE_STEPS = (Upgrade, DowngradeKafkaMetadata, TryRollback, CassandraCompatibility, UpgradeSSTables)
