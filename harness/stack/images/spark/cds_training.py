"""The training run of the Spark image's class-data sharing archives (AppCDS), run once per image build.

Usage: python3 cds_training.py BOOTSTRAP_SERVERS  (a Kafka broker the build started beside it)

A JVM started with -XX:ArchiveClassesAtExit records every class it loaded into an archive when it
exits; a JVM mapping that archive at start skips reading, parsing and verifying those classes from the
image's 283 jars, which is most of a Spark JVM's start-up. So the training does what a driver of the
pipeline does, as the harness runs it: a standalone master and worker, a Kafka source read by an
executor, records parsed with from_json and regular expressions, windows under a watermark, a
foreachBatch that aggregates and collects, a file written through Spark's checkpoint file manager.
The driver and its executor load different classes (the admin client and the planner; the consumer
and the task runner), so each leaves its own archive: driver.jsa and executor.jsa.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

CDS = Path("/opt/cds")
DRIVER_ARCHIVE = CDS / "driver.jsa"
EXECUTOR_ARCHIVE = CDS / "executor.jsa"
MASTER = "spark://127.0.0.1:7077"
TOPIC = "cds-training"
EVENTS = 3000
BATCHES = 4
TIMEOUT_S = 300


def daemon(main_class: str, *args: str) -> subprocess.Popen[bytes]:
    spark_class = Path(os.environ["SPARK_HOME"]) / "bin" / "spark-class"
    return subprocess.Popen([str(spark_class), main_class, *args])


def train(bootstrap: str, worker: subprocess.Popen[bytes]) -> None:
    spark = (
        SparkSession.builder.master(MASTER)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    admin_config = jvm.java.util.Properties()
    admin_config.put("bootstrap.servers", bootstrap)
    admin = jvm.org.apache.kafka.clients.admin.Admin.create(admin_config)
    topic = jvm.org.apache.kafka.clients.admin.NewTopic(TOPIC, 4, jvm.java.lang.Short.valueOf("1"))
    topics = jvm.java.util.ArrayList()
    topics.add(topic)
    admin.createTopics(topics).all().get()
    admin.close()
    # Events like the workload's, one in ten of them broken, written by Spark's own Kafka sink.
    spark.range(EVENTS).select(
        F.when(
            F.col("id") % 10 == 0,
            F.lit("{not json"),
        )
        .otherwise(
            F.to_json(
                F.struct(
                    F.concat(F.lit("e-"), F.col("id").cast("string")).alias("event_id"),
                    F.concat(F.lit("site-"), (F.col("id") % 7).cast("string")).alias("site_id"),
                    (F.lit(1_700_000_000_000) + F.col("id") * 100).cast("string").alias("ts"),
                )
            )
        )
        .alias("value")
    ).write.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("topic", TOPIC).save()

    parsed = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", TOPIC)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", str(EVENTS // BATCHES))
        .option("kafka.isolation.level", "read_committed")
        .load()
        .select(
            "*",
            F.from_json(
                F.col("value").cast("string"),
                "event_id STRING, site_id STRING, ts STRING, _corrupt_record STRING",
                {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
            ).alias("json"),
        )
    )
    once = parsed.select(F.explode(F.array(F.struct(*parsed.columns))).alias("row")).select("row.*")
    valid = F.col("json._corrupt_record").isNull() & F.trim("json.ts").rlike(r"^[0-9]{1,15}$")
    events = once.select(
        "partition",
        "offset",
        F.col("json.site_id").alias("site_id"),
        F.when(valid, F.timestamp_millis(F.col("json.ts").cast("long"))).alias("event_time"),
        F.when(~valid, F.substring("value", 1, 64)).alias("raw"),
    ).withWatermark("event_time", "10 minutes")
    epoch = F.timestamp_millis(F.lit(0))
    windowed = events.select("*", F.window(F.coalesce("event_time", epoch), "1 minute"))
    batches: list[int] = []
    checkpoint = "/tmp/cds-training-checkpoint"

    def sink(batch: object, batch_id: int) -> None:
        rows = (
            batch.groupBy("site_id", "window")  # type: ignore[attr-defined]
            .agg(F.count(F.lit(1)).alias("views"), F.max("offset").alias("last"))
            .select("site_id", F.unix_millis("window.start").alias("start"), "views", "last")
            .collect()
        )
        path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint}/training/{batch_id}")
        manager = jvm.org.apache.spark.sql.execution.streaming.CheckpointFileManager.create(
            path.getParent(), spark.sparkContext._jsc.hadoopConfiguration()
        )
        manager.mkdirs(path.getParent())
        stream = manager.createAtomic(path, True)
        stream.write(bytearray(str(len(rows)).encode()))
        stream.close()
        if rows:
            batches.append(batch_id)

    query = (
        windowed.writeStream.outputMode("append")
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime="500 milliseconds")
        .foreachBatch(sink)
        .start()
    )
    deadline = time.monotonic() + TIMEOUT_S
    while len(batches) < BATCHES and query.isActive and time.monotonic() < deadline:
        query.awaitTermination(1)
    progress = query.lastProgress
    query.stop()
    if len(batches) < BATCHES:
        raise SystemExit(
            f"training: expected {BATCHES} batches with rows, saw {len(batches)} in {TIMEOUT_S} s "
            f"(query active: {query.isActive}, exception: {query.exception()}, last progress: {progress})"
        )
    # Each archive is written as its JVM exits, and must be whole before the build copies it. The
    # worker kills an application's executors when it ends, and SIGKILLs one still exiting 10 s
    # later, which can cut its archive short: so the worker goes first, without a word (SIGKILL),
    # and the executor, finding it gone, exits by itself. The driver's JVM exits once its stdin
    # (pyspark's pipe) closes.
    worker.kill()
    worker.wait()
    wait_for_executor_exit()
    gateway = spark.sparkContext._gateway.proc  # type: ignore[union-attr]
    spark.stop()
    gateway.stdin.close()
    gateway.wait()


def wait_for_executor_exit() -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        running = subprocess.run(["pgrep", "-f", "CoarseGrainedExecutorBackend"], capture_output=True)
        if running.returncode != 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"training: the executor did not exit {TIMEOUT_S} s after its worker")


def main() -> None:
    bootstrap = sys.argv[1]
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"--driver-java-options -XX:ArchiveClassesAtExit={DRIVER_ARCHIVE} "
        f"--conf spark.executor.extraJavaOptions=-XX:ArchiveClassesAtExit={EXECUTOR_ARCHIVE} pyspark-shell"
    )
    master = daemon("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", "7077")
    worker = daemon("org.apache.spark.deploy.worker.Worker", MASTER, "--host", "127.0.0.1", "--cores", "2")
    try:
        train(bootstrap, worker)
    finally:
        for process in (worker, master):
            process.kill()
            process.wait()
    for archive in (DRIVER_ARCHIVE, EXECUTOR_ARCHIVE):
        if not archive.exists():
            raise SystemExit(f"training: {archive} was not written (see the JVM's warnings above)")
        print(f"training: {archive} {archive.stat().st_size // 1024 // 1024} MiB", flush=True)


if __name__ == "__main__":
    main()
