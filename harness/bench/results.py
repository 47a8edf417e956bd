"""What a benchmark run measured, the issue's targets judged against it, and the terminal table (pure).

Everything here is plain data: `bench.json` is `dataclasses.asdict(Report)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.bench.analysis import MemoryGrowth, ProgressSummary
from harness.bench.executor_profile import TASKS, ExecutorProfile
from harness.bench.heap import TOLERANCE_PCT, DriverHeap, MiB
from harness.bench.latency import LagTrend, LatencyStats
from harness.bench.ledger import Exactness
from harness.bench.resources import Usage
from harness.bench.search import generator_fell_short
from harness.tables import text_table

NAMES = {
    "kafka": "Kafka consumer perf (ceiling)",
    "pipeline": "pipeline (Tally, exactly-once)",
    "seed": "seed design (RDD + lambdas)",
    "python": "plain Python consumer",
}


@dataclass(frozen=True)
class Generator:
    events: int
    seconds: float
    rate: float
    processes: int
    indeterminate: int


@dataclass(frozen=True)
class Ceiling:
    records: int
    seconds: float
    rate: float  # records/s while fetching (the tool's fetch.nMsg.sec)
    rate_with_join: float  # records/s including the consumer group join
    mb_per_s: float


@dataclass(frozen=True)
class Drain:
    contender: str
    events: int
    startup_s: float  # launch -> consuming (JVM, Spark session, executor; or group join)
    seconds: float  # consuming -> Cassandra equals the ledger
    rate: float  # events / seconds
    rate_from_launch: float  # events / (startup_s + seconds)
    exactness: Exactness
    resources: dict[str, Usage]
    progress: ProgressSummary | None = None
    profile: ExecutorProfile | None = None  # the pipeline's executor: where its CPU went

    @property
    def exact(self) -> bool:
        return self.exactness.exact


@dataclass(frozen=True)
class Live:
    contender: str
    target_rate: float
    achieved_rate: float
    seconds: float
    events: int
    latency: LatencyStats  # every event of the phase
    latency_steady: LatencyStats  # events acknowledged after the warm-up: what targets judge
    lag: LagTrend
    kept_up: bool
    converged: bool
    exactness: Exactness | None
    resources: dict[str, Usage]
    driver_memory: MemoryGrowth | None = None  # resident memory, sampled every second
    driver_heap: DriverHeap | None = None  # live heap after full GC: the soak only
    progress: ProgressSummary | None = None
    warmup_s: float = 10.0

    def exact_or_unknown(self) -> bool:
        return self.exactness is None or self.exactness.exact

    @property
    def generator_limited(self) -> bool:
        """A step kept up with shows only that the consumer's limit is at least this rate."""
        return generator_fell_short(self.target_rate, self.achieved_rate)


@dataclass(frozen=True)
class Target:
    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_gib: float
    kernel: str
    versions: str


@dataclass
class Report:
    machine: Machine
    settings: dict[str, object]
    generator: Generator | None = None
    ceiling: Ceiling | None = None
    drains: dict[str, Drain] = field(default_factory=dict)
    latency: dict[str, Live] = field(default_factory=dict)  # at the fixed moderate rate
    search: list[Live] = field(default_factory=list)  # the pipeline's live-rate steps
    soak: Live | None = None
    targets: list[Target] = field(default_factory=list)
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def best_live(self) -> Live | None:
        """The pipeline's highest live rate kept up with (the fixed-rate phase counts as a step)."""
        steps = [s for s in (*self.search, self.latency.get("pipeline")) if s is not None and s.kept_up]
        return max(steps, key=lambda s: s.achieved_rate, default=None)

    def generator_ceiling(self) -> Live | None:
        """The step that kept up with all the generator could send, when no step fell behind: the
        pipeline's own limit lies above what the machine could offer it beside the generator, so
        the search bounds it from below only. (The best step need not be that one: a step fed in
        full may keep up at 101,000/s before the generator sends 99,500/s of 152,000/s asked.)"""
        if not all(s.kept_up for s in self.search):
            return None
        short = [s for s in self.search if s.generator_limited]
        return max(short, key=lambda s: s.target_rate, default=None)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}/s"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


# Issue 13's targets: the executor's CPU per million events when it was filed, halved, on a drain
# of the backlog the issue sets.
EXECUTOR_CPU_BEFORE_S = 13.9
TARGET_BACKLOG = 5_000_000


def judge(report: Report, latency_rate: float) -> list[Target]:
    """The issue's targets, each with what this run measured; a contender that was not exact fails."""
    pipeline = report.drains.get("pipeline")
    ok = pipeline is not None and pipeline.exact
    rate = pipeline.rate if pipeline else None
    targets: list[Target] = []
    for other in ("seed", "python"):
        ref = report.drains.get(other)
        goal = f">= 2 x {NAMES[other]}"
        if ref is None or rate is None:
            targets.append(Target(f"drain vs {other}", goal, "-", None))
            continue
        note = "" if ok else " (pipeline NOT EXACT)"
        note += "" if ref.exact else f" ({other} NOT EXACT: its rate does not count)"
        targets.append(
            Target(
                f"drain vs {other}",
                goal,
                f"{rate / ref.rate:.2f} x ({_rate(rate)} vs {_rate(ref.rate)}){note}",
                ok and ref.exact and rate >= 2 * ref.rate,
            )
        )
    best = report.best_live()
    achieved = best.achieved_rate if best else None
    met: bool | None = None
    if not report.search:
        # Keeping up with the latency phase's rate bounds the largest rate from below only.
        measured = "not measured" + (
            "" if achieved is None else f" (kept up with {_rate(achieved)}; no search ran)"
        )
    elif (
        best is not None
        and best.achieved_rate < 150_000
        and (ceiling := report.generator_ceiling()) is not None
    ):
        measured = f"not measured: at least {_rate(achieved)}, all the generator sent" + (
            f" of {_rate(ceiling.target_rate)} asked"
            if ceiling is best
            else f" ({_rate(ceiling.achieved_rate)} of {_rate(ceiling.target_rate)} asked)"
        )
    else:
        measured, met = _rate(achieved), None if achieved is None else achieved >= 150_000
    targets.append(Target("largest live rate", ">= 150,000 events/s", measured, met))
    live = report.latency.get("pipeline")
    p99 = live.latency.p99_s if live else None
    targets.append(
        Target(
            f"p99 latency at {latency_rate:,.0f}/s, first minute included",
            "<= 1 s",
            _s(p99)
            + ("" if live is None else f" ({_s(live.latency_steady.p99_s)} after {live.warmup_s:.0f} s)")
            + ("" if live is None or live.kept_up else " (did not keep up)"),
            None if p99 is None else p99 <= 1.0 and live is not None and live.exact_or_unknown(),
        )
    )
    usage = pipeline.resources.get("executor") if pipeline else None
    cpu = usage.per_million(pipeline.events) if usage and pipeline else None
    goal = f"<= {EXECUTOR_CPU_BEFORE_S / 2:g} s (half of {EXECUTOR_CPU_BEFORE_S:g})"
    if pipeline is not None and cpu is not None and pipeline.events < TARGET_BACKLOG:
        # A small backlog is mostly a cold executor's warm-up: not the drain the target is set on.
        measured = (
            f"not measured ({cpu:.1f} s on {pipeline.events:,} events; "
            f"the target is set on {TARGET_BACKLOG:,})"
        )
        targets.append(Target("executor CPU per million events", goal, measured, None))
    else:
        targets.append(
            Target(
                "executor CPU per million events",
                goal,
                "-" if cpu is None else f"{cpu:.1f} s" + _profiled(pipeline),
                None if cpu is None else ok and cpu <= EXECUTOR_CPU_BEFORE_S / 2,
            )
        )
    targets.append(_heap_target(report))
    return targets


def _profiled(drain: Drain | None) -> str:
    profile = drain.profile if drain else None
    return "" if profile is None or profile.unmeasured else f" ({profile.summary()})"


def _profile_lines(profile: ExecutorProfile, driver: Usage | None) -> list[str]:
    head = "Where the pipeline executor's CPU went over the drain"
    if profile.unmeasured:
        return [f"{head}: not measured: {profile.unmeasured}"]
    total = profile.total
    sampled = sum(profile.task_samples.values())
    lines = [
        f"{head} (its threads from /proc, {profile.per_million(total):.1f} s per million events; "
        f"its tasks by {sampled:,} JFR samples):"
    ]
    rows = []
    for group, seconds in profile.cpu_seconds.items():
        rows.append(
            [group, f"{profile.per_million(seconds):.2f}", f"{seconds / total:.0%}" if total else "-"]
        )
        if group == TASKS:
            for part, part_s in profile.part_seconds().items():
                share = f"{part_s / total:.0%}" if total else "-"
                rows.append([f"- {part}", f"{profile.per_million(part_s):.2f}", share])
    lines += text_table(["part", "CPU s/M", "share"], rows)
    if driver is not None:
        lines.append(
            f"  beside it, the driver (planning the batch, the sink's Python and its Cassandra writes): "
            f"{driver.per_million(profile.events):.2f} s/M"
        )
    if profile.recording:
        lines.append(f"  recording: {profile.recording} (jfr print, or JDK Mission Control)")
    return lines


SOAK_S = 1800  # the 30 minutes


def _heap_target(report: Report) -> Target:
    """Judged on the driver's live heap after full GC over the soak; its resident memory beside."""
    name, goal = "driver heap after full GC at 10,000/s", f"growth < {TOLERANCE_PCT:g}% over 30 min"
    soak = report.soak
    heap = soak.driver_heap if soak else None
    if soak is None or heap is None:
        return Target(name, goal, _beside("not measured: run with --soak-minutes 30", report), None)
    growth = heap.growth
    if growth is None:
        return Target(name, goal, _beside(f"not measured: {heap.not_measured}", report), None)
    text = (
        f"{growth.first_mb:,.0f} -> {growth.last_mb:,.0f} MiB live ({growth.growth_pct:+.1f}%, "
        f"trend {growth.per_10_min_mb:+.1f} MiB/10 min) over {growth.minutes:.1f} min"
    )
    # The samples span a little more than the soak (the catch-up); both must reach 30 minutes.
    long_enough = soak.seconds >= SOAK_S and growth.minutes * 60 >= SOAK_S
    if not long_enough:
        text += " (soak too short: the target asks 30 minutes)"
    return Target(name, goal, _beside(text, report), growth.flat if long_enough else None)


def _beside(text: str, report: Report) -> str:
    """The driver container's resident memory after the heap's numbers: the soak's, or without a
    soak the fixed-rate phase's. Not what is judged: it holds the committed heap, garbage included,
    and the JVM's and python3's native memory."""
    phase = report.soak or report.latency.get("pipeline")
    memory = phase.driver_memory if phase else None
    if phase is None or memory is None:
        return text
    return (
        f"{text}; resident memory {memory.start_mb:,.0f} -> {memory.end_mb:,.0f} MiB "
        f"({memory.growth_pct:+.1f}% fitted) over {phase.seconds / 60:.1f} min"
    )


def _cpu(phase: Drain | Live, role: str) -> str:
    usage = phase.resources.get(role)
    per = usage.per_million(phase.events) if usage else None
    return "-" if per is None else f"{per:.1f}"


def _peak(drain: Drain, role: str) -> str:
    usage = drain.resources.get(role)
    return "-" if usage is None else f"{usage.peak_rss_mb:,.0f}"


def _heap_lines(heap: DriverHeap) -> list[str]:
    """The soak's heap series, and the classes that grew most between its first and last sample."""
    lines = ["Driver heap during the soak (live bytes after a full GC: jcmd GC.class_histogram):"]
    rows = [
        [
            f"{s.at_s / 60:.1f}",
            "-" if s.live_bytes is None else f"{s.live_bytes / MiB:,.1f}",
            f"{s.jcmd_s:.1f}",
            s.error or "",
        ]
        for s in heap.samples
    ]
    lines += text_table(["minute", "live MiB", "jcmd s", "not measured"], rows)
    if heap.growing:
        lines += ["", "Classes whose live bytes grew most, first to last sample:"]
        rows = [
            [c.name, f"{c.instances:,}", f"{c.instances_growth:+,}", f"{c.bytes:,}", f"{c.bytes_growth:+,}"]
            for c in heap.growing
        ]
        lines += text_table(["class", "instances", "growth", "bytes", "growth"], rows)
    if heap.histograms:
        lines.append("  full histograms: " + ", ".join(heap.histograms))
    return lines


def _mark(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[met]


def candidate(settings: Mapping[str, object]) -> str | None:
    """What makes this run's pipeline other than the one this checkout ships (None: nothing)."""
    changes = []
    if settings.get("pipeline_dir"):
        changes.append(f"its Python package from {settings['pipeline_dir']}")
    if settings.get("executor_jar"):
        changes.append(f"{settings['executor_jar']} first on its executor's class path")
    return f"A/B candidate, not the shipped pipeline: {'; '.join(changes)}" if changes else None


def render(report: Report) -> str:
    """The comparison, as printed at the end of a run."""
    m = report.machine
    lines = [
        f"Tally benchmark: {m.cores} cores, {m.memory_gib:.0f} GiB, {m.versions}; "
        f"wall time {report.wall_seconds / 60:.1f} min",
    ]
    changed = candidate(report.settings)
    if changed:
        lines.append(changed)
    g = report.generator
    if g:
        lines.append(
            f"generator: {g.events:,} events acknowledged in {g.seconds:.1f} s = {g.rate:,.0f} events/s "
            f"({g.processes} processes; {g.indeterminate} indeterminate)"
        )
    lines += ["", "Backlog drain (same topic, same events), until Cassandra equals the ledger:"]
    rows = []
    if report.ceiling:
        c = report.ceiling
        rows.append([NAMES["kafka"], _rate(c.rate), _rate(c.rate_with_join), "-", "-", "-", "-", "-", "-"])
    for label in ("pipeline", "seed", "python"):
        d = report.drains.get(label)
        if d is None:
            continue
        rows.append(
            [
                NAMES[label],
                _rate(d.rate),
                _rate(d.rate_from_launch),
                f"{d.events:,}",
                "yes" if d.exact else "NO",
                _cpu(d, "driver"),
                _peak(d, "driver"),
                _cpu(d, "executor"),
                _peak(d, "executor"),
            ]
        )
    lines += text_table(
        [
            "contender",
            "events/s",
            "from launch",
            "events",
            "exact",
            "driver CPU s/M",
            "driver peak MiB",
            "executor CPU s/M",
            "executor peak MiB",
        ],
        rows,
    )
    lines += [
        "",
        "End-to-end latency (producer ack -> count visible in Cassandra), after a 10 s warm-up:",
    ]
    rows = []
    live_rows = [(label, live) for label, live in report.latency.items()]
    best = report.best_live()
    if best is not None and best is not report.latency.get("pipeline"):
        live_rows.append(("pipeline near max", best))
    for label, live in live_rows:
        lat = live.latency_steady
        rows.append(
            [
                NAMES.get(label, label),
                _rate(live.achieved_rate),
                _s(lat.p50_s),
                _s(lat.p95_s),
                _s(lat.p99_s),
                _s(lat.max_s),
                _s(live.latency.p99_s),
                "yes" if live.kept_up else "NO",
                "-" if live.exactness is None else ("yes" if live.exactness.exact else "NO"),
            ]
        )
    lines += text_table(
        ["contender", "rate", "p50", "p95", "p99", "max", "p99 incl. warm-up", "kept up", "exact"], rows
    )
    if report.search:
        lines += ["", "Pipeline live-rate search (>= 60 s per step; kept up = no growing lag):"]
        rows = [
            [
                _rate(s.target_rate),
                _rate(s.achieved_rate),
                f"{s.lag.slope_per_s:+,.0f}/s",
                f"{s.lag.final:,}",
                _s(s.latency_steady.p99_s),
                "yes" if s.kept_up else "NO",
                _cpu(s, "executor"),
            ]
            for s in report.search
        ]
        # The executor's CPU per event once the drain has compiled its code: what an executor that
        # lives for days pays, where the drain's figure includes a fresh JVM's compilation.
        lines += text_table(
            ["target", "achieved", "lag trend", "final lag", "p99", "kept up", "executor CPU s/M (warm)"],
            rows,
        )
        lines.append(f"  largest live rate kept up with: {_rate(best.achieved_rate if best else None)}")
        if best and (ceiling := report.generator_ceiling()) is not None:
            lines.append(
                f"  (the generator sent {_rate(ceiling.achieved_rate)} of {_rate(ceiling.target_rate)} "
                "asked, beside the pipeline on the same cores, and the pipeline kept up with all of it: "
                "its own limit is higher, and unmeasured)"
            )
    pipeline = report.drains.get("pipeline")
    if pipeline and pipeline.progress and pipeline.progress.trigger_ms:
        p = pipeline.progress
        shares = ", ".join(f"{k} {v:.0%}" for k, v in p.shares().items() if v >= 0.005)
        lines += [
            "",
            f"Where the pipeline's drain went (Spark query progress, {p.batches} batches, "
            f"{p.trigger_ms / 1000:.1f} s of triggers): {shares}",
        ]
    if pipeline and pipeline.profile:
        lines += ["", *_profile_lines(pipeline.profile, pipeline.resources.get("driver"))]
    if report.soak and report.soak.driver_heap:
        lines += ["", *_heap_lines(report.soak.driver_heap)]
    lines += ["", "Targets (issue 13):"]
    lines += text_table(
        ["target", "goal", "measured", "verdict"],
        [[t.name, t.target, t.measured, _mark(t.met)] for t in report.targets],
        left=4,
    )
    for error in report.errors:
        lines.append(f"ERROR: {error}")
    return "\n".join(lines)
