"""Where an executor's CPU went over a drain, by thread and by part of the work (pure).

Two sources, because neither alone says it: the JVM's threads from /proc give every CPU second,
the compilers' and the collector's included, but a task thread's seconds say nothing of what it did;
JFR's execution samples of the task threads say what they did, but not for how long. A part's CPU is
the task threads' seconds times its share of their samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

TASKS = "tasks"
# Thread name prefixes (as /proc's comm gives them: 15 characters) -> group. Whatever no prefix
# names, and every thread that ended before the last reading, is "other threads".
THREAD_GROUPS: tuple[tuple[str, str], ...] = (
    ("Executor task l", TASKS),
    ("C1 CompilerThre", "JIT compilers"),
    ("C2 CompilerThre", "JIT compilers"),
    ("GC Thread", "GC and safepoints"),
    ("G1 ", "GC and safepoints"),
    ("VM Thread", "GC and safepoints"),
)
OTHER_THREADS = "other threads"
GROUPS = (TASKS, "JIT compilers", "GC and safepoints", OTHER_THREADS)

# Parts of a task's work, by the innermost frame any rule names (frames are walked from the leaf;
# within a frame, the first part that names it). A leaf in the JDK or in Spark's string utilities
# belongs to its caller: Jackson's HashMap lookups are parsing, the Kafka reader's byte copies are
# reading. The last part is broad (Spark's generated code and rows), so the rules before it name
# what of that is another part's: the hashing of a row is the aggregation's key. A rule that starts
# with '#' names a method (generated code's methods are named for their operator).
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reading Kafka", ("org.apache.kafka.", "org.apache.spark.sql.kafka010.")),
    (
        "parsing JSON",
        (
            "com.fasterxml.jackson.",
            "org.apache.spark.sql.catalyst.json.",
            "org.apache.spark.sql.catalyst.expressions.json.",
            "org.apache.spark.sql.catalyst.expressions.JsonToStructs",
        ),
    ),
    ("checking records (regular expressions)", ("java.util.regex.",)),
    (
        "aggregating",
        (
            "org.apache.spark.unsafe.map.",
            "org.apache.spark.unsafe.hash.",
            "org.apache.spark.sql.catalyst.expressions.UnsafeRow#hashCode",
            "org.apache.spark.sql.execution.aggregate.",
            "#hashAgg_",
        ),
    ),
    (
        "shuffling",
        (
            "org.apache.spark.shuffle.",
            "org.apache.spark.storage.",
            "org.apache.spark.network.",
            "org.apache.spark.io.",
            "net.jpountz.",
            "com.github.luben.zstd.",
        ),
    ),
    (
        "starting tasks (deserializing, compiling generated code)",
        (
            "java.io.ObjectInputStream",
            "org.apache.spark.serializer.",
            "org.codehaus.janino.",
            "org.codehaus.commons.",
            "org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator",
        ),
    ),
    ("projecting and windowing rows (generated code)", ("org.apache.spark.sql.catalyst.expressions.",)),
)
OTHER_PART = "other"


def thread_group(comm: str) -> str:
    return next((group for prefix, group in THREAD_GROUPS if comm.startswith(prefix)), OTHER_THREADS)


def group_cpu(threads: Mapping[str, float], process_total: float) -> dict[str, float]:
    """CPU seconds by group from one reading of each thread (name -> seconds, summed over threads of
    that name); "other threads" is the process's total less the named groups, so threads that
    already ended are counted there."""
    out = dict.fromkeys(GROUPS, 0.0)
    for comm, seconds in threads.items():
        group = thread_group(comm)
        if group != OTHER_THREADS:
            out[group] += seconds
    out[OTHER_THREADS] = max(process_total - sum(out.values()), 0.0)
    return out


def part_of(frames: Sequence[str]) -> str:
    """The part a stack belongs to; `frames` are `class#method` names, the leaf first."""
    for frame in frames:
        for part, prefixes in PARTS:
            if any(frame.startswith(p) or (p.startswith("#") and p in frame) for p in prefixes):
                return part
    return OTHER_PART


def frame(line: str) -> str:
    """`class#method` of one frame as `jfr print` writes it: `pkg.Class.method(Args) line: 12`."""
    qualified = line.strip().partition("(")[0]
    cls, _, method = qualified.rpartition(".")
    return f"{cls}#{method}"


def samples(printed: str) -> Iterator[tuple[str, list[str]]]:
    """(thread, frames leaf first) of each event in `jfr print --events jdk.ExecutionSample`'s text
    (its JSON is thirty times the size: every frame's method spelled out as an object)."""
    thread, in_stack = "", False
    frames: list[str] = []
    for line in printed.splitlines():
        text = line.strip()
        if text.startswith("sampledThread = "):
            thread = text.removeprefix("sampledThread = ").partition('" (')[0].strip('"')
        elif text == "stackTrace = [":
            frames, in_stack = [], True
        elif in_stack and text == "]":
            in_stack = False
            yield thread, frames
        elif in_stack and text != "...":
            frames.append(frame(text))


def task_samples(printed: str, thread_prefix: str = "Executor task launch") -> Counter[str]:
    """Samples per part, task threads only."""
    return Counter(part_of(frames) for thread, frames in samples(printed) if thread.startswith(thread_prefix))


@dataclass(frozen=True)
class ExecutorProfile:
    """One executor over one drain: CPU seconds by thread group, task samples by part."""

    events: int
    seconds: float  # the drain's wall time the readings span
    cpu_seconds: dict[str, float]  # by group (GROUPS)
    task_samples: dict[str, int]  # by part (PARTS, then "other")
    recording: str | None = None  # the JFR file, kept with the run
    unmeasured: str | None = None  # why there is no profile

    @property
    def total(self) -> float:
        return sum(self.cpu_seconds.values())

    def per_million(self, seconds: float) -> float:
        return seconds / (self.events / 1e6) if self.events else 0.0

    def part_seconds(self) -> dict[str, float]:
        """The task threads' CPU split by their samples' shares, in PARTS' order."""
        sampled = sum(self.task_samples.values())
        tasks = self.cpu_seconds.get(TASKS, 0.0)
        order = [p for p, _ in PARTS] + [OTHER_PART]
        return {p: tasks * self.task_samples.get(p, 0) / sampled for p in order if sampled}

    def summary(self) -> str:
        """One line for the CPU target: the tasks' share and the compilers'."""
        tasks = self.per_million(self.cpu_seconds.get(TASKS, 0.0))
        jit = self.per_million(self.cpu_seconds.get("JIT compilers", 0.0))
        return f"tasks {tasks:.1f} s, JIT compilers {jit:.1f} s"


def unmeasured(events: int, reason: str) -> ExecutorProfile:
    return ExecutorProfile(events, 0.0, {}, {}, unmeasured=reason)
