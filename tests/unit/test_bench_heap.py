"""The soak's driver heap: jcmd's class histograms parsed and diffed, the growth judged, and a jcmd
that fails giving "not measured", never a crash and never a pass."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.bench import heap_sampler
from harness.bench.heap import (
    HeapSample,
    Histogram,
    MiB,
    driver_heap,
    failure_reason,
    growing_classes,
    heap_growth,
    parse_histogram,
)
from harness.bench.heap_sampler import DriverJvm, HeapSampler, java_pid
from harness.eventually import eventually

# As `jcmd <pid> GC.class_histogram` prints them for a Spark driver (OpenJDK 17): the JDK's classes
# name their module, Spark's (class path) do not; a generated class has a row per class loader.
FIRST = """4711:
 num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:        412345       98765432  [B (java.base@17.0.15)
   2:       1203456       28882944  java.lang.String (java.base@17.0.15)
   3:        201234       19318464  [Ljava.lang.Object; (java.base@17.0.15)
   4:        356789       11417248  java.util.HashMap$Node (java.base@17.0.15)
   5:        145678        4661696  java.util.concurrent.ConcurrentHashMap$Node (java.base@17.0.15)
   6:         23456        2814720  java.lang.Class (java.base@17.0.15)
   7:         60000        1920000  org.apache.spark.sql.execution.ui.SQLPlanMetric
   8:         12000         480000  org.apache.spark.sql.execution.ui.SparkPlanGraphNode
   9:           300          16800  org.apache.spark.sql.execution.ui.SQLExecutionUIData
  10:           100           7200  org.apache.spark.sql.streaming.StreamingQueryProgress
  11:             1             40  org.apache.spark.sql.catalyst.expressions.GeneratedClass$SpecificUnsafeProjection
  12:             1             40  org.apache.spark.sql.catalyst.expressions.GeneratedClass$SpecificUnsafeProjection
  13:             1             16  org.apache.spark.sql.execution.streaming.MicroBatchExecution$$Lambda$3125/0x00007f3a4c9b1234
Total       2415361      168284600
"""  # noqa: E501 (jcmd's lines as printed)
LAST = """4711:
 num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:        418002       99120456  [B (java.base@17.0.15)
   2:       1190012       28560288  java.lang.String (java.base@17.0.15)
   3:        201990       19391040  [Ljava.lang.Object; (java.base@17.0.15)
   4:        357120       11427840  java.util.HashMap$Node (java.base@17.0.15)
   5:        200000        6400000  org.apache.spark.sql.execution.ui.SQLPlanMetric
   6:        145701        4662432  java.util.concurrent.ConcurrentHashMap$Node (java.base@17.0.15)
   7:         23460        2815200  java.lang.Class (java.base@17.0.15)
   8:         40000        1600000  org.apache.spark.sql.execution.ui.SparkPlanGraphNode
   9:          1000          56000  org.apache.spark.sql.execution.ui.SQLExecutionUIData
  10:           100           7200  org.apache.spark.sql.streaming.StreamingQueryProgress
  11:             1             40  org.apache.spark.sql.catalyst.expressions.GeneratedClass$SpecificUnsafeProjection
  12:             1             40  org.apache.spark.sql.catalyst.expressions.GeneratedClass$SpecificUnsafeProjection
  13:             1             40  org.apache.spark.sql.catalyst.expressions.GeneratedClass$SpecificUnsafeProjection
  14:             1             24  org.apache.spark.sql.kafka010.KafkaMicroBatchStream$$Lambda$4410/0x00007f3a4cc21a08
Total       2577389      174040600
"""  # noqa: E501
# jcmd's stdout and stderr when the JVM does not answer the attach (exit code 1).
ATTACH_REFUSED = """4711:
com.sun.tools.attach.AttachNotSupportedException: Unable to open socket file /proc/4711/root/tmp/\
.java_pid1: target process 4711 doesn't respond within 10500ms or HotSpot VM not loaded
\tat jdk.attach/sun.tools.attach.VirtualMachineImpl.<init>(VirtualMachineImpl.java:104)
\tat jdk.attach/sun.tools.attach.AttachProviderImpl.attachVirtualMachine(AttachProviderImpl.java:58)
\tat jdk.attach/com.sun.tools.attach.VirtualMachine.attach(VirtualMachine.java:207)
\tat jdk.jcmd/sun.tools.jcmd.JCmd.executeCommandForPid(JCmd.java:113)
\tat jdk.jcmd/sun.tools.jcmd.JCmd.main(JCmd.java:97)
"""
GONE = """4711:
java.io.IOException: No such process
\tat jdk.attach/sun.tools.attach.VirtualMachineImpl.sendQuitTo(Native Method)
\tat jdk.attach/sun.tools.attach.VirtualMachineImpl.<init>(VirtualMachineImpl.java:82)
"""
# `docker top <driver> -eo pid,comm`: host pids; the container's python3 started the JVM.
TOP = {"Titles": ["PID", "COMMAND"], "Processes": [["20711", "python3"], ["20768", "java"]]}


def test_a_histogram_is_its_classes_and_its_total() -> None:
    histogram = parse_histogram(FIRST)
    assert (histogram.instances, histogram.bytes) == (2_415_361, 168_284_600)
    assert histogram.classes["[B"] == (412_345, 98_765_432)
    assert histogram.classes["org.apache.spark.sql.execution.ui.SQLPlanMetric"] == (60_000, 1_920_000)
    # One row per class loader, one entry per name.
    assert histogram.classes[
        "org.apache.spark.sql.catalyst.expressions.GeneratedClass$SpecificUnsafeProjection"
    ] == (2, 80)
    assert len(histogram.classes) == 12
    assert sum(size for _, size in histogram.classes.values()) == histogram.bytes


def test_output_without_a_histogram_says_why() -> None:
    with pytest.raises(ValueError, match=r"no class histogram .*AttachNotSupportedException: Unable"):
        parse_histogram(ATTACH_REFUSED)
    assert failure_reason(GONE) == "java.io.IOException: No such process"
    assert failure_reason("4711:\n") == "no output"


def test_the_classes_that_grew_most_come_first() -> None:
    grown = growing_classes(parse_histogram(FIRST), parse_histogram(LAST))
    assert [(c.name, c.bytes_growth) for c in grown[:3]] == [
        ("org.apache.spark.sql.execution.ui.SQLPlanMetric", 4_480_000),
        ("org.apache.spark.sql.execution.ui.SparkPlanGraphNode", 1_120_000),
        ("[B", 355_024),
    ]
    metric = grown[0]
    assert (metric.instances, metric.instances_growth, metric.bytes) == (200_000, 140_000, 6_400_000)
    names = {c.name for c in grown}
    # A class that appeared counts from zero; one that shrank, stayed or went does not.
    assert "org.apache.spark.sql.kafka010.KafkaMicroBatchStream$$Lambda$4410/0x00007f3a4cc21a08" in names
    assert names.isdisjoint(
        {
            "java.lang.String",
            "org.apache.spark.sql.streaming.StreamingQueryProgress",
            "org.apache.spark.sql.execution.streaming.MicroBatchExecution$$Lambda$3125/0x00007f3a4c9b1234",
        }
    )


def test_only_the_fifteen_largest_growths_are_kept() -> None:
    first = Histogram({f"c{i}": (1, 100) for i in range(20)}, 20, 2_000)
    last = Histogram({f"c{i}": (2, 100 + i) for i in range(20)}, 40, 2_190)
    grown = growing_classes(first, last)
    assert [c.name for c in grown] == [f"c{i}" for i in range(19, 4, -1)]


def _samples(*live_mb: float) -> list[HeapSample]:
    """One sample every 5 minutes."""
    return [HeapSample(i * 300.0, int(mb * MiB), 2.0) for i, mb in enumerate(live_mb)]


def test_growth_is_the_last_over_the_first_with_the_trend_beside() -> None:
    flat = heap_growth(_samples(400, 430, 395, 410, 405, 400, 409))
    assert flat is not None
    assert (flat.minutes, flat.growth_pct, flat.flat) == (30.0, 2.25, True)
    growing = heap_growth(_samples(400, 410, 420, 430, 440, 450, 460))
    assert growing is not None
    assert (growing.growth_pct, growing.flat) == (15.0, False)
    assert growing.per_10_min_mb == pytest.approx(20.0)


def test_unmeasured_samples_are_listed_and_a_series_without_two_is_not_judged() -> None:
    failed = HeapSample(600.0, None, 120.0, "TimeoutExpired: Command '['jcmd', ...]' timed out")
    series = [*_samples(400, 410), failed]
    judged = driver_heap(series, parse_histogram(FIRST), parse_histogram(LAST), [])
    assert judged.growth is not None
    assert judged.growth.minutes == 5.0  # between the measured ones
    alone = driver_heap([_samples(400)[0], failed], parse_histogram(FIRST), parse_histogram(FIRST), [])
    assert alone.growth is None
    assert alone.growing == ()
    assert alone.not_measured == "1 of 2 samples measured; TimeoutExpired: Command '['jcmd', ...]' timed out"


def test_the_driver_jvm_is_the_containers_one_java_process() -> None:
    assert java_pid(TOP) == 20768
    reordered = {"Titles": ["COMMAND", "PID"], "Processes": [["java", "31"], ["bash", "30"]]}
    assert java_pid(reordered) == 31
    with pytest.raises(LookupError, match="0 java processes in the driver's container: 20711 python3"):
        java_pid({**TOP, "Processes": [["20711", "python3"]]})
    with pytest.raises(LookupError, match="2 java processes"):
        java_pid({**TOP, "Processes": [["1", "java"], ["2", "java"]]})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """jcmd's outputs in turn, each taking 2 s; an exception in the list is raised instead."""

    def __init__(self, clock: Clock, outputs: list[str | Exception]) -> None:
        self.clock = clock
        self.outputs = outputs

    def histogram(self) -> str:
        self.clock.now += 2.0
        output = self.outputs.pop(0)
        if isinstance(output, Exception):
            raise output
        return output


def _soak(outputs: list[str | Exception], minutes: float = 30.0) -> HeapSampler:
    """A sampler through a soak, one sample per output, spread evenly over `minutes` (the thread's
    interval is longer than the test: the test takes each sample)."""
    clock = Clock()
    every = minutes * 60 / (len(outputs) - 1)
    sampler = HeapSampler(Source(clock, list(outputs)), interval_s=3600.0, clock=clock).start()
    for _ in outputs[1:]:
        clock.now += every - 2.0
        sampler.sample()
    sampler.stop()
    return sampler


def test_the_sampler_keeps_the_series_and_the_first_and_last_histograms(tmp_path: Path) -> None:
    middle = LAST.replace("Total       2577389      174040600", "Total       2500000      170000000")
    sampler = _soak([FIRST, middle, LAST])
    heap = sampler.report(tmp_path / "heap")
    assert [(s.at_s, s.live_bytes, s.jcmd_s) for s in heap.samples] == [
        (0.0, 168_284_600, 2.0),
        (900.0, 170_000_000, 2.0),
        (1800.0, 174_040_600, 2.0),
    ]
    assert heap.growth is not None
    assert heap.growth.growth_pct == pytest.approx(3.42, abs=0.01)
    assert heap.growing[0].name == "org.apache.spark.sql.execution.ui.SQLPlanMetric"
    assert [Path(p).read_text() for p in heap.histograms] == [FIRST, LAST]


def test_the_thread_samples_between_the_start_and_the_stop() -> None:
    class Repeating:
        def histogram(self) -> str:
            return FIRST

    sampler = HeapSampler(Repeating(), interval_s=0.01).start()
    eventually(lambda: len(sampler.samples), lambda n: n >= 3, expected="samples by the thread", timeout_s=5)
    sampler.stop()
    assert all(s.live_bytes == 168_284_600 for s in sampler.samples)


def test_a_failing_jcmd_is_an_unmeasured_sample_never_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert command == ["jcmd", "20768", "GC.class_histogram"]
        stdout, _, stderr = ATTACH_REFUSED.partition("\n")
        return subprocess.CompletedProcess(command, 1, stdout + "\n", stderr)

    class Container:
        def top(self, ps_args: str) -> dict[str, Any]:
            assert ps_args == "-eo pid,comm"
            return TOP

    monkeypatch.setattr(heap_sampler.subprocess, "run", refused)
    sampler = HeapSampler(DriverJvm(Container()), interval_s=3600.0).start()
    sampler.stop()
    sampler.sample()
    heap = sampler.report(tmp_path)
    assert (heap.growth, heap.histograms) == (None, ())
    assert heap.not_measured == (
        "0 of 2 samples measured; RuntimeError: jcmd 20768 exited 1: "
        "com.sun.tools.attach.AttachNotSupportedException: Unable to open socket file "
        "/proc/4711/root/tmp/.java_pid1: target process 4711 doesn't respond within 10500ms or "
        "HotSpot VM not loaded"
    )

    timed_out = _soak([subprocess.TimeoutExpired(["jcmd"], 120.0), FIRST]).report(tmp_path)
    assert timed_out.growth is None
    assert timed_out.not_measured == (
        "1 of 2 samples measured; TimeoutExpired: Command '['jcmd']' timed out after 120.0 seconds"
    )
