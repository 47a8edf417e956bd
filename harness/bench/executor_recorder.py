"""Records where the pipeline executor's CPU goes over its drain: its threads' CPU from the host's
/proc, and a JFR recording of it started and read with the host's JDK tools (jcmd, jfr).

JFR's default settings are made to stay on in production (under 1% overhead); they sample each
running Java thread every 20 ms. Samples cover Java code only: time in native code (the socket
reads, LZ4's) is in the task threads' CPU but in none of their samples.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docker.models.containers import Container

from harness.bench.executor_profile import ExecutorProfile, group_cpu, task_samples, unmeasured
from harness.bench.heap import failure_reason
from harness.bench.resources import stat_cpu_seconds

log = logging.getLogger("harness.bench")

RECORDING = "tally-drain"
IN_CONTAINER = "/tmp/tally-drain.jfr"
TOOL_TIMEOUT_S = 120.0


def executor_pid(top: Mapping[str, Any]) -> int:
    """The host pid of the worker container's executor JVM, from `docker top` with `-eo pid,args`
    (the worker's own JVM is there too): the youngest, should an earlier one still be going away."""
    titles = list(top.get("Titles") or [])
    pid, args = titles.index("PID"), len(titles) - 1
    found = [row for row in top.get("Processes") or [] if "CoarseGrainedExecutorBackend" in row[args]]
    if not found:
        raise LookupError("no executor JVM in the worker's container")
    return max((int(row[pid]) for row in found), key=_started)


def _started(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])


def threads(pid: int) -> tuple[dict[str, float], float]:
    """CPU seconds by thread name (summed over threads that share one), and the process's total."""
    by_name: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            seconds = stat_cpu_seconds(task / "stat")
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended between the listing and the read: "other threads" gets it
        by_name[comm] = by_name.get(comm, 0.0) + seconds
    return by_name, stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def _tool(*command: str) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, errors="replace", timeout=TOOL_TIMEOUT_S, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} exited {result.returncode}: {failure_reason(output)}")
    return result.stdout


class ExecutorRecorder:
    """`start` when the drain starts consuming, `stop` when Cassandra equals the ledger. A profile
    that cannot be taken is reported as unmeasured; it never fails the drain."""

    def __init__(self, container: Container, folder: Path) -> None:
        self.container = container
        self.folder = folder
        self.pid: int | None = None
        self.began = 0.0
        self.first: dict[str, float] = {}
        self.problem: str | None = None

    def start(self) -> ExecutorRecorder:
        try:
            if shutil.which("jcmd") is None or shutil.which("jfr") is None:
                raise FileNotFoundError("the host has no JDK tools (jcmd, jfr)")
            self.pid = executor_pid(self.container.top(ps_args="-eo pid,args"))
            _tool("jcmd", str(self.pid), "JFR.start", f"name={RECORDING}", "settings=default")
            self.first = group_cpu(*threads(self.pid))
        except Exception as error:
            self.problem = f"{type(error).__name__}: {error}"
            log.warning("executor profile not taken: %s", self.problem)
        self.began = time.monotonic()
        return self

    def stop(self, events: int) -> ExecutorProfile:
        if self.problem is not None or self.pid is None:
            return unmeasured(events, self.problem or "not started")
        try:
            last = group_cpu(*threads(self.pid))
            seconds = time.monotonic() - self.began
            _tool("jcmd", str(self.pid), "JFR.stop", f"name={RECORDING}", f"filename={IN_CONTAINER}")
            self.folder.mkdir(parents=True, exist_ok=True)
            kept = self.folder / "executor-drain.jfr"
            # The JVM wrote it inside its container; its root is visible from the host by pid.
            shutil.copyfile(f"/proc/{self.pid}/root{IN_CONTAINER}", kept)
            # 32 frames from the leaf name the part of all but one sample in a thousand.
            printed = _tool(
                "jfr", "print", "--stack-depth", "32", "--events", "jdk.ExecutionSample", str(kept)
            )
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            log.warning("executor profile not taken: %s", reason)
            return unmeasured(events, reason)
        return ExecutorProfile(
            events=events,
            seconds=round(seconds, 1),
            cpu_seconds={g: round(last[g] - self.first.get(g, 0.0), 2) for g in last},
            task_samples=dict(task_samples(printed)),
            recording=str(kept),
        )
