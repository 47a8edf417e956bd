"""Samples the pipeline driver's live heap during the soak: the host's jcmd, attached by host pid to
the JVM in the driver's container, prints a class histogram after a full GC.

Why a full GC: between collections a heap's "used" is mostly garbage not collected yet, and says
nothing about a leak; what survives a full GC is what the driver keeps. The price: each histogram
stops the driver for that full GC (a few hundred MiB to mark) and the walk of the heap, so samples
are minutes apart, and only the soak takes them: the latency and rate phases are never paused.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from docker.models.containers import Container

from harness.bench.heap import DriverHeap, HeapSample, Histogram, driver_heap, failure_reason, parse_histogram
from harness.eventually import Periodic

log = logging.getLogger("harness.bench")

# A histogram of a few hundred MiB takes seconds; minutes mean a stuck attach or a stuck JVM.
JCMD_TIMEOUT_S = 120.0


def java_pid(top: Mapping[str, Any]) -> int:
    """The host pid of the container's one `java` process, from `docker top` with `-eo pid,comm`
    (Docker lists host pids; the driver container also runs python3, and spark-submit's launcher
    JVM is gone once the query runs)."""
    titles = list(top.get("Titles") or [])
    pid, comm = titles.index("PID"), titles.index("COMMAND")
    processes = [row for row in top.get("Processes") or [] if row[comm] == "java"]
    if len(processes) != 1:
        seen = ", ".join(f"{row[pid]} {row[comm]}" for row in top.get("Processes") or [])
        raise LookupError(f"{len(processes)} java processes in the driver's container: {seen or 'none'}")
    return int(processes[0][pid])


class HistogramSource(Protocol):
    def histogram(self) -> str: ...


class DriverJvm:
    """The JVM of a driver container, as the host's jcmd sees it."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def histogram(self) -> str:
        pid = java_pid(self.container.top(ps_args="-eo pid,comm"))
        result = subprocess.run(
            ["jcmd", str(pid), "GC.class_histogram"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=JCMD_TIMEOUT_S,
            check=False,
        )
        # The pid line goes to stdout, an attach failure's exception to stderr.
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise RuntimeError(f"jcmd {pid} exited {result.returncode}: {failure_reason(output)}")
        return output


class HeapSampler:
    """A histogram at `start`, then every `interval_s` in a thread until `stop`; the run takes the
    last with `sample` once the driver is at rest again. Keeps the first and the latest histogram."""

    def __init__(
        self, source: HistogramSource, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._periodic = Periodic(self.sample, interval_s, name="bench-heap", log=log)
        self.samples: list[HeapSample] = []
        self.first: tuple[str, Histogram] | None = None
        self.last: tuple[str, Histogram] | None = None

    def start(self) -> HeapSampler:
        self.sample()
        self._periodic.start()
        return self

    def stop(self) -> None:
        self._periodic.stop(timeout_s=JCMD_TIMEOUT_S + 60)

    def sample(self) -> None:
        with self._lock:
            began = self._clock()
            at = round(began - self._started, 1)
            try:
                text = self._source.histogram()
                histogram = parse_histogram(text)
            except Exception as error:  # an unmeasured sample, never a failed soak
                reason = f"{type(error).__name__}: {error}"
                self.samples.append(HeapSample(at, None, round(self._clock() - began, 2), reason))
                log.warning("driver heap at %.0f s not measured: %s", at, reason)
                return
            self.samples.append(HeapSample(at, histogram.bytes, round(self._clock() - began, 2)))
            if self.first is None:
                self.first = (text, histogram)
            self.last = (text, histogram)

    def report(self, folder: Path) -> DriverHeap:
        """The series and its verdict; the first and last histograms go to `folder` as printed."""
        files = []
        for name, kept in (("first", self.first), ("last", self.last)):
            if kept is not None:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"histogram-{name}.txt"
                path.write_text(kept[0])
                files.append(str(path))
        return driver_heap(
            self.samples,
            self.first[1] if self.first else None,
            self.last[1] if self.last else None,
            files,
        )
