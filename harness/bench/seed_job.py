"""The seed's design, as a benchmark contender: RDD + Python lambdas + reduceByKey per batch, one
new uuid1() row per batch per (site, window), summed on read.

DStreams are gone in Spark 4, so the micro-batches come from the same Kafka source as Tally's, via
foreachBatch; each batch then goes the seed's way. The seed keyed by site only; here the key also has
the window, so that its counts are checked against the same ledger (a division per event).
Run as `python3 -m harness.bench.seed_job` in the Spark image: as `__main__`, the lambdas are pickled
by value, so executors need nothing of Tally's.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid
from operator import add
from typing import Any

from harness.bench.contender_table import open_table

TABLE = "seed_counts"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m harness.bench.seed_job", description=__doc__)
    p.add_argument("--bootstrap-servers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--cassandra-hosts", required=True, help="host:port")
    p.add_argument("--keyspace", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--master", required=True)
    p.add_argument("--trigger-interval", default="1 second")
    p.add_argument("--max-offsets-per-trigger", type=int, default=None)
    p.add_argument("--window-ms", type=int, default=60_000)
    p.add_argument("--progress-log", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from cassandra.concurrent import execute_concurrent_with_args
    from pyspark.sql import DataFrame, SparkSession

    from pipeline.progress import ProgressLog

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    spark = (
        SparkSession.builder.master(args.master)
        .appName(f"seed-{args.topic}")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    cluster, session = open_table(
        args.cassandra_hosts,
        args.keyspace,
        TABLE,
        "site_id text, window_start timestamp, ts timeuuid, views bigint,"
        " PRIMARY KEY ((site_id), window_start, ts)",
    )
    insert = session.prepare(
        f"INSERT INTO {args.keyspace}.{TABLE} (site_id, window_start, ts, views) VALUES (?, ?, ?, ?)"
    )
    window_ms = args.window_ms

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        summed = (
            batch.select("value")
            .rdd.map(lambda row: json.loads(row.value))
            .map(lambda event: ((event["site_id"], event["ts"] - event["ts"] % window_ms), 1))
            .reduceByKey(add)
            .map(lambda kv: (kv[0][0], kv[0][1], str(uuid.uuid1()), kv[1]))
            .collect()
        )
        params: list[tuple[Any, ...]] = [(s, w, uuid.UUID(u), n) for s, w, u, n in summed]
        if params:
            execute_concurrent_with_args(session, insert, params, concurrency=64, raise_on_first_error=True)

    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.bootstrap_servers)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
    )
    if args.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(args.max_offsets_per_trigger))
    if args.progress_log:
        ProgressLog(args.progress_log).register(spark)
    query = (
        reader.load()
        .writeStream.option("checkpointLocation", args.checkpoint)
        .trigger(processingTime=args.trigger_interval)
        .foreachBatch(write_batch)
        .start()
    )
    print(f"query {query.id} started on {args.master}", file=sys.stderr, flush=True)
    while not stop.is_set() and query.isActive:
        stop.wait(0.5)
    failed = not stop.is_set()
    if failed:
        print(f"query terminated: {query.exception()}", file=sys.stderr, flush=True)
    else:
        query.stop()
    cluster.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
