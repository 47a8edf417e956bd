"""Runs the benchmark on one stack: preload, the ceiling, three drains, live phases, the report.

Order matters on a 2-core machine: one consumer at a time, and the pipeline last, so that it goes
on from its drain into the live phases (latency, rate search, soak) on the same topic.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import docker
from cassandra.cluster import Session
from tqdm import tqdm

from harness.bench.analysis import memory_growth, summarize_progress
from harness.bench.contenders import (
    CONTENDERS,
    Contender,
    Counts,
    PipelineContender,
    SparkContender,
    Tuning,
)
from harness.bench.executor_recorder import ExecutorRecorder
from harness.bench.heap_sampler import DriverJvm, HeapSampler
from harness.bench.kafka_perf import consumer_perf
from harness.bench.latency import kept_up, lag_trend, latency_stats
from harness.bench.ledger import Ledger, compare
from harness.bench.loadgen import Backlog, LiveLoad, Shape, preload
from harness.bench.resources import ContainerProbe, Monitor, Usage
from harness.bench.results import Ceiling, Drain, Generator, Live, Machine, Report, judge
from harness.bench.search import SearchPolicy, Step, next_rate
from harness.checker.sink_reader import cassandra_session
from harness.eventually import ConvergenceTimeout, Periodic, eventually
from harness.stack.kafka_admin import create_topic, end_offsets
from harness.stack.services import StackInfo
from harness.stack.versions import Versions

log = logging.getLogger("harness.bench")

POLL_S = 0.1  # Cassandra sampling interval in live phases: the latency resolution
DRAIN_POLL_S = 0.25
PROGRESS_EVERY_S = 15.0
CATCH_UP_S = 120.0  # after a live phase, how long a consumer may take to show every event


@dataclass(frozen=True)
class BenchOptions:
    """What the benchmark was asked to run: made from the command line, which holds the defaults."""

    versions: Versions
    out: Path
    events: int
    partitions: int
    sites: int
    producers: int
    contenders: tuple[str, ...]
    latency_rate: float
    latency_seconds: float
    search_steps: int
    search_seconds: float
    reference_latency_seconds: float
    soak_minutes: float
    heap_interval_minutes: float
    drain_timeout_s: float
    tuning: Tuning


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        log.info("%6.1fs %s", time.monotonic() - self.started, message)


class Poller:
    """Samples a contender's Cassandra total every POLL_S in a thread: the visibility curve."""

    def __init__(self, total: Callable[[], int], baseline: int) -> None:
        self._total = total
        self._baseline = baseline
        self.samples: list[tuple[float, int]] = []
        self._periodic = Periodic(self._sample, POLL_S, name="bench-poller", log=log)

    def start(self) -> Poller:
        self._periodic.start()
        return self

    @property
    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def _sample(self) -> None:
        try:
            value = self._total() - self._baseline
        except Exception:  # a slow or failed read is a missing sample, not a failed phase
            return
        self.samples.append((time.monotonic(), value))

    def stop(self) -> list[tuple[float, int]]:
        self._periodic.stop(timeout_s=10)
        return self.samples


class Bench:
    def __init__(self, opts: BenchOptions, info: StackInfo, session: Session, clock: Clock) -> None:
        self.opts = opts
        self.info = info
        self.session = session
        self.clock = clock
        self.shape = Shape(sites=opts.sites)
        self.run_id = uuid.uuid4().hex[:6]
        self.monitor = Monitor().start()
        for role in ("spark-worker", "kafka", "cassandra"):
            self.monitor.watch(_role(role), ContainerProbe(info.containers[role]))
        self.load = LiveLoad()
        self.report = Report(machine=machine(opts.versions), settings=settings(opts))

    def close(self) -> None:
        self.load.close()
        self.monitor.close()

    # -- the backlog -------------------------------------------------------------------------

    def preload(self, topic: str) -> Ledger:
        opts = self.opts
        create_topic(self.info.bootstrap_servers, topic, opts.partitions)
        self.clock.say(f"pre-loading {opts.events:,} events into {topic} with {opts.producers} producers")
        spread = 5 * self.shape.window_ms
        result = preload(
            Backlog(
                self.info.bootstrap_servers,
                topic,
                opts.partitions,
                opts.events,
                self.shape,
                start_ms=int(time.time() * 1000) - spread,
                spread_ms=spread,
                processes=opts.producers,
            )
        )
        self.report.generator = Generator(
            events=result.ledger.total,
            seconds=round(result.seconds, 2),
            rate=round(result.rate),
            processes=result.processes,
            indeterminate=result.ledger.indeterminate,
        )
        self.clock.say(
            f"generator: {result.ledger.total:,} acknowledged in {result.seconds:.1f} s = "
            f"{result.rate:,.0f} events/s ({result.ledger.indeterminate} indeterminate)"
        )
        return result.ledger

    def ceiling(self, topic: str, events: int) -> None:
        self.clock.say("ceiling: Kafka's ConsumerPerformance on the topic, inside the broker's container")
        perf = consumer_perf(
            self.info.containers["kafka"],
            self.opts.versions.kafka,
            self.info.bootstrap_servers,
            topic,
            events,
        )
        self.report.ceiling = Ceiling(
            records=perf.records,
            seconds=perf.fetch_seconds,
            rate=round(perf.fetch_rate),
            rate_with_join=round(perf.rate),
            mb_per_s=perf.mb_per_s,
        )
        self.clock.say(
            f"ceiling: {perf.records:,} records in {perf.fetch_seconds:.2f} s = {perf.fetch_rate:,.0f}/s "
            f"({perf.mb_per_s:.0f} MB/s; {perf.rate:,.0f}/s with the group join)"
        )

    def contender(self, label: str, topic: str) -> tuple[Contender, Counts]:
        keyspace = f"bench_{label}_{self.run_id}_{len(self.report.drains) + len(self.report.latency)}"
        contender = CONTENDERS[label](
            self.info, topic, keyspace, self.info.shared_dir / keyspace, self.opts.tuning
        )
        return contender, Counts(self.session, keyspace, contender.table)

    def drain(self, label: str, topic: str, ledger: Ledger) -> tuple[Contender, Counts] | None:
        """Start `label` on the backlog; time it until its Cassandra counts equal the ledger."""
        contender, counts = self.contender(label, topic)
        target = end_offsets(self.info.bootstrap_servers, topic)
        self.clock.say(f"{label}: starting on the backlog ({ledger.total:,} events)")
        launched = time.monotonic()
        contender.start()
        ready = time.monotonic()
        self._watch(label, contender)
        # Costs are counted from the moment it consumes: start-up is reported as a time of its own.
        cpu0 = self.monitor.cpu()
        recorder = self._recorder() if label == "pipeline" else None
        self.clock.say(f"{label}: consuming after {ready - launched:.1f} s")
        try:
            done = self._wait_drained(label, contender, counts, target, ledger, launched)
            cpu1 = self.monitor.cpu()
            profile = recorder.stop(ledger.total) if recorder else None
            # Inside: a Cassandra that stays unreadable fails this drain, not the whole run.
            exactness = compare(ledger, counts.rows())
        except Exception as error:
            self.report.errors.append(f"{label} drain: {error}")
            self.clock.say(f"{label}: drain failed: {error}\n{contender.diagnosis()}")
            self._stop(label, contender)
            return None
        seconds = done - ready
        progress = None
        if isinstance(contender, SparkContender):
            progress = summarize_progress(contender.progress())
        drain = Drain(
            contender=label,
            events=ledger.total,
            startup_s=round(ready - launched, 2),
            seconds=round(seconds, 2),
            rate=round(ledger.total / seconds),
            rate_from_launch=round(ledger.total / (done - launched)),
            exactness=exactness,
            resources=self._usage(label, cpu0, cpu1, ready, done),
            progress=progress,
            profile=profile,
        )
        self.report.drains[label] = drain
        self.clock.say(
            f"{label}: drained {ledger.total:,} in {seconds:.1f} s = {drain.rate:,.0f} events/s "
            f"({drain.rate_from_launch:,.0f}/s from launch); {exactness.explain().splitlines()[0]}"
        )
        return contender, counts

    def _wait_drained(
        self,
        label: str,
        contender: Contender,
        counts: Counts,
        target: dict[int, int],
        ledger: Ledger,
        launched: float,
    ) -> float:
        """Until every offset is committed and Cassandra shows the ledger's total; returns when."""
        deadline = launched + self.opts.drain_timeout_s
        total = sum(target.values())
        last_say = time.monotonic()
        # A bar on a terminal only; the lines below say the same in a log.
        bar = tqdm(total=total, desc=f"{label} drain", unit="offset", unit_scale=True, disable=None)

        def drained(seen: dict[int, int]) -> bool:
            nonlocal last_say
            done = sum(min(seen.get(p, 0), end) for p, end in target.items())
            bar.update(done - bar.n)
            if done >= total:
                return True
            now = time.monotonic()
            if now - last_say >= PROGRESS_EVERY_S:
                self.clock.say(
                    f"{label}: {done / total:.0%} of the backlog committed after {now - launched:.0f} s"
                    + (" (a Spark batch commits all of its offsets at once)" if done == 0 else "")
                )
                last_say = now
            return False

        with bar:
            eventually(
                contender.consumed,
                drained,
                expected=f"{label} to commit every offset of the backlog, {target}",
                timeout_s=deadline - time.monotonic(),
                abort=contender.gone,
                interval_s=DRAIN_POLL_S,
            )
        # Committed means written; this wait only guards a sink that commits before writing, and
        # if it times out the comparison with the ledger says what is missing.
        with suppress(ConvergenceTimeout):
            eventually(
                counts.total,
                lambda n: n >= ledger.total,
                expected=f"{label}'s counts to add up to the ledger's {ledger.total:,}",
                timeout_s=deadline - time.monotonic(),
                interval_s=DRAIN_POLL_S,
            )
        return time.monotonic()

    # -- live phases -------------------------------------------------------------------------

    def live(
        self,
        label: str,
        contender: Contender,
        counts: Counts,
        topic: str,
        ledger: Ledger,
        rate: float,
        seconds: float,
        name: str,
    ) -> Live:
        """Send at `rate` for `seconds`; sample Cassandra meanwhile; wait until all is visible."""
        baseline = counts.total()
        poller = Poller(counts.total, baseline).start()
        cpu0 = self.monitor.cpu()
        began = time.monotonic()
        self.clock.say(f"{label}: {name}: {rate:,.0f} events/s for {seconds:.0f} s")
        result = self.load.run(
            self.info.bootstrap_servers,
            topic,
            self.opts.partitions,
            rate,
            seconds,
            self.shape,
            prefix=f"{name}-",
        )
        ledger.add(result.ledger)
        expected = result.ledger.total
        # One that does not catch up is measured as such below (converged, kept_up), not raised.
        with suppress(ConvergenceTimeout):
            eventually(
                lambda: poller.latest,
                lambda n: n >= expected,
                expected=f"{label} to show the {expected:,} events of {name}",
                timeout_s=CATCH_UP_S,
                abort=contender.gone,
                interval_s=POLL_S,
            )
        ended = time.monotonic()
        samples = poller.stop()
        cpu1 = self.monitor.cpu()
        converged = poller.latest >= expected
        warm = result.started + min(10.0, 0.2 * seconds)
        trend = lag_trend(result.acked_curve, samples, warm, result.stopped)
        kept = converged and kept_up(trend, result.achieved_rate)
        exactness = compare(ledger, counts.rows()) if converged else None
        progress = None
        if isinstance(contender, SparkContender):
            last = _last_batch_before(contender, began)
            progress = summarize_progress(contender.progress(), after_batch=last)
        driver_series = self.monitor.series(f"{label}.driver", result.started, result.stopped)
        live = Live(
            contender=label,
            target_rate=rate,
            achieved_rate=round(result.achieved_rate),
            seconds=round(result.stopped - result.started, 1),
            events=expected,
            latency=latency_stats(result.acked_curve, samples),
            latency_steady=latency_stats(result.acked_curve, samples, since=warm),
            warmup_s=round(warm - result.started, 1),
            lag=trend,
            kept_up=kept,
            converged=converged,
            exactness=exactness,
            resources=self._usage(label, cpu0, cpu1, began, ended),
            driver_memory=memory_growth(driver_series),
            progress=progress,
        )
        self._save_curves(label, name, result.acked_curve, samples)
        lat = live.latency_steady
        self.clock.say(
            f"{label}: {name}: achieved {live.achieved_rate:,.0f}/s, p50 {_f(lat.p50_s)} p95 {_f(lat.p95_s)} "
            f"p99 {_f(lat.p99_s)}, lag trend {trend.slope_per_s:+,.0f}/s -> "
            f"{'kept up' if kept else 'did NOT keep up'}"
            + ("" if exactness is None else f"; {exactness.explain().splitlines()[0]}")
        )
        return live

    def search(self, contender: Contender, counts: Counts, topic: str, ledger: Ledger) -> None:
        """Largest live rate kept up with: the fixed-rate phase is the first step."""
        first = self.report.latency.get("pipeline")
        drain = self.report.drains.get("pipeline")
        hint = 0.8 * drain.rate if drain else 2 * self.opts.latency_rate
        steps = [_step(first)] if first else []
        policy = SearchPolicy(start=hint, max_steps=self.opts.search_steps + len(steps))
        while (rate := next_rate(steps, policy)) is not None:
            step = self.live(
                "pipeline",
                contender,
                counts,
                topic,
                ledger,
                rate,
                self.opts.search_seconds,
                f"step{len(steps)}",
            )
            self.report.search.append(step)
            steps.append(_step(step))
            if not step.converged:
                self.report.errors.append(
                    f"pipeline did not catch up within {CATCH_UP_S:.0f} s after {rate:,.0f}/s"
                )
                break

    def at_latency_rate(
        self,
        contender: PipelineContender,
        counts: Counts,
        topic: str,
        ledger: Ledger,
        seconds: float,
        name: str,
    ) -> Live:
        """The pipeline at the latency phase's fixed rate for `seconds` (the latency phase, the soak)."""
        return self.live("pipeline", contender, counts, topic, ledger, self.opts.latency_rate, seconds, name)

    def soak(self, contender: PipelineContender, counts: Counts, topic: str, ledger: Ledger) -> Live:
        """The fixed rate for --soak-minutes, with the driver's live heap sampled after full GCs.

        The first and the last histogram are taken with the driver at rest, after the catch-up of
        the phase before and of the soak itself, so the two compare the same state; the ones
        between run under load.
        """
        opts = self.opts
        self.clock.say(f"pipeline: driver heap histograms every {opts.heap_interval_minutes:g} min")
        sampler = HeapSampler(DriverJvm(contender.container()), opts.heap_interval_minutes * 60).start()
        try:
            live = self.at_latency_rate(contender, counts, topic, ledger, opts.soak_minutes * 60, "soak")
        finally:
            sampler.stop()
        sampler.sample()
        heap = sampler.report(self.info.shared_dir.parent / "heap")
        growth = heap.growth
        self.clock.say(
            f"pipeline: driver heap after full GC not measured: {heap.not_measured}"
            if growth is None
            else f"pipeline: driver heap after full GC {growth.first_mb:,.0f} -> {growth.last_mb:,.0f} MiB "
            f"({growth.growth_pct:+.1f}%) over {growth.minutes:.1f} min"
        )
        return replace(live, driver_heap=heap)

    def reference_latency(self, label: str) -> None:
        """The seed's or the plain consumer's latency at the fixed rate, on a fresh topic."""
        topic = f"bench-{self.run_id}-{label}-live"
        create_topic(self.info.bootstrap_servers, topic, self.opts.partitions)
        contender, counts = self.contender(label, topic)
        ledger = Ledger()
        contender.start()
        self._watch(label, contender)
        try:
            # A short warm-up, so the measured phase does not include the first batch's start.
            self.live(label, contender, counts, topic, ledger, self.opts.latency_rate, 3.0, "warm-up")
            self.report.latency[label] = self.live(
                label,
                contender,
                counts,
                topic,
                ledger,
                self.opts.latency_rate,
                self.opts.reference_latency_seconds,
                "latency",
            )
        finally:
            self._stop(label, contender)

    # -- helpers -----------------------------------------------------------------------------

    def _save_curves(
        self, label: str, name: str, acked: list[tuple[float, int]], visible: list[tuple[float, int]]
    ) -> None:
        """The two curves behind a phase's latency and lag, for a second look (`curves/*.json`)."""
        folder = self.info.shared_dir.parent / "curves"
        folder.mkdir(parents=True, exist_ok=True)
        data = {
            "acked": [[round(t, 4), n] for t, n in acked],
            "visible": [[round(t, 4), n] for t, n in visible],
        }
        (folder / f"{label}-{name}.json").write_text(json.dumps(data))

    def _recorder(self) -> ExecutorRecorder:
        worker = docker.from_env().containers.get(self.info.containers["spark-worker"])
        return ExecutorRecorder(worker, self.info.shared_dir.parent / "profile").start()

    def _watch(self, label: str, contender: Contender) -> None:
        for role, probe in contender.probes().items():
            self.monitor.watch(f"{label}.{role}", probe)

    def _stop(self, label: str, contender: Contender) -> None:
        code = contender.stop()
        self.monitor.forget(f"{label}.driver")
        self.clock.say(f"{label}: stopped (exit {code})")

    def _usage(
        self, label: str, cpu0: dict[str, float], cpu1: dict[str, float], start: float, end: float
    ) -> dict[str, Usage]:
        """By role: the contender's own driver, the executor (Spark contenders), Kafka, Cassandra."""
        usage = self.monitor.usage(cpu0, cpu1, start, end)
        out = {}
        for role, value in usage.items():
            if role == f"{label}.driver":
                out["driver"] = value
            elif role == "executor" and label != "python":
                out["executor"] = value
            elif "." not in role and role != "executor":
                out[role] = value
        return out

    # -- the whole run -----------------------------------------------------------------------

    def run(self) -> Report:
        opts = self.opts
        topic = f"bench-{self.run_id}"
        ledger = self.preload(topic)
        try:
            self.ceiling(topic, ledger.total)
        except Exception as error:
            self.report.errors.append(f"ceiling: {error}")
            self.clock.say(f"ceiling failed: {error}")
        pipeline: tuple[Contender, Counts] | None = None
        for label in opts.contenders:
            started = self.drain(label, topic, ledger)
            if started is None:
                continue
            if label == "pipeline":
                pipeline = started
            else:
                self._stop(label, started[0])
        if pipeline is not None:
            contender, counts = pipeline
            assert isinstance(contender, PipelineContender)
            try:
                if opts.latency_seconds > 0:
                    self.report.latency["pipeline"] = self.at_latency_rate(
                        contender, counts, topic, ledger, opts.latency_seconds, "latency"
                    )
                if opts.search_steps > 0:
                    self.search(contender, counts, topic, ledger)
                if opts.soak_minutes > 0:
                    self.report.soak = self.soak(contender, counts, topic, ledger)
            finally:
                self._stop("pipeline", contender)
        if opts.reference_latency_seconds > 0:
            for label in opts.contenders:
                if label != "pipeline":
                    try:
                        self.reference_latency(label)
                    except Exception as error:
                        self.report.errors.append(f"{label} latency: {error}")
                        self.clock.say(f"{label}: latency phase failed: {error}")
        return self.report


def _last_batch_before(contender: SparkContender, moment: float) -> int:
    """Id of the last batch that started before `moment` (monotonic), from the progress log."""
    wall = time.time() - (time.monotonic() - moment)
    last = -1
    for report in contender.progress():
        try:
            started = datetime.fromisoformat(str(report.get("timestamp", "")).replace("Z", "+00:00"))
        except ValueError:
            continue
        if started.timestamp() < wall:
            last = max(last, int(report.get("batchId", last)))
    return last


def _step(live: Live) -> Step:
    return Step(live.target_rate, live.achieved_rate, live.kept_up, live.lag.slope_per_s)


def _role(container_role: str) -> str:
    return "executor" if container_role == "spark-worker" else container_role


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def machine(versions: Versions) -> Machine:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return Machine(
        cores=os.cpu_count() or 0,
        memory_gib=round(pages / 2**30, 1),
        kernel=platform.release(),
        versions=versions.label(),
    )


def settings(opts: BenchOptions) -> dict[str, object]:
    t = opts.tuning
    return {
        "events": opts.events,
        "partitions": opts.partitions,
        "sites": opts.sites,
        "producers": opts.producers,
        "contenders": list(opts.contenders),
        "latency_rate": opts.latency_rate,
        "latency_seconds": opts.latency_seconds,
        "search_steps": opts.search_steps,
        "search_seconds": opts.search_seconds,
        "reference_latency_seconds": opts.reference_latency_seconds,
        "soak_minutes": opts.soak_minutes,
        "heap_interval_minutes": opts.heap_interval_minutes,
        "trigger_interval": t.trigger_interval,
        "max_offsets_per_trigger": t.max_offsets_per_trigger,
        "window": t.window,
        "allowed_lateness": t.allowed_lateness,
        "pipeline_args": list(t.pipeline_args),
        "submit_args": list(t.submit_args),
        "python_flush_interval_s": t.python_flush_interval_s,
        "pipeline_dir": str(t.pipeline_dir) if t.pipeline_dir else None,
        "executor_jar": str(t.executor_jar) if t.executor_jar else None,
        "latency_poll_s": POLL_S,
    }


def bench(opts: BenchOptions, info: StackInfo, clock: Clock) -> Report:
    with cassandra_session(info.cassandra_nodes, info.cassandra_port) as session:
        runner = Bench(opts, info, session, clock)
        try:
            report = runner.run()
        finally:
            runner.close()
    report.targets = judge(report, opts.latency_rate)
    report.wall_seconds = round(time.monotonic() - clock.started, 1)
    return report
