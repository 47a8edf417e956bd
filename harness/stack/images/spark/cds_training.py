"""A training run for the Spark image's class-data sharing archive (AppCDS), run once at image build.

The JVM that runs this records every class it loads into the archive at exit; drivers and executors
then map those classes instead of reading and verifying them from the jars, which is most of a
Spark JVM's start-up. Local mode, so one JVM loads the driver's and the executor's classes: a
streaming aggregation with a watermark, state and foreachBatch, shaped like the pipeline's.
"""

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = (
    SparkSession.builder.master("local[2]")
    .config("spark.sql.shuffle.partitions", "4")
    .config("spark.ui.enabled", "false")
    .getOrCreate()
)
# The Kafka source is resolved and planned, not started: no broker answers at image build time.
spark.readStream.format("kafka").option("kafka.bootstrap.servers", "127.0.0.1:9").option(
    "subscribe", "training"
).load().printSchema()
events = (
    spark.readStream.format("rate")
    .option("rowsPerSecond", "200")
    .load()
    .select(F.to_json(F.struct(F.col("value").cast("string").alias("site_id"), "timestamp")).alias("json"))
    .select(F.from_json("json", "site_id STRING, timestamp TIMESTAMP").alias("e"))
    .select("e.*")
)
counts = (
    events.withWatermark("timestamp", "1 minute")
    .groupBy("site_id", F.window("timestamp", "1 minute"))
    .count()
)
batches: list[object] = []
query = (
    counts.writeStream.outputMode("update")
    .option("checkpointLocation", "/tmp/cds-training-checkpoint")
    .trigger(processingTime="1 second")
    .foreachBatch(lambda batch, batch_id: batches.append(batch.collect()))
    .start()
)
# Wait on batches, not on time: two batches cover the first run of every operator and a state commit.
while len(batches) < 2 and query.isActive:
    query.awaitTermination(1)
query.stop()
# The archive is written when the JVM exits, which it does once its stdin (pyspark's pipe) closes:
# wait for that, or the build would go on with the archive half written.
jvm = spark.sparkContext._gateway.proc  # type: ignore[union-attr]
spark.stop()
jvm.stdin.close()
jvm.wait()
