"""What one run of the pipeline needs to know, and the command-line options that fill it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PipelineConfig:
    bootstrap_servers: str
    topic: str
    cassandra_hosts: tuple[str, ...]
    keyspace: str
    checkpoint: str
    # Whose rows these are in the keyspace; several jobs may share one. None: the topic.
    job_name: str | None = None
    # The checkpoint of the generation this start takes over (see pipeline/takeover.py).
    take_over_from: str | None = None
    master: str = "local[2]"
    trigger_interval: str = "1 second"
    window: str = "1 minute"
    allowed_lateness: str = "5 minutes"
    # Count copies of an event (same event_id and ts, re-sent by the producer) once.
    dedup: bool = False
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    max_event_bytes: int = 64 * 1024
    dead_letter_copy_bytes: int = 1024
    max_event_time_ahead: str = "1 hour"
    # Records of aborted transactions are in the log but never happened: read past them.
    kafka_isolation_level: str = "read_committed"
    replication_factor: int = 1
    shuffle_partitions: int = 4
    progress_log: str | None = None
    failpoints: tuple[str, ...] = field(default=())
    # MODULE:CLASS of the foreachBatch sink; others exist only as the harness's mutants (wrong sinks).
    sink: str = "pipeline.sink:CassandraSink"

    @property
    def job(self) -> str:
        return self.job_name or self.topic

    @property
    def cassandra_contact(self) -> tuple[list[str], int]:
        """Contact points and the (single) native port, from 'host[:port]' entries."""
        hosts, ports = [], set()
        for entry in self.cassandra_hosts:
            host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "9042")
            hosts.append(host)
            ports.add(int(port))
        if len(ports) != 1:
            raise ValueError(f"all Cassandra hosts must share one port, got {self.cassandra_hosts}")
        return hosts, ports.pop()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = p.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the streaming job until SIGTERM")
    run.add_argument("--bootstrap-servers", required=True, help="Kafka bootstrap servers, host:port[,...]")
    run.add_argument("--topic", required=True)
    run.add_argument("--cassandra-hosts", required=True, help="host[:port][,...] (default port 9042)")
    run.add_argument("--keyspace", required=True)
    run.add_argument(
        "--checkpoint", required=True, help="checkpoint directory, visible to driver and executors"
    )
    run.add_argument(
        "--job",
        dest="job_name",
        default=None,
        help="name of the job's rows in the keyspace (default: the topic); one checkpoint owns it",
    )
    run.add_argument(
        "--take-over-from",
        default=None,
        metavar="OLD_CHECKPOINT",
        help="start this new checkpoint as the job's next generation, from exactly where the stopped "
        "OLD_CHECKPOINT committed, carrying its open windows (a checkpoint reset that keeps counts exact)",
    )
    run.add_argument("--master", default=PipelineConfig.master, help="spark://host:port or local[N]")
    run.add_argument("--trigger-interval", default=PipelineConfig.trigger_interval)
    run.add_argument("--window", default=PipelineConfig.window, help="event-time window length")
    run.add_argument(
        "--allowed-lateness",
        default=PipelineConfig.allowed_lateness,
        help="watermark delay: events later than this are reported, not counted",
    )
    run.add_argument(
        "--dedup",
        action=argparse.BooleanOptionalAction,
        default=PipelineConfig.dedup,
        help="count copies of an event (same event_id and ts) once, within the allowed lateness; "
        "fixed for the life of a checkpoint",
    )
    run.add_argument(
        "--starting-offsets",
        default=PipelineConfig.starting_offsets,
        help="earliest, latest or Kafka JSON offsets; used only by the first generation's new checkpoint",
    )
    run.add_argument("--max-offsets-per-trigger", type=int, default=None)
    run.add_argument("--max-event-bytes", type=int, default=PipelineConfig.max_event_bytes)
    run.add_argument(
        "--dead-letter-copy-bytes",
        type=int,
        default=PipelineConfig.dead_letter_copy_bytes,
        help="bytes of a rejected record's value kept in its dead letter",
    )
    run.add_argument(
        "--max-event-time-ahead",
        default=PipelineConfig.max_event_time_ahead,
        help="an event time further than this past the batch's time is dead-lettered (future_ts), "
        "so that one wrong clock cannot push the watermark past every later event",
    )
    run.add_argument(
        "--kafka-isolation-level",
        choices=("read_committed", "read_uncommitted"),
        default=PipelineConfig.kafka_isolation_level,
        help="read_uncommitted also counts records of aborted transactions (Kafka's consumer default)",
    )
    run.add_argument("--replication-factor", type=int, default=PipelineConfig.replication_factor)
    run.add_argument("--shuffle-partitions", type=int, default=PipelineConfig.shuffle_partitions)
    run.add_argument("--progress-log", default=None, help="append each query progress here as JSON lines")
    run.add_argument(
        "--failpoint",
        action="append",
        default=[],
        dest="failpoints",
        help="activate a named failpoint (testing only), e.g. sink.after_write=crash",
    )
    run.add_argument(
        "--sink",
        default=PipelineConfig.sink,
        help="MODULE:CLASS of the sink (testing only: the harness's wrong sinks)",
    )
    return p


def from_arguments(args: argparse.Namespace) -> PipelineConfig:
    return PipelineConfig(
        bootstrap_servers=args.bootstrap_servers,
        topic=args.topic,
        cassandra_hosts=tuple(h.strip() for h in args.cassandra_hosts.split(",") if h.strip()),
        keyspace=args.keyspace,
        checkpoint=args.checkpoint,
        job_name=args.job_name,
        take_over_from=args.take_over_from,
        master=args.master,
        trigger_interval=args.trigger_interval,
        window=args.window,
        allowed_lateness=args.allowed_lateness,
        dedup=args.dedup,
        starting_offsets=args.starting_offsets,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        max_event_bytes=args.max_event_bytes,
        dead_letter_copy_bytes=args.dead_letter_copy_bytes,
        max_event_time_ahead=args.max_event_time_ahead,
        kafka_isolation_level=args.kafka_isolation_level,
        replication_factor=args.replication_factor,
        shuffle_partitions=args.shuffle_partitions,
        progress_log=args.progress_log,
        failpoints=tuple(args.failpoints),
        sink=args.sink,
    )
