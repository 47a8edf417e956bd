"""CPU seconds and resident memory of containers (their cgroup) and host processes (/proc).

Memory is resident anonymous memory (cgroup `rss` / `anon`), not the cgroup's usage: that includes
the page cache of checkpoint and shuffle files, which the kernel gives back when asked.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import docker

from harness.eventually import Periodic

log = logging.getLogger("harness.bench")

CGROUP = Path("/sys/fs/cgroup")
MiB = 1024 * 1024


class Probe(Protocol):
    def cpu_seconds(self) -> float: ...
    def rss_bytes(self) -> int: ...


def _stat_value(path: Path, name: str) -> int:
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    raise KeyError(f"{name} not in {path}")


class ContainerProbe:
    """A container's cgroup: v1 (cpuacct + memory controllers) or v2 (unified)."""

    def __init__(self, container: str) -> None:
        self.container_id = docker.from_env().containers.get(container).id
        self._v1_cpu = self._find("cpuacct", "cpuacct.usage")
        self._v1_mem = self._find("memory", "memory.stat")
        self._v2 = self._find("", "cpu.stat") if self._v1_cpu is None else None
        if self._v1_cpu is None and self._v2 is None:
            raise FileNotFoundError(f"no cgroup found for container {container} under {CGROUP}")

    def _find(self, controller: str, file: str) -> Path | None:
        root = CGROUP / controller if controller else CGROUP
        for candidate in (
            root / "docker" / self.container_id,
            root / "system.slice" / f"docker-{self.container_id}.scope",
        ):
            if (candidate / file).exists():
                return candidate
        return None

    def cpu_seconds(self) -> float:
        if self._v1_cpu is not None:
            return int((self._v1_cpu / "cpuacct.usage").read_text()) / 1e9
        assert self._v2 is not None
        return _stat_value(self._v2 / "cpu.stat", "usage_usec") / 1e6

    def rss_bytes(self) -> int:
        if self._v1_mem is not None:
            return _stat_value(self._v1_mem / "memory.stat", "total_rss")
        assert self._v2 is not None
        return _stat_value(self._v2 / "memory.stat", "anon")


TICK = os.sysconf("SC_CLK_TCK")  # /proc's CPU times are in these ticks


def stat_cpu_seconds(stat: Path) -> float:
    """User and system CPU of a process (`/proc/<pid>/stat`) or one of its threads
    (`/proc/<pid>/task/<tid>/stat`)."""
    # Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class ProcessProbe:
    """A host process (the plain Python consumer)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._last_cpu = 0.0

    def cpu_seconds(self) -> float:
        # Once it has exited, its last reading stands.
        with suppress(FileNotFoundError, ProcessLookupError):
            self._last_cpu = stat_cpu_seconds(Path(f"/proc/{self.pid}/stat"))
        return self._last_cpu

    def rss_bytes(self) -> int:
        try:
            return _stat_value_kb(Path(f"/proc/{self.pid}/status"), "VmRSS:")
        except (FileNotFoundError, ProcessLookupError):
            return 0


def _stat_value_kb(path: Path, name: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1]) * 1024
    raise KeyError(f"{name} not in {path}")


@dataclass(frozen=True)
class Usage:
    """One role over one phase."""

    cpu_seconds: float
    peak_rss_mb: float
    first_rss_mb: float
    last_rss_mb: float

    def per_million(self, events: int) -> float | None:
        return self.cpu_seconds / (events / 1e6) if events else None


class Monitor:
    """Samples the resident memory of every probe once a second; CPU is read at phase boundaries."""

    def __init__(self, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._probes: dict[str, Probe] = {}
        self._series: dict[str, list[tuple[float, int]]] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._periodic = Periodic(self._sample_all, interval_s, name="bench-monitor", log=log)

    def start(self) -> Monitor:
        self._periodic.start()
        return self

    def watch(self, role: str, probe: Probe) -> None:
        with self._lock:
            self._probes[role] = probe
            self._series[role] = []
        self._sample(role, probe)

    def forget(self, role: str) -> None:
        with self._lock:
            self._probes.pop(role, None)

    def cpu(self) -> dict[str, float]:
        with self._lock:
            probes = dict(self._probes)
        out = {}
        for role, probe in probes.items():
            try:
                out[role] = probe.cpu_seconds()
            except OSError:
                continue
        return out

    def series(self, role: str, start: float, end: float) -> list[tuple[float, int]]:
        with self._lock:
            return [(t, v) for t, v in self._series.get(role, []) if start <= t <= end]

    def usage(
        self, cpu_before: Mapping[str, float], cpu_after: Mapping[str, float], start: float, end: float
    ) -> dict[str, Usage]:
        out = {}
        for role, after in cpu_after.items():
            samples = [v for _, v in self.series(role, start, end)]
            if role not in cpu_before or not samples:
                continue
            out[role] = Usage(
                cpu_seconds=round(after - cpu_before[role], 2),
                peak_rss_mb=round(max(samples) / MiB, 1),
                first_rss_mb=round(samples[0] / MiB, 1),
                last_rss_mb=round(samples[-1] / MiB, 1),
            )
        return out

    def _sample(self, role: str, probe: Probe) -> None:
        try:
            value = probe.rss_bytes()
        except OSError:
            return
        with self._lock:
            if role in self._series:
                self._series[role].append((self._clock(), value))

    def _sample_all(self) -> None:
        with self._lock:
            probes = dict(self._probes)
        for role, probe in probes.items():
            self._sample(role, probe)

    def close(self) -> None:
        self._periodic.stop(timeout_s=5)
