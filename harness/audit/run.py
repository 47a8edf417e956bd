"""The upgrade audit: the scenario catalogue against one version set or a matrix of them, one stack per
set and one trial per scenario, written as report.md, report.html, junit.xml and audit.json.

Exit status 0 only when every version set ran and every scenario is valid; otherwise one line per
failure. A version set whose images do not build or whose stack does not start is reported, and the
audit goes on with the next one.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from harness.audit.in_flight import in_flight, in_flight_result
from harness.audit.model import (
    AuditResult,
    InFlight,
    Sample,
    ScenarioResult,
    VersionSetResult,
    evidence,
)
from harness.audit.report import write_report
from harness.audit.timeline import Sampler, StepClock, recovery_s, unable_to_write_s
from harness.model.snapshot import SinkSnapshot
from harness.scenario.catalogue import SEED, Entry, select
from harness.scenario.mutants import (
    BY_MUTANT,
    CONTROLS,
    GATE_CONTROLS,
    MUTANTS,
    REPLICATED_CONTROLS,
    Mutant,
)
from harness.scenario.profiles import PROFILES, Profile
from harness.scenario.steps import Check, Scenario, ScenarioFailed, Step
from harness.scenario.steps import run as run_steps
from harness.scenario.trial import Trial
from harness.scenario.upgrades import MOVE_STEPS, ProduceThrough, Transition
from harness.scenario.upgrades import plan as upgrade_plan
from harness.stack.engine import require_engine
from harness.stack.images import ensure_images
from harness.stack.services import Stack
from harness.stack.topology import TOPOLOGIES, Topology, describe
from harness.stack.versions import Versions, upgrade_paths

log = logging.getLogger("harness.audit")

DEFAULT_EVENTS: dict[Profile, int] = {"gate": 3_000, "quick": 3_000, "deep": 12_000, "replicated": 3_000}
PROGRESS_EVERY_S = 10.0

# `--upgrade` without a value: the paths declared in harness/stack/versions.py.
DECLARED = "declared"


@dataclass(frozen=True)
class AuditOptions:
    version_sets: tuple[Versions, ...]  # the baseline first: the matrix comparison reads against it
    scenarios: tuple[Entry, ...]
    profile: Profile
    seed: int
    events: int
    out: Path
    sink: str | None = None  # MODULE:CLASS of another sink, for negative controls
    # The mutation suite to run (on each mutant's killers in the profile) instead of the scenarios.
    mutants: tuple[Mutant, ...] = ()
    # Negative controls run as mutants are (they must come out invalid), before the scenarios.
    controls: tuple[Entry, ...] = ()
    # Version sets the scenarios move the stack to (upgrades in place): built before it starts.
    moves_to: tuple[Versions, ...] = ()
    # An upgrade audit run after these scenarios, into the same report (the deep profile's moves).
    upgrades: AuditOptions | None = None
    topology: Topology = "single"


def controls_of(profile: Profile, topology: Topology) -> tuple[Entry, ...]:
    """The negative controls a profile runs before its scenarios, on the stack they run on."""
    if topology == "replicated":
        return REPLICATED_CONTROLS if profile == "replicated" else ()
    return GATE_CONTROLS if profile == "gate" else () if profile == "replicated" else CONTROLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    Versions.add_arguments(parser)
    components = [f.name for f in fields(Versions)]
    parser.add_argument(
        "--matrix",
        action="append",
        default=[],
        metavar="COMPONENT=V1,V2",
        help=f"run the catalogue once per version of a component ({', '.join(components)}); "
        "repeat for a product of several",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="gate: what tox runs on every change; quick: the default audit; deep: every scenario",
    )
    parser.add_argument(
        "--topology",
        choices=TOPOLOGIES,
        help="single: one Kafka broker and one Cassandra node (the default); replicated: three of each, "
        "for the faults of one node (the default of --profile replicated)",
    )
    parser.add_argument(
        "--scenarios", help="comma-separated scenario names (default: all of the profile)", default=""
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--events",
        type=int,
        help=f"events of each scenario's main phase (default {DEFAULT_EVENTS['quick']} quick, "
        f"{DEFAULT_EVENTS['deep']} deep)",
    )
    parser.add_argument("--out", type=Path, default=Path(".tally/audit"), help="where the report goes")
    parser.add_argument("--sink", metavar="MODULE:CLASS", help="run another sink (default: Tally's own)")
    parser.add_argument(
        "--mutants",
        nargs="?",
        const="all",
        metavar="NAMES",
        help="run the mutation suite instead of the scenarios: every mutant (or the comma-separated "
        "NAMES) on each scenario of the profile that should kill it; the report gets the kill matrix",
    )
    parser.add_argument(
        "--upgrade",
        action="append",
        nargs="?",
        const=DECLARED,
        default=[],
        metavar="COMPONENT=OLD:NEW",
        help="audit upgrades in place instead of the catalogue: start on the old versions, move each "
        "component (one after another, repeat the option) under load, then a fault, and the "
        "rollbacks each procedure documents; with kafka, the empty-storage control too. Without a "
        f"value: the declared paths ({', '.join(upgrade_paths())}), which the deep profile also runs",
    )


def matrix(base: Versions, specs: Sequence[str]) -> tuple[Versions, ...]:
    """`["kafka=4.1.1,3.9.1"]` -> one version set per value (a product over several specs)."""
    components = {f.name for f in fields(Versions)}
    axes: list[list[tuple[str, str]]] = []
    for spec in specs:
        component, _, values = spec.partition("=")
        component = component.strip().replace("-", "_")
        chosen = [v.strip() for v in values.split(",") if v.strip()]
        if component not in components or not chosen:
            raise ValueError(
                f"--matrix {spec!r}: want COMPONENT=V1,V2 with COMPONENT in {sorted(components)}"
            )
        axes.append([(component, v) for v in chosen])
    return tuple(replace(base, **dict(combo)) for combo in itertools.product(*axes))


def options(args: argparse.Namespace) -> AuditOptions:
    base = Versions.from_env().with_arguments(args)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if args.upgrade:
        return _upgrade_options(args, base, names)
    mutants = _mutants(args.mutants) if args.mutants else ()
    topology: Topology = args.topology or ("replicated" if args.profile == "replicated" else "single")
    # Every scenario means the moves too: the deep catalogue, then the declared upgrade paths on a
    # stack of their own (not for a selection, another sink, the mutation suite, a matrix or the
    # replicated topology, whose nodes are not upgraded in place).
    whole = args.profile == "deep" and not (names or mutants or args.sink or args.matrix)
    whole = whole and topology == "single"
    upgrades = _upgrade_options(args, base, names, upgrade_paths(base)) if whole else None
    # A profile's negative controls come with it, as the upgrade audit's do: a verdict of valid means
    # more from an audit that showed, on the same stack, that it catches these mistakes.
    controls = () if names or mutants or args.sink else controls_of(args.profile, topology)
    return AuditOptions(
        topology=topology,
        version_sets=matrix(base, args.matrix),
        scenarios=() if mutants else select(args.profile, names, topology),
        controls=controls,
        mutants=mutants,
        profile=args.profile,
        seed=args.seed,
        events=args.events or DEFAULT_EVENTS[args.profile],
        out=args.out,
        sink=args.sink,
        upgrades=upgrades,
    )


def _upgrade_options(
    args: argparse.Namespace, base: Versions, names: list[str], specs: Sequence[str] = ()
) -> AuditOptions:
    """One stack on the old versions, its scenarios and control (harness/scenario/upgrades.py)."""
    if args.matrix or args.mutants or names or args.topology == "replicated":
        raise ValueError(
            "--upgrade runs its own scenarios on one single-node stack: not with --matrix, --mutants, "
            "--scenarios or --topology replicated"
        )
    specs = specs or [
        path for spec in args.upgrade for path in (upgrade_paths(base) if spec == DECLARED else (spec,))
    ]
    transitions = [Transition.parse(spec) for spec in specs]
    plan = upgrade_plan(base, transitions)
    # The gate's share: the upgrade itself and its control; the rollbacks run in quick and deep.
    scenarios = plan.scenarios if args.profile != "gate" else (plan.gate,)
    return AuditOptions(
        version_sets=(plan.start,),
        scenarios=scenarios,
        controls=plan.controls,
        moves_to=plan.moves_to,
        profile=args.profile,
        seed=args.seed,
        events=args.events or DEFAULT_EVENTS[args.profile],
        out=args.out,
        sink=args.sink,
    )


def _mutants(spec: str) -> tuple[Mutant, ...]:
    if spec == "all":
        return MUTANTS
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_MUTANT]
    if unknown:
        raise SystemExit(f"unknown mutants {unknown}; the suite has {sorted(BY_MUTANT)}")
    return tuple(BY_MUTANT[name] for name in names)


class Progress:
    """Live lines on stderr: where the audit is, and how far the stream has got."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.where = ""
        self._last_line = 0.0

    def say(self, message: str) -> None:
        self._last_line = time.monotonic()
        log.info("%6.1fs %s", time.monotonic() - self.started, message)

    def sample(self, point: Sample) -> None:
        if time.monotonic() - self._last_line >= PROGRESS_EVERY_S:
            self.say(f"{self.where} · acked {point.acknowledged} counted {point.counted} · {point.t_s:.0f}s")


def _versions_dict(versions: Versions) -> dict[str, str]:
    return {
        "spark": versions.spark,
        "kafka": versions.kafka,
        "cassandra": versions.cassandra,
        "connector": versions.spark_kafka_connector,
        "cassandra-driver": versions.cassandra_driver,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def _relative(path: Path, out: Path) -> str:
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def audit_version_set(
    versions: Versions,
    opts: AuditOptions,
    workdir: Path,
    progress: Progress,
    running: Stack | None = None,
) -> VersionSetResult:
    """`running`: a stack of these versions already up (a test session's), used and left running."""
    label = versions.label()
    vs = VersionSetResult(versions=_versions_dict(versions), label=label)
    progress.say(f"{label}: images")
    try:
        images = ensure_images(versions)
        for moved in opts.moves_to:
            ensure_images(moved)
    except Exception as error:
        progress.say(f"{label}: build failed: {_first_line(str(error))}")
        return replace(vs, status="build-failed", error=f"{type(error).__name__}: {error}")
    stack = running or Stack(versions, images, workdir.resolve(), opts.topology)
    try:
        if running:
            progress.say(f"{label}: on the stack already running ({running.info.shared_dir})")
        else:
            progress.say(f"{label}: starting the stack")
            try:
                stack.start()
            except Exception as error:
                progress.say(f"{label}: start failed: {_first_line(str(error))}")
                return replace(vs, status="start-failed", error=f"{type(error).__name__}: {error}")
        results = []
        runs = [
            (mutant, entry)
            for mutant in opts.mutants
            for entry in mutant.entries(opts.profile, opts.topology)
        ]
        total = len(opts.controls) + len(opts.scenarios) + len(runs)
        killed = []
        # A bar on a terminal only; the log lines say the same in CI.
        with tqdm(total=total, desc=label, unit="run", disable=None) as bar:
            for control in opts.controls:
                progress.where = f"{label} · control {control.name}"
                run = replace(run_scenario(control, stack, opts, progress), mutant=control.name)
                progress.say(
                    f"{progress.where}: {run.outcome}: {run.failure_reason} in {run.duration_s:.0f}s"
                )
                killed.append(run)
                bar.update()
            for number, entry in enumerate(opts.scenarios, start=1):
                progress.where = f"{label} · {entry.name} ({number}/{len(opts.scenarios)})"
                result = run_scenario(entry, stack, opts, progress)
                progress.say(f"{progress.where}: {result.verdict} in {result.duration_s:.0f}s")
                results.append(result)
                bar.update()
            for number, (mutant, entry) in enumerate(runs, start=1):
                progress.where = f"{label} · mutant {mutant.name} on {entry.name} ({number}/{len(runs)})"
                run = replace(run_scenario(entry, stack, opts, progress), mutant=mutant.name)
                evidence = f": {run.failure_reason}" if run.outcome == "killed" else ""
                progress.say(f"{progress.where}: {run.outcome}{evidence} in {run.duration_s:.0f}s")
                killed.append(run)
                bar.update()
        return replace(vs, scenarios=results, mutants=killed)
    finally:
        if not running:
            stack.close()


@dataclass
class MoveClock:
    """An upgrade on the timeline the way a fault is: from the start of its first move (the old
    version stops) to the end of its last (the new one answers)."""

    clock: StepClock
    acknowledged: Callable[[], int]
    first_at_s: float | None = None
    last_end_s: float | None = None
    acknowledged_at_end: int | None = None

    def __call__(self, step: Step, done: bool) -> None:
        if not isinstance(step, MOVE_STEPS):
            return
        if not done and self.first_at_s is None:
            self.first_at_s = round(self.clock.now(), 2)
        elif done:
            self.last_end_s = round(self.clock.now(), 2)
            self.acknowledged_at_end = self.acknowledged()


def _fault_window(clock: StepClock, moves: MoveClock) -> tuple[float | None, float | None, int | None]:
    """When the fault began, when it healed, and the events acknowledged by then: an upgrade is
    marked as a fault is, from its first move's start to its last move's end."""
    if moves.first_at_s is not None:
        return moves.first_at_s, moves.last_end_s, moves.acknowledged_at_end
    return clock.fault_at_s, clock.heal_at_s, clock.acknowledged_at_heal


def _produces_through(scenario: Scenario) -> bool:
    """Whether the scenario sends in the background while components move (an upgrade's)."""
    return any(isinstance(step, ProduceThrough) for step in scenario.steps)


def _judge_in_flight(trial: Trial, distinct: bool | None, snapshot: SinkSnapshot) -> InFlight:
    """The events sent while moving, judged by the scenario's checker on their own."""
    picked = in_flight(trial.history.ops, trial.window_ms)
    return in_flight_result(trial.verdict(distinct, snapshot, only=picked))


def run_scenario(entry: Entry, stack: Stack, opts: AuditOptions, progress: Progress) -> ScenarioResult:
    """One trial on the versions the stack runs now: steps timed, the stream sampled, the verdict and
    its evidence; never raises for a failing scenario (it becomes an invalid result with its reason)."""
    info = stack.info
    scenario = entry.build(opts.seed, opts.events)
    base = ScenarioResult(
        name=entry.name, versions=info.versions.label(), valid=None, description=scenario.describe()
    )
    spec = entry.driver_spec()
    if opts.sink:
        spec["sink"] = opts.sink
    try:
        trial = Trial(info, entry.name[:24], **spec)
    except Exception as error:
        return replace(
            base, reason=f"could not set up the trial: {type(error).__name__}: {_first_line(str(error))}"
        )
    started = time.monotonic()
    sampler = Sampler(trial, started, on_sample=progress.sample)
    clock = StepClock(started, sampler.acknowledged, entry.fault_step)
    moves = MoveClock(clock, sampler.acknowledged)
    outcomes: list[str] = []

    def on_step(index: int, step: Step, done: bool) -> None:
        clock(index, step, done)
        moves(step, done)
        if not done:
            last = sampler.samples[-1] if sampler.samples else None
            counts = f" · acked {last.acknowledged} counted {last.counted}" if last else ""
            progress.say(
                f"{progress.where} · step {index + 1}/{len(scenario.steps)}: {step}{counts} · "
                f"{time.monotonic() - started:.0f}s"
            )

    reason = ""
    failure_dump = ""
    try:
        with sampler:
            try:
                run_steps(scenario, trial, on_step=on_step, stack=stack, outcomes=outcomes)
            except ScenarioFailed as failure:
                failure_dump = str(failure)
                cause = failure.__cause__
                where = f"step {clock.current[0] + 1} ({clock.current[1]})" if clock.current else "setup"
                detail = f"{type(cause).__name__}: {_first_line(str(cause))}" if cause else "failed"
                reason = f"{where}: {detail}"
        duration = time.monotonic() - started
        # Judged as the scenario's own check judges: by distinct events or by every copy.
        last = scenario.steps[-1]
        distinct = last.distinct if isinstance(last, Check) else None
        snapshot = trial.snapshot()
        verdict = trial.verdict(distinct, snapshot)
        flight = _judge_in_flight(trial, distinct, snapshot) if _produces_through(scenario) else None
        diagnosis = trial.diagnosis()
    except Exception as error:  # the harness itself broke: nothing judged is no pass
        return replace(base, reason=f"harness error: {type(error).__name__}: {_first_line(str(error))}")
    finally:
        trial.close()
    summary = verdict.summary
    valid = False if reason else verdict.valid
    if reason and summary is not None and verdict.valid is False:
        found = evidence(summary.lost, summary.duplicated, summary.unexpected, summary.wrongly_late)
        reason += f" ({', '.join(found)})" if found else ""
    if not reason and verdict.valid is None:
        reason = f"the checker could not judge: {verdict.error}"
    artifacts: list[str] = []
    if valid is not True:
        assert trial.history.path is not None
        dump = trial.history.path.parent / "failure.txt"
        dump.write_text(f"{failure_dump or scenario.describe()}\n\n{verdict.explain()}\n\n{diagnosis}\n")
        artifacts = [
            _relative(p, opts.out) for p in (dump, trial.history.path, info.logs_dir) if p is not None
        ]
    counted = summary.counted_total if summary else 0
    fault_at_s, heal_at_s, healed_with = _fault_window(clock, moves)
    recovered_s = recovery_s(sampler.samples, heal_at_s, healed_with)
    recovered_at_s = heal_at_s + recovered_s if heal_at_s is not None and recovered_s is not None else None
    return replace(
        base,
        valid=valid,
        reason=reason,
        attempted=summary.attempted if summary else 0,
        acknowledged=summary.acknowledged if summary else 0,
        counted=counted,
        dead_lettered=summary.dead_lettered if summary else 0,
        late=summary.late if summary else 0,
        lost=summary.lost if summary else 0,
        duplicated=summary.duplicated if summary else 0,
        unexpected=summary.unexpected if summary else 0,
        wrongly_late=summary.wrongly_late if summary else 0,
        fault=entry.fault,
        fault_at_s=fault_at_s,
        heal_at_s=heal_at_s,
        recovery_s=recovered_s,
        unable_to_write_s=unable_to_write_s(sampler.samples, fault_at_s, recovered_at_s),
        moves=outcomes,
        versions_after=trial.stack.versions.label() if moves.first_at_s is not None else "",
        in_flight=flight,
        duration_s=round(duration, 2),
        throughput_eps=round(counted / duration, 1) if duration > 0 else 0.0,
        differing_rows=verdict.explain() if verdict.valid is not True else "",
        artifacts=artifacts,
        timeline=sampler.samples,
    )


def run(opts: AuditOptions, running: Stack | None = None) -> int:
    """The audit; `running`: a stack already up, used for the version set it runs (not an upgrade's)."""
    progress = Progress()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    require_engine()
    opts.out.mkdir(parents=True, exist_ok=True)
    runs = opts.out / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    if opts.mutants:
        count = sum(len(mutant.entries(opts.profile, opts.topology)) for mutant in opts.mutants)
        what = f"{len(opts.mutants)} mutant(s) on {count} run(s) [{', '.join(m.name for m in opts.mutants)}]"
    else:
        what = f"{len(opts.scenarios)} scenario(s) [{', '.join(entry.name for entry in opts.scenarios)}]"
        if opts.controls:
            what += f" after {len(opts.controls)} control(s) [{', '.join(c.name for c in opts.controls)}]"
    progress.say(
        f"{len(opts.version_sets)} version set(s) x {what}, "
        f"profile {opts.profile}, topology {opts.topology}, seed {opts.seed}, {opts.events} events"
        + (f", sink {opts.sink}" if opts.sink else "")
    )
    # Log lines print above the progress bar instead of through it.
    with logging_redirect_tqdm(loggers=[logging.getLogger("harness")]):
        sets = [
            audit_version_set(
                versions,
                opts,
                runs / f"{i + 1}-{_slug(versions.label())}",
                progress,
                running if running and running.info.versions == versions else None,
            )
            for i, versions in enumerate(opts.version_sets)
        ]
        if opts.upgrades is not None:
            progress.say(f"upgrades in place: {', '.join(e.name for e in opts.upgrades.scenarios)}")
            sets += [
                audit_version_set(
                    versions, opts.upgrades, runs / f"upgrade-{_slug(versions.label())}", progress
                )
                for versions in opts.upgrades.version_sets
            ]
    result = AuditResult(
        started_at=started_at,
        duration_s=round(time.monotonic() - progress.started, 1),
        seed=opts.seed,
        profile=opts.profile,
        events=opts.events,
        version_sets=sets,
        topology=describe(opts.topology),
    )
    written = write_report(result, opts.out)
    progress.say(f"report: {written['report.md']} (also report.html, junit.xml, audit.json)")
    if result.valid:
        if opts.mutants:
            progress.say("VALID: every mutant run was killed by at least one scenario")
        else:
            controls = sum(len(vs.mutants) for vs in sets)
            caught = f", {controls} control run(s) caught" if controls else ""
            progress.say(f"VALID: {sum(len(vs.scenarios) for vs in sets)} scenario(s) exact{caught}")
        return 0
    for line in result.failures():
        print(f"FAILED {line}", file=sys.stderr)
    return 1
