"""Scenarios: printable steps run in order on a Trial; a failure prints every step, the failing one marked.

Steps wait on conditions (offsets consumed, a driver exited, a service answering), never on time.
Every injected fault is healed before the scenario ends, whatever happened.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from harness.checker.sink_reader import cassandra_session
from harness.checker.verdict import Verdict, iso_utc
from harness.eventually import eventually
from harness.nemesis import AnyFault
from harness.scenario.trial import Trial
from harness.stack.driver import Driver, consumed_offsets, progress
from harness.stack.kafka_admin import end_offsets
from harness.stack.services import Stack
from harness.workload.generator import WorkloadSpec
from harness.workload.producer import Transactions

log = logging.getLogger("harness.scenario")


class Step:
    def run(self, ctx: Context) -> None:
        raise NotImplementedError


class Background(Protocol):
    def stop(self) -> None: ...


@dataclass
class Context:
    trial: Trial
    seed: int
    rng: random.Random
    faults: list[AnyFault] = field(default_factory=list)
    verdict: Verdict | None = None
    zombie: Driver | None = None
    zombie_pid: int | None = None
    timings: list[tuple[str, float]] = field(default_factory=list)  # (step class, seconds) as run
    # The stack's containers, for steps that replace them (upgrades in place); None where a scenario
    # runs on connection info alone.
    stack: Stack | None = None
    # Work a step left running in the background (a producer), stopped if the scenario fails.
    background: list[Background] = field(default_factory=list)
    # What the scenario's moves did, in order, for the report: an upgrade's time, a refusal's error.
    outcomes: list[str] = field(default_factory=list)

    def time_per_kind(self) -> str:
        """Seconds per kind of step, largest first: where a scenario's time goes."""
        totals: dict[str, float] = {}
        for kind, seconds in self.timings:
            totals[kind] = totals.get(kind, 0.0) + seconds
        return " · ".join(
            f"{kind} {seconds:.1f}" for kind, seconds in sorted(totals.items(), key=lambda kv: -kv[1])
        )


@dataclass(frozen=True)
class Produce(Step):
    workload: WorkloadSpec
    transactions: Transactions | None = None

    def __str__(self) -> str:
        w = self.workload
        resent = (
            f", {w.resend_fraction:.0%} re-sent within {w.resend_delay_records} records"
            if w.resend_fraction
            else ""
        )
        transactional = f", {self.transactions}" if self.transactions else ""
        return (
            f"produce {w.events} events, {w.sites} sites, seed {w.seed}, malformed {w.malformed_fraction}"
            + resent
            + transactional
        )

    def run(self, ctx: Context) -> None:
        summary = ctx.trial.produce(self.workload, self.transactions)
        # Only an aborted transaction may fail a send; nothing may end unknown on a healthy broker.
        assert summary.indeterminate == 0, summary
        assert self.transactions or summary.failed == 0, summary


@dataclass(frozen=True)
class StartDriver(Step):
    failpoints: tuple[str, ...] = ()
    sink: str | None = None

    def __str__(self) -> str:
        extra = f" failpoints={list(self.failpoints)}" if self.failpoints else ""
        return f"start a driver from the checkpoint{extra}" + (f" sink={self.sink}" if self.sink else "")

    def run(self, ctx: Context) -> None:
        ctx.trial.start_driver(failpoints=self.failpoints, sink=self.sink or ctx.trial.spec.sink)


@dataclass(frozen=True)
class StartRefused(Step):
    """A driver that must be refused: exit 2, saying `message`. With changed settings on the same
    checkpoint; or, `new_checkpoint`, on a checkpoint of its own while the job has an owner."""

    changes: tuple[tuple[str, Any], ...]
    message: str
    new_checkpoint: bool = False

    def __str__(self) -> str:
        if self.new_checkpoint:
            return "start a driver on a new checkpoint, no take-over: refused as a second generation"
        return f"start a driver with {dict(self.changes)}: refused, naming the change"

    def run(self, ctx: Context) -> None:
        changes = dict(self.changes)
        if self.new_checkpoint:
            changes["checkpoint"] = ctx.trial.new_checkpoint()
        driver = ctx.trial.start_driver(ready=False, **changes)
        code = ctx.trial.wait_exit(driver)
        logs = driver.logs()
        assert code == 2, f"a driver on changed settings exited {code}, not 2; its log ends:\n{logs[-2000:]}"
        assert self.message in logs, f"the refusal does not say {self.message!r}:\n{logs[-2000:]}"


@dataclass(frozen=True)
class StopDriver(Step):
    def __str__(self) -> str:
        return "stop the driver (SIGTERM: finish the batch in flight)"

    def run(self, ctx: Context) -> None:
        code = ctx.trial.drivers[-1].stop()
        assert code == 0, f"graceful stop exited {code}"


@dataclass(frozen=True)
class TakeOver(Step):
    """The documented reset: a driver on a new checkpoint that takes the job over from the stopped
    one (--take-over-from), continuing its offsets and carrying its open windows."""

    def __str__(self) -> str:
        return "reset: a new checkpoint takes the job over (--take-over-from the stopped one)"

    def run(self, ctx: Context) -> None:
        old = ctx.trial.spec.checkpoint
        ctx.trial.move_to(ctx.trial.new_checkpoint(), take_over_from=old)
        ctx.trial.start_driver()


@dataclass(frozen=True)
class NaiveReset(Step):
    """Negative control: a reset done the naive way. The checkpoint is replaced by an empty one
    reading from `latest`, and the job's registry entry deleted (as a pipeline without one would
    have none to refuse it by)."""

    def __str__(self) -> str:
        return "naive reset: forget the job's generations, start a new checkpoint at latest"

    def run(self, ctx: Context) -> None:
        trial = ctx.trial
        with cassandra_session(trial.stack.cassandra_nodes, trial.stack.cassandra_port) as session:
            session.execute(f"DELETE FROM {trial.spec.keyspace}.generations WHERE job = %s", (trial.job,))
        trial.move_to(trial.new_checkpoint(), starting_offsets="latest")
        trial.start_driver()


@dataclass(frozen=True)
class ForeignWrites(Step):
    """Another writer, as cqlsh would: an UPDATE of one count and a DELETE of another row, both at
    the client's current time, which is above every write of the generation running."""

    def __str__(self) -> str:
        return "another client updates one count to 999999 and deletes another row (cqlsh-style)"

    def run(self, ctx: Context) -> None:
        trial = ctx.trial
        table = f"{trial.spec.keyspace}.pageviews"
        key = "WHERE job = %s AND site_id = %s AND window_start = %s"
        with cassandra_session(trial.stack.cassandra_nodes, trial.stack.cassandra_port) as session:
            rows = sorted(
                (row.site_id, row.window_start)
                for row in session.execute(f"SELECT job, site_id, window_start FROM {table}")
                if row.job == trial.job
            )
            assert len(rows) >= 2, f"two rows to write over, found {rows}"
            updated, deleted = ctx.rng.sample(rows, 2)
            session.execute(f"UPDATE {table} SET views = 999999 {key}", (trial.job, *updated))
            session.execute(f"DELETE FROM {table} {key}", (trial.job, *deleted))
        log.info("another client updated %s and deleted %s", updated, deleted)


@dataclass(frozen=True)
class SecondJob(Step):
    """Another job in the same keyspace, on its own topic, checkpoint and history, run to the end
    while the trial's job runs: both must stay exact (the job is part of every row's key)."""

    events: int

    def __str__(self) -> str:
        return f"run a second job ({self.events} events, own topic) in the same keyspace: exact"

    def run(self, ctx: Context) -> None:
        main = ctx.trial
        other = Trial(
            main.stack,
            "second-job",
            keyspace=main.spec.keyspace,
            window=main.spec.window,
            allowed_lateness=main.spec.allowed_lateness,
        )
        try:
            other.produce(WorkloadSpec(seed=ctx.seed + 7, events=self.events, sites=20))
            other.start_driver()
            other.wait_consumed()
            verdict = other.verdict()
            assert verdict.valid is True, f"the second job:\n{verdict.explain()}\n\n{other.diagnosis()}"
        finally:
            other.close()


@dataclass(frozen=True)
class KillDriverMidway(Step):
    """SIGKILL once a seeded random fraction of the produced offsets is committed."""

    low: float = 0.2
    high: float = 0.8

    def __str__(self) -> str:
        return f"SIGKILL the driver after {self.low:.0%}..{self.high:.0%} (seeded) of the input is committed"

    def run(self, ctx: Context) -> None:
        fraction = ctx.rng.uniform(self.low, self.high)
        total = sum(end_offsets(ctx.trial.stack.bootstrap_servers, ctx.trial.spec.topic).values())
        eventually(
            lambda: sum(consumed_offsets(ctx.trial.spec).values()),
            lambda done: done >= fraction * total,
            expected=f"{fraction:.0%} of {total} offsets committed before the kill",
            timeout_s=300,
            diagnose=ctx.trial.diagnosis,
        )
        ctx.trial.drivers[-1].kill()
        committed = sum(consumed_offsets(ctx.trial.spec).values())
        log.info("killed %s at %.0f%%", ctx.trial.drivers[-1].name, 100 * committed / total)
        # A kill after the last commit tests nothing: say so rather than pass.
        assert committed < total, (
            f"the fault did not land: all {total} offsets were committed before the kill "
            f"(aimed at {fraction:.0%}); give the scenario more input or smaller batches"
        )


@dataclass(frozen=True)
class WaitDriverExit(Step):
    def __str__(self) -> str:
        return "wait until the driver has exited (a failpoint crash)"

    def run(self, ctx: Context) -> None:
        driver = ctx.trial.drivers[-1]
        code = ctx.trial.wait_exit(driver)
        # An exit for any other reason (a failed query, a refusal) tests nothing: say so, not pass.
        assert driver.failpoint_crash() is not None, (
            f"the fault did not land: {driver.name} exited with {code} without reaching its crash "
            "failpoint (its log is in the run's logs)"
        )


@dataclass(frozen=True)
class WaitFrozen(Step):
    """Until a `stop` failpoint has frozen the last driver: it holds an uncommitted batch, half written."""

    def __str__(self) -> str:
        return "wait until the driver is frozen (SIGSTOP) in the middle of a write"

    def run(self, ctx: Context) -> None:
        zombie = ctx.trial.drivers[-1]
        ctx.zombie_pid = eventually(
            zombie.frozen_pid,
            lambda pid: pid is not None,
            expected=f"{zombie.name} to log its stop failpoint",
            timeout_s=300,
            diagnose=ctx.trial.diagnosis,
        )
        ctx.zombie = zombie


@dataclass(frozen=True)
class ResumeZombie(Step):
    """SIGCONT the frozen driver once its replacement has moved on; it finishes its stale write, then
    its commit collides with the replacement's. Its writes must not take any count backwards."""

    def __str__(self) -> str:
        return "resume the frozen driver, wait until it exits; no count may go backwards"

    def run(self, ctx: Context) -> None:
        if ctx.zombie is None or ctx.zombie_pid is None:
            raise RuntimeError("no frozen driver: run WaitFrozen first")
        before = ctx.trial.snapshot().counts
        ctx.zombie.resume(ctx.zombie_pid)
        code = ctx.trial.wait_exit(ctx.zombie)
        after = ctx.trial.snapshot().counts
        backwards = {key: (n, after.get(key, 0)) for key, n in before.items() if after.get(key, 0) < n}
        log.info("the zombie exited with %s", code)
        shown = [f"{site}@{iso_utc(start)} {old} -> {new}" for (site, start), (old, new) in backwards.items()]
        assert not backwards, f"{len(backwards)} counts went backwards: " + ", ".join(sorted(shown))


@dataclass(frozen=True)
class ResumeDriver(Step):
    """SIGCONT the driver a `stop` failpoint froze: it carries on with the batch it held."""

    def __str__(self) -> str:
        return "resume the frozen driver"

    def run(self, ctx: Context) -> None:
        if ctx.zombie is None or ctx.zombie_pid is None:
            raise RuntimeError("no frozen driver: run WaitFrozen first")
        ctx.zombie.resume(ctx.zombie_pid)


@dataclass(frozen=True)
class WaitWritesAttempted(Step):
    """Until the resumed batch has tried its writes against the dead service: the sink logs a failed
    write, or Spark commits the batch (which a sink that waits for its writes cannot let happen
    while Cassandra is down). Either way the fault landed on writes in flight; say which."""

    batch_id: int

    def __str__(self) -> str:
        return f"wait until batch {self.batch_id} has tried its writes (a failure logged, or a commit)"

    def run(self, ctx: Context) -> None:
        driver = ctx.trial.drivers[-1]

        def seen() -> tuple[bool, bool]:
            failed = "write failed" in driver.logs()
            committed = any(p.get("batchId", -1) >= self.batch_id for p in progress(ctx.trial.spec))
            return failed, committed

        failed, _ = eventually(
            seen,
            lambda state: any(state),
            expected=f"batch {self.batch_id} to log a failed write or to be committed",
            timeout_s=180,
            diagnose=ctx.trial.diagnosis,
        )
        what = "a write failed and is being retried" if failed else "committed with Cassandra down"
        log.info("batch %d: %s", self.batch_id, what)


@dataclass(frozen=True)
class WaitProgress(Step):
    """Until some input is committed: a fault injected next hits a running stream, not an idle one."""

    def __str__(self) -> str:
        return "wait until the stream has committed some input"

    def run(self, ctx: Context) -> None:
        eventually(
            lambda: sum(consumed_offsets(ctx.trial.spec).values()),
            lambda done: done > 0,
            expected="a first committed batch",
            timeout_s=300,
            diagnose=ctx.trial.diagnosis,
        )


@dataclass(frozen=True)
class Inject(Step):
    fault: AnyFault

    def __str__(self) -> str:
        return f"inject: {self.fault}"

    def run(self, ctx: Context) -> None:
        self.fault.inject(ctx.trial.stack, ctx.trial.spec.topic)
        ctx.faults.append(self.fault)


@dataclass(frozen=True)
class Heal(Step):
    fault: AnyFault

    def __str__(self) -> str:
        return f"heal: {self.fault}"

    def run(self, ctx: Context) -> None:
        self.fault.heal(ctx.trial.stack)
        ctx.faults.remove(self.fault)


@dataclass(frozen=True)
class Hold(Step):
    """Keep the fault on for a while: the fault's duration is part of the schedule, like a Jepsen
    nemesis interval. Not a synchronisation: every wait for an outcome is on a condition."""

    seconds: float

    def __str__(self) -> str:
        return f"hold the fault for {self.seconds:.0f} s"

    def run(self, ctx: Context) -> None:
        time.sleep(self.seconds)


@dataclass(frozen=True)
class EnsureDriver(Step):
    """What a supervisor does: if the driver died during the fault, start another on the checkpoint."""

    def __str__(self) -> str:
        return "restart the driver if it died"

    def run(self, ctx: Context) -> None:
        if ctx.trial.drivers[-1].exit_code() is not None:
            ctx.trial.start_driver(failpoints=(), sink=ctx.trial.drivers[-1].spec.sink)


@dataclass(frozen=True)
class WaitConsumed(Step):
    def __str__(self) -> str:
        return "wait until Spark has committed every produced offset"

    def run(self, ctx: Context) -> None:
        ctx.trial.wait_consumed()


Expectation = Literal["exact", "duplicated", "lost", "wrongly_late"]


@dataclass(frozen=True)
class Check(Step):
    """`exact`: the verdict must be valid. `duplicated` / `lost` / `wrongly_late`: it must be invalid
    for that reason, with the rows or positions named.

    `distinct`: judge distinct events (True) or every copy (False); None: distinct when the trial's
    pipeline deduplicates. `late`: the scenario sends late input, and an exact verdict must report
    some of it late (or the scenario tested nothing of lateness); without it, an exact verdict must
    have no late report at all, justified or not."""

    expect: Expectation = "exact"
    distinct: bool | None = None
    late: bool = False
    # For a control whose fault may not make it lose anything in a run (a race it can lose): a valid
    # verdict then means the control was not exercised, said with this reason, not that it survived.
    exercised_only_if_caught: str = ""

    def __str__(self) -> str:
        judged = {None: "", True: " (distinct events)", False: " (every copy)"}[self.distinct]
        late = "" if self.late or self.expect != "exact" else ", and no late report"
        return f"check Cassandra against the ledger{judged}: expect {self.expect}{late}"

    def run(self, ctx: Context) -> None:
        verdict = ctx.verdict = ctx.trial.verdict(self.distinct)
        if verdict.valid is True and self.exercised_only_if_caught:
            raise AssertionError(f"the fault did not land: {self.exercised_only_if_caught}")
        if self.expect == "exact":
            assert verdict.valid is True, "counts differ from the ledger"
            assert verdict.summary is not None
            assert self.late or not verdict.summary.late, (
                f"{verdict.summary.late} late report(s), but this scenario sends no late input"
            )
            assert not self.late or verdict.summary.late, (
                "no late report: the late input this scenario sends arrived in time, so lateness "
                "was not tested; give it more disorder or a later second load"
            )
            return
        assert verdict.valid is False, f"a wrong sink passed: expected {self.expect}"
        assert verdict.summary is not None
        # What the control was caught with, in the log of a passing run too.
        log.info("caught, as expected:\n%s", verdict.explain(limit=4))
        if self.expect == "wrongly_late":
            named = [p for p in verdict.late_problems if p.kind == "wrongly_late"]
            assert named, f"expected wrongly late reports named, verdict says {verdict.summary}"
            return
        found = verdict.summary.duplicated if self.expect == "duplicated" else verdict.summary.lost
        assert found > 0, f"expected {self.expect} events, verdict says {verdict.summary}"
        rows = [r for r in verdict.rows if (r.duplicated if self.expect == "duplicated" else r.lost)]
        # A lost dead letter, or a record the log lost, is named by its position, not by a row.
        problems = (*verdict.dead_letter_problems, *verdict.log_problems)
        positions = [p for p in problems if p.kind == self.expect]
        assert rows or positions, f"expected the rows or positions {self.expect} named: {verdict.explain()}"


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    seed: int = 0
    # DriverSpec fields its trial needs (dedup, allowed_lateness), beyond the runner's own.
    trial: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, failing: int | None = None) -> str:
        lines = [f"scenario {self.name} (seed {self.seed}):"]
        for i, step in enumerate(self.steps):
            lines.append(f"{'=> ' if i == failing else '   '}{i + 1:2}. {step}")
        return "\n".join(lines)


class ScenarioFailed(AssertionError):
    pass


# (index, step, done): called before a step runs (done False) and after it succeeded (done True).
StepHook = Callable[[int, Step, bool], None]


def run(
    scenario: Scenario,
    trial: Trial,
    on_step: StepHook | None = None,
    stack: Stack | None = None,
    outcomes: list[str] | None = None,
) -> Context:
    """Run the steps in order; `on_step` lets a caller time them (the audit marks faults and heals);
    `stack`: the containers, for scenarios that upgrade them in place; `outcomes`: the list the
    moves report into, kept by the caller whether the scenario passes or fails."""
    ctx = Context(trial, scenario.seed, random.Random(scenario.seed), stack=stack)
    if outcomes is not None:
        ctx.outcomes = outcomes
    started = time.monotonic()
    current = 0
    try:
        for step in scenario.steps:
            log.info("%6.1fs %s", time.monotonic() - started, step)
            if on_step is not None:
                on_step(current, step, False)
            step_started = time.monotonic()
            step.run(ctx)
            ctx.timings.append((type(step).__name__, time.monotonic() - step_started))
            if on_step is not None:
                on_step(current, step, True)
            current += 1
        # A scenario judged while its fault is on (a control's check during a partition) leaves
        # the stack healed all the same.
        for fault in reversed(ctx.faults):
            log.info("heal what the scenario left on: %s", fault)
            fault.heal(trial.stack)
    except Exception as error:
        for work in ctx.background:
            work.stop()
        for fault in reversed(ctx.faults):
            fault.heal(trial.stack)
        verdict = ctx.verdict or trial.verdict()
        raise ScenarioFailed(
            f"{scenario.describe(current)}\n\nfailed: {type(error).__name__}: {error}\n\n"
            f"{verdict.explain()}\n\n{trial.diagnosis()}"
        ) from error
    log.info("%s passed in %.1f s: %s", scenario.name, time.monotonic() - started, ctx.time_per_kind())
    return ctx
