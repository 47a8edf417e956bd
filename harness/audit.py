"""The main job: start the stack, run a workload through the pipeline (with a restart), judge the counts.

Prints expected against counted per site and a verdict; exit status 0 only when the verdict is valid.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.checker import Verdict
from harness.docker_engine import ensure_engine
from harness.images import ensure_images
from harness.snapshot import SinkSnapshot
from harness.stack import Stack
from harness.trial import Trial
from harness.versions import Versions
from harness.workload import WorkloadSpec

START_MS = 1_767_225_600_000


@dataclass(frozen=True)
class AuditOptions:
    versions: Versions
    out: Path
    seed: int
    events: int
    sites: int
    malformed_fraction: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    Versions.add_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path(".tally/audit"), help="where logs and history go")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=20_000, help="events per phase (two phases)")
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--malformed-fraction", type=float, default=0.02)


def options(args: argparse.Namespace) -> AuditOptions:
    return AuditOptions(
        versions=Versions.from_env().with_arguments(args),
        out=args.out,
        seed=args.seed,
        events=args.events,
        sites=args.sites,
        malformed_fraction=args.malformed_fraction,
    )


def step(message: str, started: float) -> None:
    print(f"[audit {time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def per_site_table(trial: Trial, snapshot: SinkSnapshot) -> str:
    late = {position for position in snapshot.late}
    expected = Counter[str]()
    for op in trial.history.acknowledged():
        if op.kind == "valid" and op.site_id and op.position not in late:
            expected[op.site_id] += 1
    counted = Counter[str]()
    for (site, _), views in snapshot.counts.items():
        counted[site] += views
    lines = [f"{'site':<12} {'expected':>9} {'counted':>9} {'diff':>6}"]
    for site in sorted(set(expected) | set(counted)):
        diff = counted[site] - expected[site]
        mark = "" if diff == 0 else "  <-"
        lines.append(f"{site:<12} {expected[site]:>9} {counted[site]:>9} {diff:>+6}{mark}")
    lines.append(f"{'total':<12} {sum(expected.values()):>9} {sum(counted.values()):>9}")
    return "\n".join(lines)


def run(opts: AuditOptions) -> int:
    started = time.monotonic()
    ensure_engine()
    images = ensure_images(opts.versions)
    opts.out.mkdir(parents=True, exist_ok=True)
    workdir = opts.out / time.strftime("%Y%m%d-%H%M%S")
    stack = Stack(opts.versions, images, workdir.resolve())
    step(f"starting {opts.versions.label()}", started)
    info = stack.start()
    try:
        trial = Trial(info, "audit", max_offsets_per_trigger=10_000)
        try:
            verdict = _exercise(trial, opts, started)
            print(per_site_table(trial, trial.snapshot()))
            print(verdict.explain())
            print(trial.diagnosis())
        finally:
            trial.close()
    finally:
        stack.close()
    step(
        f"verdict: {'VALID' if verdict.valid else 'INVALID' if verdict.valid is False else 'UNKNOWN'}",
        started,
    )
    return 0 if verdict.valid else 1


def _exercise(trial: Trial, opts: AuditOptions, started: float) -> Verdict:
    def workload(phase: int) -> WorkloadSpec:
        return WorkloadSpec(
            seed=opts.seed * 100 + phase,
            events=opts.events,
            sites=opts.sites,
            start_ms=START_MS + phase * 3 * 60_000,
            spread_ms=5 * 60_000,
            malformed_fraction=opts.malformed_fraction,
        )

    sent = trial.produce(workload(0))
    step(f"produced {sent.acknowledged}/{sent.attempted} acknowledged at {sent.rate:,.0f}/s", started)
    driver = trial.start_driver()
    step(f"driver {driver.name} submitted to {trial.stack.spark_master}", started)
    trial.wait_consumed()
    step("phase 1 consumed; stopping the driver gracefully (SIGTERM)", started)
    code = driver.stop()
    step(f"driver exited {code}; producing phase 2 while it is down", started)
    sent = trial.produce(workload(1))
    step(f"produced {sent.acknowledged}/{sent.attempted} acknowledged", started)
    trial.start_driver()
    step("restarted from the checkpoint", started)
    trial.wait_consumed()
    step("phase 2 consumed; checking Cassandra against the ledger", started)
    return trial.verdict()
