"""The driver's live heap over the soak, from jcmd's class histograms: parse one, diff two, and
the growth between the first and the last (pure; `heap_sampler.py` takes them)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.bench.analysis import fit

MiB = 1024 * 1024
TOP = 15
TOLERANCE_PCT = 5.0  # issue 13: flat is a growth under 5%
# `   12:          3476         416952  java.lang.Class (java.base@17.0.15)`; classes on the class
# path (Spark's) have no module in parentheses.
ROW = re.compile(r"^\s*\d+:\s+(\d+)\s+(\d+)\s+(\S+)")
TOTAL = re.compile(r"^Total\s+(\d+)\s+(\d+)\s*$")
PID_LINE = re.compile(r"^\d+:$")  # jcmd echoes the pid it attached to


@dataclass(frozen=True)
class Histogram:
    """One `GC.class_histogram`: the objects still reachable after a full GC."""

    classes: dict[str, tuple[int, int]]  # class name -> (instances, bytes)
    instances: int
    bytes: int


def parse_histogram(text: str) -> Histogram:
    """jcmd's output -> the histogram; a ValueError that says why when it holds none.

    Rows of one name are summed: a class loaded by several loaders (Spark's generated code gets a
    loader per compilation) is one row per loader, and a copy per loader is what a leak of them
    looks like.
    """
    classes: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        if row := ROW.match(line):
            instances, size, name = int(row[1]), int(row[2]), row[3]
            seen_instances, seen_size = classes.get(name, (0, 0))
            classes[name] = (seen_instances + instances, seen_size + size)
        elif total := TOTAL.match(line.strip()):
            return Histogram(classes, instances=int(total[1]), bytes=int(total[2]))
    raise ValueError(f"no class histogram in jcmd's output: {failure_reason(text)}")


def failure_reason(output: str) -> str:
    """The line of jcmd's output that says why it failed (the exception), not its stack trace."""
    lines = [line.strip() for line in output.splitlines()]
    lines = [line for line in lines if line and not PID_LINE.match(line) and not line.startswith("at ")]
    for line in lines:
        if "Exception" in line or "Error" in line:
            return line
    return lines[-1] if lines else "no output"


@dataclass(frozen=True)
class ClassGrowth:
    """One class between the first and the last histogram."""

    name: str
    instances: int  # at the last
    bytes: int
    instances_growth: int
    bytes_growth: int


def growing_classes(first: Histogram, last: Histogram, top: int = TOP) -> list[ClassGrowth]:
    """The `top` classes whose live bytes grew most, largest first: where to look for an owner."""
    grown = []
    for name in first.classes.keys() | last.classes.keys():
        instances0, bytes0 = first.classes.get(name, (0, 0))
        instances1, bytes1 = last.classes.get(name, (0, 0))
        if bytes1 > bytes0:
            grown.append(ClassGrowth(name, instances1, bytes1, instances1 - instances0, bytes1 - bytes0))
    grown.sort(key=lambda c: (-c.bytes_growth, c.name))
    return grown[:top]


@dataclass(frozen=True)
class HeapSample:
    at_s: float  # since the soak's first sample
    live_bytes: int | None  # the histogram's Total; None: not measured
    jcmd_s: float  # how long jcmd took: a bound on the driver's pause
    error: str | None = None


@dataclass(frozen=True)
class HeapGrowth:
    """The judged part of the series: between the first and the last measured sample."""

    minutes: float
    first_mb: float
    last_mb: float
    growth_pct: float  # the last over the first
    per_10_min_mb: float  # least-squares trend over every measured sample
    flat: bool  # growth_pct under TOLERANCE_PCT


def heap_growth(samples: Sequence[HeapSample]) -> HeapGrowth | None:
    """None with fewer than two measured samples.

    The first and the last decide, not a fit: after a full GC the live bytes do not move in GC
    steps as a heap's "used" does, so the two ends are comparable. The trend shows the way between.
    """
    measured = [(s.at_s, s.live_bytes) for s in samples if s.live_bytes is not None]
    if len(measured) < 2:
        return None
    (t0, first), (t1, last) = measured[0], measured[-1]
    slope, _ = fit([(t, size / MiB) for t, size in measured])
    pct = 100 * (last - first) / first
    return HeapGrowth(
        minutes=round((t1 - t0) / 60, 2),
        first_mb=round(first / MiB, 1),
        last_mb=round(last / MiB, 1),
        growth_pct=round(pct, 2),
        per_10_min_mb=round(slope * 600, 2),
        flat=pct < TOLERANCE_PCT,
    )


@dataclass(frozen=True)
class DriverHeap:
    """What the soak showed of the driver's heap; `bench.json` carries it as is."""

    samples: tuple[HeapSample, ...]
    growth: HeapGrowth | None
    not_measured: str | None  # why growth is None
    growing: tuple[ClassGrowth, ...]  # between the first and the last histogram
    histograms: tuple[str, ...]  # files holding those two, as jcmd printed them


def driver_heap(
    samples: Sequence[HeapSample],
    first: Histogram | None,
    last: Histogram | None,
    histograms: Sequence[str],
) -> DriverHeap:
    growth = heap_growth(samples)
    reason = None
    if growth is None:
        errors = [s.error for s in samples if s.error]
        measured = sum(s.live_bytes is not None for s in samples)
        reason = f"{measured} of {len(samples)} samples measured" + (f"; {errors[0]}" if errors else "")
    grown = growing_classes(first, last) if first is not None and last is not None else []
    return DriverHeap(tuple(samples), growth, reason, tuple(grown), tuple(histograms))
