"""`python -m harness.bench`: the benchmark on the real stack; a table, bench.json and bench.png.

Exit status 0 when the run completed and every contender's counts were exact (targets are reported,
not enforced: a missed target is a finding, an inexact count is a failure).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from harness.bench.contenders import CONTENDERS, DRIVER_JIT, Tuning
from harness.bench.plot import plot
from harness.bench.results import TARGET_BACKLOG, Report, render
from harness.bench.run import BenchOptions, Clock, bench
from harness.logs import configure
from harness.stack.versions import Versions

log = logging.getLogger("harness.bench")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__)
    Versions.add_arguments(p)
    p.add_argument("--out", type=Path, default=Path(".tally/bench"), help="bench.json, bench.png, logs")
    p.add_argument(
        "--events", type=int, default=TARGET_BACKLOG, help="backlog size (the targets are set on 5M)"
    )
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--sites", type=int, default=100)
    p.add_argument("--producers", type=int, default=2, help="generator processes for the backlog")
    p.add_argument(
        "--contenders",
        default="python,seed,pipeline",
        help="comma-separated, in drain order; the pipeline always drains last",
    )
    p.add_argument("--latency-rate", type=float, default=10_000.0, help="events/s of the latency phases")
    p.add_argument("--latency-seconds", type=float, default=60.0, help="the pipeline's fixed-rate phase")
    p.add_argument("--search-steps", type=int, default=3, help="live-rate steps after the fixed-rate one")
    p.add_argument("--search-seconds", type=float, default=60.0, help="length of each step (>= 60)")
    p.add_argument(
        "--reference-latency-seconds",
        type=float,
        default=30.0,
        help="seed and plain consumer at the fixed rate, each on a fresh topic (0: skip)",
    )
    p.add_argument(
        "--soak-minutes",
        type=float,
        default=0.0,
        help="an extra fixed-rate run for the driver's memory (the issue's target: 30)",
    )
    p.add_argument(
        "--heap-interval-minutes",
        type=float,
        default=5.0,
        help="minutes between the driver's heap histograms in the soak (each forces a full GC)",
    )
    p.add_argument("--trigger-interval", default="1 second", help="Spark contenders' processingTime")
    p.add_argument("--max-offsets-per-trigger", type=int, default=None)
    p.add_argument("--python-flush-interval-s", type=float, default=1.0)
    p.add_argument(
        "--pipeline-args",
        default="",
        help="extra `python -m pipeline run` options, e.g. '--shuffle-partitions 2'",
    )
    p.add_argument(
        "--submit-args",
        default=shlex.join(DRIVER_JIT),
        help="spark-submit options for both Spark contenders (default: %(default)s; '' for the JVM's own)",
    )
    p.add_argument(
        "--pipeline-dir", type=Path, default=None, help="run the pipeline package from here (A/B a change)"
    )
    p.add_argument(
        "--executor-jar",
        type=Path,
        default=None,
        help="put this jar first on the pipeline executor's class path (A/B a JVM-side change)",
    )
    p.add_argument("--drain-timeout", type=float, default=900.0, help="seconds per contender")
    return p


def options(args: argparse.Namespace) -> BenchOptions:
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contenders {sorted(unknown)}: choose from {sorted(CONTENDERS)}")
    if args.executor_jar is not None and not args.executor_jar.is_file():
        raise SystemExit(f"--executor-jar {args.executor_jar}: no such file")
    if args.executor_jar is not None and "pipeline" not in contenders:
        raise SystemExit("--executor-jar changes the pipeline's executor: add the pipeline to --contenders")
    if args.heap_interval_minutes <= 0:
        raise SystemExit("--heap-interval-minutes must be positive: each histogram pauses the driver")
    # The pipeline goes on into the live phases, so it drains last.
    ordered = [c for c in contenders if c != "pipeline"] + (["pipeline"] if "pipeline" in contenders else [])
    return BenchOptions(
        versions=Versions.from_env().with_arguments(args),
        out=args.out,
        events=args.events,
        partitions=args.partitions,
        sites=args.sites,
        producers=args.producers,
        contenders=tuple(ordered),
        latency_rate=args.latency_rate,
        latency_seconds=args.latency_seconds,
        search_steps=args.search_steps,
        search_seconds=args.search_seconds,
        reference_latency_seconds=args.reference_latency_seconds,
        soak_minutes=args.soak_minutes,
        heap_interval_minutes=args.heap_interval_minutes,
        drain_timeout_s=args.drain_timeout,
        tuning=Tuning(
            trigger_interval=args.trigger_interval,
            max_offsets_per_trigger=args.max_offsets_per_trigger,
            pipeline_args=tuple(shlex.split(args.pipeline_args)),
            submit_args=tuple(shlex.split(args.submit_args)),
            python_flush_interval_s=args.python_flush_interval_s,
            pipeline_dir=args.pipeline_dir,
            executor_jar=args.executor_jar,
        ),
    )


def write_outputs(report: Report, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    table = render(report)
    (out / "bench.txt").write_text(table + "\n")
    (out / "bench.json").write_text(json.dumps(asdict(report), indent=1, default=str) + "\n")
    written = [out / "bench.txt", out / "bench.json"]
    try:
        written.append(plot(report, out / "bench.png"))
    except Exception as error:  # a missing plotting library must not lose the numbers
        log.warning("no plot: %s", error)
    return written


def main(argv: list[str] | None = None) -> int:
    configure()
    opts = options(parser().parse_args(argv))
    from harness.stack.engine import require_engine
    from harness.stack.images import ensure_images
    from harness.stack.services import Stack

    clock = Clock()
    require_engine()
    images = ensure_images(opts.versions)
    workdir = (opts.out / time.strftime("%Y%m%d-%H%M%S")).resolve()
    stack = Stack(opts.versions, images, workdir)
    clock.say(f"starting {opts.versions.label()}; logs in {workdir}")
    info = stack.start()
    try:
        report = bench(opts, info, clock)
    finally:
        stack.close()
    report.wall_seconds = round(time.monotonic() - clock.started, 1)
    written = write_outputs(report, opts.out)
    write_outputs(report, workdir)
    print(render(report))
    clock.say("wrote " + ", ".join(str(p) for p in written))
    exact = all(d.exact for d in report.drains.values()) and all(
        live.exact_or_unknown() for live in (*report.latency.values(), *report.search)
    )
    return 0 if exact and not report.errors else 1


if __name__ == "__main__":
    sys.exit(main())
