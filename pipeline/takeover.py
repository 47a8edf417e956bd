"""Take-over: a new checkpoint continues a job from exactly where the old one committed.

A checkpoint has to be replaced when a setting that its state depends on changes (turning on
`--dedup`), when Kafka's retention has removed offsets it still needs, or when a Spark upgrade
cannot read it. `--take-over-from OLD` starts the new checkpoint as the job's next generation:

1. N is the old checkpoint's last committed batch. The new query starts at its end offsets, from
   Spark's offset log: every record counted is counted by exactly one generation.
2. A batch N+1 planned and not committed (SIGTERM refuses to start one; a crash can leave one half
   written) is read again by the new generation. Any window its records fall in that is not carried
   (step 4) is carried with 0, so a count it may have half written is overwritten as well.
3. W, the watermark the old query would have dropped batch N+1's input by (`offsets/N`), becomes a
   constant of the new generation: an event whose window ended at or before W was final in the old
   one, and is reported late with watermark W.
4. A window that ends after W is open: no event of it was ever dropped as late (every earlier
   watermark is at or below W), so its count is the number of valid events of it the old generation
   read, recounted here from Kafka with the same parsing, plus what the old generation had carried.
   These counts are stored with the new generation (`carried`), added to its own, and written at
   its first start above every older write, which also undoes any hand edit of an open window.
5. The registry makes the new generation the owner only if the old one still is (a lightweight
   transaction): from then on the old driver's batches are refused and its writes lose to the fence.

What cannot be carried exactly is refused: an old generation that never committed a batch, one that
deduplicated (the event ids Spark remembers are in its state, not in Kafka), changed settings other
than turning `--dedup` on, and records that Kafka's retention already deleted (the recount fails on
the gap rather than count fewer).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipeline.checkpoint import batch_end_offsets, batch_ids, batch_watermark_ms, initial_offsets, read_text
from pipeline.config import PipelineConfig
from pipeline.generations import Carried, Generation, Registry, next_base, now_us
from pipeline.parse import parse_events
from pipeline.pinned import FILE, SettingsChanged, compare, decode
from pipeline.schema import CARRIED


class TakeOverRefused(RuntimeError):
    """The take-over cannot keep the counts exact; the message says why and what to do."""


def take_over(spark: SparkSession, registry: Registry, config: PipelineConfig) -> Generation:
    """Register the new checkpoint as the job's next generation, with the counts it carries."""
    old_checkpoint = config.take_over_from
    assert old_checkpoint is not None
    owner, known = registry.generations(config.job)
    old = next((g for g in known if g.checkpoint == old_checkpoint), None)
    if old is None or old.number != owner:
        what = "is not a generation of" if old is None else f"is generation {old.number}, not the owner, of"
        raise TakeOverRefused(f"--take-over-from {old_checkpoint} {what} job {config.job!r}")
    committed, planned = (
        batch_ids(spark, old_checkpoint, "commits"),
        batch_ids(spark, old_checkpoint, "offsets"),
    )
    if not committed:
        raise TakeOverRefused(
            f"{old_checkpoint} committed no batch: there is nothing to continue. Start it again, or "
            "delete the job's rows and start afresh."
        )
    last = committed[-1]
    _check_settings(spark, old_checkpoint, config)
    watermark_ms = batch_watermark_ms(spark, old_checkpoint, last)
    start, end = initial_offsets(spark, old_checkpoint), batch_end_offsets(spark, old_checkpoint, last)
    carried = Counter(recount_open_windows(spark, config, start, end, watermark_ms))
    if planned and planned[-1] > last:
        uncommitted = batch_end_offsets(spark, old_checkpoint, planned[-1])
        for window in recount_open_windows(spark, config, end, uncommitted, watermark_ms):
            carried.setdefault(window, 0)
    for key, views in read_carried(registry.session, config.keyspace, old).items():
        if key[2] > watermark_ms:
            carried[key] += views
    new = Generation(
        config.job,
        old.number + 1,
        next_base(old, planned[-1], now_us()),
        config.checkpoint,
        start_offsets=end,
        carried_watermark_ms=watermark_ms,
    )
    # Stored before the registration: a generation is never the owner without its carried counts.
    write_carried(registry.session, config.keyspace, new, carried)
    if not registry.take_over(old, new):
        raise TakeOverRefused(f"job {config.job!r} changed owner during the take-over: run it again")
    return new


def _check_settings(spark: SparkSession, old_checkpoint: str, config: PipelineConfig) -> None:
    recorded = read_text(spark, old_checkpoint, FILE)
    if recorded is None:
        raise TakeOverRefused(f"{old_checkpoint} has no {FILE}: its settings are unknown")
    settings = decode(recorded)
    if settings.get("--dedup"):
        raise TakeOverRefused(
            f"{old_checkpoint} deduplicates: the event ids it remembers are in Spark's state, not in "
            "Kafka, so copies sent after a take-over would be counted again. Keep running it."
        )
    try:
        # Turning deduplication on is what a take-over is for; every other setting stays.
        compare({**settings, "--dedup": config.dedup}, config)
    except SettingsChanged as changed:
        raise TakeOverRefused(f"{changed}\n(a take-over may only turn --dedup on)") from None


def recount_open_windows(
    spark: SparkSession, config: PipelineConfig, start: str, end: str, watermark_ms: int
) -> Carried:
    """Valid events per (site, window) in Kafka offsets [start, end), for windows ending after the
    watermark: what the old generation's window counts held for them."""
    records = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", config.bootstrap_servers)
        .option("subscribe", config.topic)
        .option("startingOffsets", start)
        .option("endingOffsets", end)
        .option("kafka.isolation.level", config.kafka_isolation_level)
        # Records deleted by retention would be counted as never sent: fail instead.
        .option("failOnDataLoss", "true")
        .load()
    )
    events = parse_events(
        records, config.max_event_bytes, config.dead_letter_copy_bytes, config.max_event_time_ahead
    )
    windows = (
        events.where(F.col("reason").isNull())
        .groupBy("site_id", F.window("event_time", config.window))
        .agg(F.count(F.lit(1)).alias("views"))
        .where(F.unix_millis(F.col("window.end")) > F.lit(watermark_ms))
        .select(
            "site_id",
            F.unix_millis("window.start").alias("start"),
            F.unix_millis("window.end").alias("end"),
            "views",
        )
    )
    return {(r.site_id, r.start, r.end): r.views for r in windows.collect()}


def read_carried(session: Session, keyspace: str, generation: Generation) -> Carried:
    rows = session.execute(
        f"SELECT site_id, window_start, window_end, views FROM {keyspace}.{CARRIED}"
        " WHERE job = %s AND generation = %s",
        (generation.job, generation.number),
    )
    return {(r.site_id, _ms(r.window_start), _ms(r.window_end)): r.views for r in rows}


def write_carried(session: Session, keyspace: str, generation: Generation, carried: Carried) -> None:
    insert = session.prepare(
        f"INSERT INTO {keyspace}.{CARRIED} (job, generation, site_id, window_start, window_end, views)"
        " VALUES (?, ?, ?, ?, ?, ?)"
    )
    execute_concurrent_with_args(
        session,
        insert,
        [
            (generation.job, generation.number, site, start, end, views)
            for (site, start, end), views in carried.items()
        ],
        raise_on_first_error=True,
    )


def _ms(value: datetime) -> int:
    # The driver returns naive datetimes in UTC.
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)
