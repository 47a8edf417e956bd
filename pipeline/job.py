"""Wires the job: Spark session, generation, Kafka source, parse, count, Cassandra sink; stops on SIGTERM."""

from __future__ import annotations

import importlib
import signal
import sys
import threading

from cassandra import ProtocolVersion
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipeline.checkpoint import batch_offsets, late_event_watermark_ms
from pipeline.config import PipelineConfig
from pipeline.counting import sink_input
from pipeline.failpoints import Failpoints
from pipeline.generations import Generation, NotOwner, Registry, claim
from pipeline.parse import parse_events
from pipeline.pinned import SettingsChanged, pin
from pipeline.progress import ProgressLog
from pipeline.schema import SchemaOutdated, ensure_schema
from pipeline.sink import CassandraSink
from pipeline.takeover import TakeOverRefused, read_carried, take_over
from pipeline.window_counts import WindowCounts


def spark_session(config: PipelineConfig) -> SparkSession:
    return (
        SparkSession.builder.master(config.master)
        .appName(f"tally-{config.topic}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .config("spark.ui.showConsoleProgress", "false")
        # A stream runs a few jobs a second for days: keep the driver's UI history small and flat.
        .config("spark.ui.retainedJobs", "200")
        .config("spark.ui.retainedStages", "200")
        .config("spark.ui.retainedTasks", "10000")
        .config("spark.sql.ui.retainedExecutions", "50")
        .config("spark.sql.streaming.ui.retainedProgressUpdates", "100")
        # The deduplication drops late rows by the previous batch's watermark in this mode, and the
        # sink judges lateness by the same: pin it.
        .config("spark.sql.streaming.statefulOperator.allowMultiple", "true")
        .getOrCreate()
    )


def start_query(spark: SparkSession, config: PipelineConfig, sink: CassandraSink) -> StreamingQuery:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config.bootstrap_servers)
        .option("subscribe", config.topic)
        # Read only when the checkpoint is new: a taken-over generation starts where the old stopped.
        .option("startingOffsets", sink.generation.start_offsets or config.starting_offsets)
        .option("kafka.isolation.level", config.kafka_isolation_level)
        # A gap in the offsets (retention, a truncated log) must stop the job, not skip events.
        .option("failOnDataLoss", "true")
        # A task asks only for offsets the batch planned, which exist; a fetch the broker cannot fill
        # at once would wait its 500 ms default: one task in a batch in three idled that long.
        .option("kafka.fetch.max.wait.ms", "20")
        # Spark's reader seeks before every poll and asks the broker for the partition's earliest
        # and latest offsets after it: at Kafka's default of 500 records a poll, a 5 M backlog
        # took 10,000 polls and their round trips. A poll is bounded by the consumer's
        # max.partition.fetch.bytes instead (1 MiB: about 8,000 events).
        .option("kafka.max.poll.records", "10000")
    )
    if config.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(config.max_offsets_per_trigger))
    events = parse_events(
        reader.load(), config.max_event_bytes, config.dead_letter_copy_bytes, config.max_event_time_ahead
    )
    return (
        sink_input(events, config.window, config.allowed_lateness, config.dedup)
        .writeStream.outputMode("append")
        .option("checkpointLocation", config.checkpoint)
        .trigger(processingTime=config.trigger_interval)
        .foreachBatch(sink)
        .queryName(f"tally_{config.topic}".replace("-", "_"))
        .start()
    )


def _load(path: str) -> type[CassandraSink]:
    module, _, name = path.partition(":")
    sink_class = getattr(importlib.import_module(module), name)
    if not (isinstance(sink_class, type) and issubclass(sink_class, CassandraSink)):
        raise TypeError(f"--sink {path} is not a CassandraSink subclass")
    return sink_class


def start_generation(spark: SparkSession, registry: Registry, config: PipelineConfig) -> Generation:
    """The generation this start runs as: a take-over the first time its checkpoint starts with
    --take-over-from, otherwise the checkpoint's own (registered as the first if the job is new)."""
    if config.take_over_from:
        if config.take_over_from.rstrip("/") == config.checkpoint.rstrip("/"):
            raise TakeOverRefused("--take-over-from names this start's own --checkpoint: give a new one")
        _, known = registry.generations(config.job)
        if not any(g.checkpoint == config.checkpoint for g in known):
            return take_over(spark, registry, config)
    return claim(registry, config.job, config.checkpoint)


def run(config: PipelineConfig) -> int:
    """Run until SIGTERM (exit 0 after the batch in flight), a query failure (exit 1), or a refusal to
    start (exit 2): a checkpoint built with other settings, a second generation of the job, a
    take-over that could not keep the counts exact."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    spark = spark_session(config)
    app = spark.sparkContext.applicationId
    print(f"spark session {app} up on {config.master}", file=sys.stderr, flush=True)
    try:
        pin(spark, config)
    except SettingsChanged as refused:
        print(f"refused: {refused}", file=sys.stderr, flush=True)
        return 2
    hosts, port = config.cassandra_contact
    # The driver's default waits up to ten minutes between attempts to reach a node it saw go down;
    # a restarted node answers again within seconds, and every batch waits for it. An attempt that
    # hangs (a connection accepted while the node starts, never answered) holds the next one back
    # for the whole connect timeout: 5 s, not 30, or a batch waits half a minute for a node that is up.
    # Protocol v5 (Cassandra 4.0 and later) and the default load balancing named: left to the driver,
    # it guesses both, and says so in every driver's log.
    cluster = Cluster(
        hosts,
        port=port,
        connect_timeout=5,
        reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.5, max_delay=5.0),
        protocol_version=ProtocolVersion.V5,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: ExecutionProfile(
                load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy())
            )
        },
    )
    session = cluster.connect()
    try:
        ensure_schema(session, config.keyspace, config.replication_factor)
        registry = Registry(session, config.keyspace)
        generation = start_generation(spark, registry, config)
    except (SchemaOutdated, NotOwner, TakeOverRefused) as refused:
        print(f"refused: {refused}", file=sys.stderr, flush=True)
        cluster.shutdown()
        return 2
    print(
        f"job {generation.job!r}: generation {generation.number}, fence base {generation.base_us}",
        file=sys.stderr,
        flush=True,
    )
    sink_class = _load(config.sink)
    sink = sink_class(
        session,
        config.keyspace,
        generation,
        lambda: registry.owns(generation),
        lambda batch_id: late_event_watermark_ms(spark, config.checkpoint, batch_id),
        WindowCounts(spark, config.checkpoint),
        Failpoints(config.failpoints),
        carried=read_carried(session, config.keyspace, generation),
        dedup=config.dedup,
        records_of=lambda batch_id: batch_offsets(spark, config.checkpoint, batch_id),
    )
    sink.restore_carried()
    if config.progress_log:
        ProgressLog(config.progress_log).register(spark)
    query = start_query(spark, config, sink)
    print(f"query {query.id} started on {config.master}", file=sys.stderr, flush=True)
    while not stop.is_set() and query.isActive:
        stop.wait(0.5)
    if stop.is_set():
        print("SIGTERM: finishing the batch in flight, then stopping", file=sys.stderr, flush=True)
        sink.stop()
        try:
            query.stop()
        except Exception as stop_error:  # the JVM may have taken the same signal and stopped first
            print(f"query.stop(): {stop_error}".splitlines()[0], file=sys.stderr, flush=True)
        cluster.shutdown()
        return 0
    print(f"query terminated: {query.exception()}", file=sys.stderr, flush=True)
    cluster.shutdown()
    return 1
