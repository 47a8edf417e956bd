"""The mutation suite: plausible wrong versions of the pipeline, and the scenarios that must kill them.

The negative controls show the checker can fail on the mistakes someone thought of; a mutation
suite measures the audit against a list of realistic ones. Each mutant is one small change, named,
with one line of intent: a wrong sink from `harness/scenario/wrong_sinks.py` run by the real driver, a wrong
setting, or a wrong way of operating the job (a scenario of its own). Run on a scenario, it gives
one cell of the kill matrix (`kill_outcome`): killed (the verdict is invalid, with its evidence),
survived (valid), not exercised (the scenario's fault did not land) or unknown (nothing judged).

`python -m harness audit --mutants` runs every mutant on each of its killers in the profile and
writes the matrix into the report. The audit's quick profile runs each mutant that it or the gate
kills on its cheapest killer first, expecting the evidence it names (`CONTROLS`); the gate runs one
such control per kind of evidence (`GATE_CONTROLS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from harness.scenario.catalogue import (
    BY_NAME,
    GATE_QUICK,
    QUICK,
    REPLICATED,
    RESENDS,
    RESET,
    Entry,
    checkpoint_reset,
    resend_no_dedup,
)
from harness.scenario.profiles import Profile
from harness.scenario.replication import ACKS_ONE, leader_killed
from harness.scenario.steps import Check, Expectation, NaiveReset, Step
from harness.stack.topology import Topology

WRONG = "harness.scenario.wrong_sinks:"


@dataclass(frozen=True)
class Mutant:
    name: str
    intent: str
    # Catalogue scenarios that must kill it, the cheapest first; none when it is out of reach.
    killers: tuple[str, ...] = ()
    # What its gate run must be caught with.
    expect: Expectation = "lost"
    sink: str | None = None
    # DriverSpec fields it changes (a setting), beside or instead of the sink.
    trial: Mapping[str, Any] = field(default_factory=dict)
    # A scenario of its own, for a mistake in how the job is operated; it ends with an exact Check.
    own: Callable[[int, int], tuple[Step, ...]] | None = None
    # Why no scenario of this stack can kill it (it survives by design, and the README says why).
    out_of_reach: str = ""
    # The control of a mutant whose property and evidence it shares: this one runs only in the
    # mutation suite (`tox -e mutants`), so that the controls pay once per property.
    sibling: str = ""
    # Whether the gate runs its control: one per kind of evidence, each a hole a review found open.
    # Every control runs in the audit's quick and deep profiles.
    gate: bool = False
    # The topology its own scenario needs.
    topology: Topology = "single"

    def __post_init__(self) -> None:
        if not (self.killers or self.own or self.out_of_reach):
            raise ValueError(f"{self.name}: name its killers, bring its own scenario, or say why none can")
        unknown = [name for name in self.killers if name not in BY_NAME]
        if unknown:
            raise ValueError(f"{self.name}: no scenario {unknown} in the catalogue")

    def _spec(self) -> dict[str, Any]:
        return {**self.trial, **({"sink": self.sink} if self.sink else {})}

    def entries(self, profile: Profile = "deep", topology: Topology = "single") -> tuple[Entry, ...]:
        """The scenarios to run it on, carrying the mutant: its own, or its killers in `profile`, on
        `topology`."""
        if self.own is not None:
            if topology != self.topology:
                return ()
            entry = Entry(
                self.name, self.own, trial=self._spec(), min_events=6_000, topologies=frozenset({topology})
            )
            return (entry,)
        return tuple(
            replace(BY_NAME[name], trial={**BY_NAME[name].trial, **self._spec()})
            for name in self.killers
            if profile in BY_NAME[name].profiles and topology in BY_NAME[name].topologies
        )

    def control(self, topology: Topology = "single") -> Entry:
        """The negative control: its cheapest killer in the gate (else in the quick profile; on the
        replicated topology, in the replicated profile), expecting `expect`; it belongs to the
        profiles that run it."""
        searched: tuple[Profile, ...] = ("gate", "quick") if topology == "single" else ("replicated",)
        entry = next(entry for profile in searched for entry in self.entries(profile, topology))
        build = entry.steps

        def steps(seed: int, events: int) -> tuple[Step, ...]:
            """The killer's steps up to its first check, which expects `expect`: a scenario that
            checks while its fault is on and again after the heal is caught while it is on."""
            built = build(seed, events)
            first = next(i for i, step in enumerate(built) if isinstance(step, Check))
            check = built[first]
            assert isinstance(check, Check)
            return (*built[:first], replace(check, expect=self.expect))

        profiles = REPLICATED if topology != "single" else GATE_QUICK if self.gate else QUICK
        return replace(entry, name=self.name, steps=steps, profiles=profiles)


def _own_reset(seed: int, events: int) -> tuple[Step, ...]:
    return (*checkpoint_reset(seed, events, NaiveReset()), Check(late=True))


def _own_acks_one(seed: int, events: int) -> tuple[Step, ...]:
    """The leader killed while an `acks=1` producer sends as fast as it can: records it acknowledged
    that no follower had fetched are truncated when it comes back. A run where the followers had
    fetched every one (a race the control can lose) did not exercise it, and says so."""
    return (
        *leader_killed(seed, events, config=ACKS_ONE),
        Check(
            exercised_only_if_caught="no record acknowledged by the killed leader alone was lost: "
            "the followers had fetched every one before the kill"
        ),
    )


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "writes-not-awaited",
        "execute_async without waiting for the answers: Spark commits before Cassandra acknowledged",
        ("cassandra-killed-mid-batch",),
        sink=WRONG + "AsyncWritesSink",
        gate=True,
    ),
    Mutant(
        "write-errors-skipped",
        "a failed write is logged and skipped: the batch commits without it",
        ("cassandra-killed-mid-batch", "cassandra-paused", "cassandra-link-reset"),
        sink=WRONG + "ErrorsSkippedSink",
        sibling="writes-not-awaited",
    ),
    Mutant(
        "retry-gives-up",
        "a failed write is retried for a second, then given up on with a normal return",
        ("cassandra-killed-mid-batch", "cassandra-paused"),
        sink=WRONG + "RetryGivesUpSink",
        sibling="writes-not-awaited",
    ),
    Mutant(
        "fence-from-wall-clock",
        "writes stamped with the time they are sent (no USING TIMESTAMP): a stale batch wins",
        ("zombie-driver",),
        sink=WRONG + "UnfencedSink",
    ),
    Mutant(
        "fence-constant",
        "every write at one constant timestamp: a replay ties, any other writer wins for good",
        ("foreign-write",),
        sink=WRONG + "ConstantFenceSink",
        sibling="fence-without-generations",
    ),
    Mutant(
        "fence-without-generations",
        "USING TIMESTAMP batch id: a new checkpoint's batches lose to the old checkpoint's rows",
        ("checkpoint-reset", "foreign-write"),
        sink=WRONG + "BatchIdFenceSink",
    ),
    Mutant(
        "carried-counts-forgotten",
        "a take-over that does not add the counts it carried: open windows restart from zero",
        ("checkpoint-reset",),
        sink=WRONG + "CarryNothingSink",
    ),
    Mutant(
        "late-by-own-watermark",
        "lateness judged by the batch's own watermark, one batch ahead of the rule (the previous batch's)",
        ("late-backlog",),
        expect="wrongly_late",
        sink=WRONG + "OwnWatermarkSink",
    ),
    Mutant(
        "late-reports-dropped",
        "the late events are never written: dropped silently",
        ("late-events", "late-backlog"),
        sink=WRONG + "LateDroppedSink",
    ),
    Mutant(
        "all-late",
        "counts nothing and reports every event late with the smallest watermark that would do",
        ("normal-flow", "bad-input"),
        expect="wrongly_late",
        sink=WRONG + "AllLateSink",
        gate=True,
    ),
    Mutant(
        "dead-letters-keyed-by-batch",
        "a dead letter keyed by its batch instead of its offset: they overwrite each other",
        ("bad-input",),
        sink=WRONG + "DeadLetterPerBatchSink",
    ),
    Mutant(
        "commit-then-write",
        "the batch id is marked done before its rows are written, and done batches are skipped",
        ("crash-mid_write", "driver-sigkill"),
        sink=WRONG + "CommitThenWriteSink",
    ),
    Mutant(
        "seed-uuid1-rows",
        "the seed's design: a new uuid1() row per batch, summed when read",
        ("crash-after_write", "driver-sigkill"),
        expect="duplicated",
        sink=WRONG + "UuidRowsSink",
        sibling="read-add-write",
    ),
    Mutant(
        "read-add-write",
        "each batch's events added to the stored count: a replay adds them twice",
        ("crash-after_write", "driver-sigkill"),
        expect="duplicated",
        sink=WRONG + "IncrementingSink",
        gate=True,
    ),
    Mutant(
        "read-uncommitted",
        "Kafka's consumer default: records of aborted transactions are counted",
        ("transactional-input",),
        expect="duplicated",
        trial={"kafka_isolation_level": "read_uncommitted"},
    ),
    Mutant(
        "no-dedup",
        "re-sent copies counted again: the pipeline without --dedup, judged by distinct events",
        expect="duplicated",
        trial={**RESENDS, "dedup": False},
        own=resend_no_dedup,
    ),
    Mutant(
        "naive-reset",
        "the checkpoint deleted and the job restarted at latest, without the take-over",
        own=_own_reset,
        trial=RESET,
    ),
    Mutant(
        "write-consistency-one",
        "writes acknowledged by one replica (ONE) instead of a quorum",
        ("cassandra-node-partitioned",),
        sink=WRONG + "ConsistencyOneSink",
    ),
    Mutant(
        "producer-acks-1",
        "records acknowledged by the partition's leader alone (acks=1), not by the in-sync replicas",
        own=_own_acks_one,
        topology="replicated",
    ),
    Mutant(
        "ownership-unchecked",
        "a batch written without asking whether the generation still owns the job",
        sink=WRONG + "OwnershipIgnoredSink",
        out_of_reach="equivalent within the counts: a taken-over generation's writes are below the new "
        "one's fence and lose anyway; the check stops it sooner and keeps its logs honest",
    ),
)
BY_MUTANT = {mutant.name: mutant for mutant in MUTANTS}
# Negative controls of the audit's quick and deep profiles, run before their scenarios: every mutant
# the gate or the quick profile kills, once, but for those whose sibling guards the same property
# with the same evidence.
CONTROLS: tuple[Entry, ...] = tuple(
    mutant.control()
    for mutant in MUTANTS
    if (mutant.entries("gate") or mutant.entries("quick")) and not mutant.sibling
)
# The gate's share, one per kind of evidence (lost, duplicated, wrongly late). The zombie with its
# fence from the wall clock has a gate test of its own, which also reads the failure dump. The others
# cost a driver or two each and guard the harness's reach more than the pipeline: `tox -e audit`
# runs them (README, The gate).
GATE_CONTROLS: tuple[Entry, ...] = tuple(control for control in CONTROLS if "gate" in control.profiles)
# The mutants whose control is a sibling's, each with that sibling.
SIBLINGS: dict[str, str] = {m.name: m.sibling for m in MUTANTS if m.sibling}
# The controls of the replicated topology, run before the scenarios of its profile: the mutants that
# only replicas can tell apart (a write at ONE, a record acknowledged by the leader alone).
REPLICATED_CONTROLS: tuple[Entry, ...] = tuple(
    mutant.control("replicated")
    for mutant in MUTANTS
    if mutant.entries("replicated", "replicated") and not mutant.entries("deep")
)
