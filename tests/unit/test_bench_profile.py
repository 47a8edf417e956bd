"""The executor's profile: JFR's printed samples parsed and split by part, threads grouped (the profile's
arithmetic and its section in the benchmark's table are tested with the other results)."""

from __future__ import annotations

from harness.bench.executor_profile import (
    OTHER_PART,
    OTHER_THREADS,
    TASKS,
    group_cpu,
    part_of,
    task_samples,
)

# Cut from `jfr print --stack-depth 32 --events jdk.ExecutionSample` of a real drain (frames elided,
# the generated class's name shortened).
PRINTED = """jdk.ExecutionSample {
  startTime = 11:49:29.686
  sampledThread = "rpc-client-3-1" (javaThreadId = 21)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.lang.ref.Reference.refersTo0(Object)
    io.netty.channel.nio.NioEventLoop.run() line: 562
  ]
}

jdk.ExecutionSample {
  startTime = 11:49:29.730
  sampledThread = "Executor task launch worker-0" (javaThreadId = 38)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.util.HashMap.getNode(int, Object) line: 570
    com.fasterxml.jackson.core.sym.CharsToNameCanonicalizer.findSymbol(char[], int, int, int) line: 610
    org.apache.spark.sql.catalyst.json.JacksonParser.parse(Object, Function2, Function1) line: 631
    ...
  ]
}

jdk.ExecutionSample {
  startTime = 11:49:29.750
  sampledThread = "Executor task launch worker-1" (javaThreadId = 39)
  state = "STATE_RUNNABLE"
  stackTrace = [
    org.apache.spark.unsafe.hash.Murmur3_x86_32.hashBytesByInt(Object, long, int, int) line: 91
    org.apache.spark.sql.catalyst.expressions.UnsafeRow.hashCode() line: 575
    org.apache.spark.sql.catalyst.expressions.GeneratedClass$Stage1.hashAgg_doConsume_0$(Row) line: 140
    org.apache.spark.sql.catalyst.expressions.GeneratedClass$Stage1.processNext() line: 44
  ]
}

jdk.ExecutionSample {
  startTime = 11:49:29.770
  sampledThread = "Executor task launch worker-1" (javaThreadId = 39)
  state = "STATE_RUNNABLE"
  stackTrace = [
    org.apache.spark.sql.catalyst.InternalRow$$$Lambda$942+0x00007f8ba019a0b8.463652585.apply(Object)
    java.lang.Thread.run() line: 840
  ]
}
"""


def test_printed_samples_of_the_task_threads_are_split_by_the_innermost_frame_a_part_names() -> None:
    counts = task_samples(PRINTED)
    # The rpc thread is not a task; a JDK leaf belongs to its caller (Jackson: parsing), a generated
    # method named for the aggregation is aggregating even above Spark's row code.
    assert counts == {"parsing JSON": 1, "aggregating": 1, OTHER_PART: 1}


def test_a_stack_no_rule_names_is_other_and_the_leaf_decides_first() -> None:
    kafka_under_parse = ["com.fasterxml.jackson.core.JsonParser#nextToken", "org.apache.kafka.X#poll"]
    assert part_of(kafka_under_parse) == "parsing JSON"
    assert part_of(list(reversed(kafka_under_parse))) == "reading Kafka"
    assert part_of(["java.lang.Thread#run"]) == OTHER_PART
    assert part_of([]) == OTHER_PART


def test_threads_are_grouped_and_ended_threads_count_as_other() -> None:
    threads = {"Executor task l": 30.0, "C2 CompilerThre": 9.0, "C1 CompilerThre": 2.0, "GC Thread#0": 1.0}
    groups = group_cpu(threads, process_total=45.0)
    assert groups == {TASKS: 30.0, "JIT compilers": 11.0, "GC and safepoints": 1.0, OTHER_THREADS: 3.0}
    # A reading between a thread's end and the process's is never negative.
    assert group_cpu(threads, process_total=40.0)[OTHER_THREADS] == 0.0
