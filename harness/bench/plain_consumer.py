"""What a user might write instead of Spark: a confluent-kafka consumer that counts in a dict and
writes the (absolute) counts it changed to Cassandra with cassandra-driver about once per flush
interval, committing offsets after the writes. Run as `python -m harness.bench.plain_consumer`.

At-least-once, not exactly-once: a crash between a write and its commit re-reads records that are
already counted. The benchmark runs it without faults, so its counts must be exact all the same.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from harness.bench.contender_table import open_table

TABLE = "pageviews"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.bench.plain_consumer", description=__doc__)
    p.add_argument("--bootstrap-servers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--cassandra-hosts", required=True, help="host:port")
    p.add_argument("--keyspace", required=True)
    p.add_argument("--window-ms", type=int, default=60_000)
    p.add_argument("--flush-interval-s", type=float, default=1.0)
    p.add_argument("--progress-log", required=True, help="one JSON line per flush: committed offsets")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from cassandra.concurrent import execute_concurrent_with_args
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster, session = open_table(
        args.cassandra_hosts,
        args.keyspace,
        TABLE,
        "site_id text, window_start timestamp, views bigint, PRIMARY KEY ((site_id), window_start)",
    )
    insert = session.prepare(
        f"INSERT INTO {args.keyspace}.{TABLE} (site_id, window_start, views) VALUES (?, ?, ?)"
    )
    # Resume from what was written (the counts match the committed offsets, but for a crash).
    counts: dict[tuple[str, int], int] = {}
    for row in session.execute(f"SELECT site_id, window_start, views FROM {args.keyspace}.{TABLE}"):
        counts[(row.site_id, int(row.window_start.replace(tzinfo=UTC).timestamp() * 1000))] = row.views
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )

    def assigned(_: Any, partitions: list[TopicPartition]) -> None:
        print(f"assigned {[p.partition for p in partitions]}", file=sys.stderr, flush=True)

    consumer.subscribe([args.topic], on_assign=assigned)
    progress = Path(args.progress_log)
    window = args.window_ms
    dirty: set[tuple[str, int]] = set()
    consumed = invalid = 0
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        params = [(site, start, counts[(site, start)]) for site, start in dirty]
        execute_concurrent_with_args(session, insert, params, concurrency=64, raise_on_first_error=True)
        committed = consumer.commit(asynchronous=False) or []
        dirty.clear()
        last_flush = time.monotonic()
        line = {
            "time": time.time(),
            "consumed": consumed,
            "invalid": invalid,
            "offsets": {str(tp.partition): tp.offset for tp in committed if tp.offset >= 0},
        }
        with progress.open("a") as log:
            log.write(json.dumps(line) + "\n")

    while not stop.is_set():
        for message in consumer.consume(10_000, 0.05):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"consume error: {error}")
            consumed += 1
            try:
                event = json.loads(message.value() or b"")
                key = (event["site_id"], event["ts"] - event["ts"] % window)
            except (ValueError, TypeError, KeyError):
                invalid += 1
                continue
            counts[key] = counts.get(key, 0) + 1
            dirty.add(key)
        if dirty and time.monotonic() - last_flush >= args.flush_interval_s:
            flush()
    if dirty:
        flush()
    consumer.close()
    cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
