"""The benchmark's load generator: confluent-kafka producers in processes of their own.

`preload` fills a topic as fast as the broker takes it (several processes, large batches, delivery
reports for errors only) and returns the ledger; `LiveLoad` sends at a fixed rate and records when
each event was acknowledged, for latency. Every record's key names its (site, window), so a delivery
report is enough to keep the ledger; partitions are assigned in runs, round-robin, so that a skewed
site distribution does not skew the partitions.
"""

from __future__ import annotations

import itertools
import random
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from tqdm import tqdm

from harness.bench.ledger import Ledger, record_key
from harness.workload.generator import site_name

PRELOAD_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.num.messages": 100_000,
    "batch.size": 4 * 1024 * 1024,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1024 * 1024,
    # A success needs no report: after flush() every record without an error report is acknowledged.
    "delivery.report.only.error": True,
}
LIVE_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 5,
}
RUN = 512  # consecutive records per partition before moving on
# A paced producer's wake-ups once caught up: its acknowledgements are read as often, which bounds
# their timing error well under the latency poller's 100 ms.
TICK_S = 0.005
FLUSH_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Shape:
    """What the events look like: Zipf-skewed sites, event times spread over windows."""

    sites: int = 100
    zipf_s: float = 1.1
    window_ms: int = 60_000

    def cumulative_weights(self) -> list[float]:
        return list(itertools.accumulate(1.0 / (i + 1) ** self.zipf_s for i in range(self.sites)))


def event_json(event_id: str, site: str, page: int, ts_ms: int) -> str:
    return f'{{"event_id":"{event_id}","site_id":"{site}","page":"/page/{page}","ts":{ts_ms}}}'


@dataclass(frozen=True)
class PreloadResult:
    ledger: Ledger
    sent: int
    seconds: float
    processes: int

    @property
    def rate(self) -> float:
        return self.ledger.total / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _PartResult:
    acked: dict[str, int]
    failed: dict[str, int]
    sent: int


@dataclass(frozen=True)
class Backlog:
    """What `preload` sends: `events` events with times in [start_ms, start_ms + spread_ms), from
    `processes` processes; each process gets it whole and sends its own share."""

    bootstrap_servers: str
    topic: str
    partitions: int
    events: int
    shape: Shape
    start_ms: int
    spread_ms: int
    processes: int = 2
    seed: int = 1


def preload(backlog: Backlog) -> PreloadResult:
    """Send the backlog, each process its share; what was acknowledged is in the result's ledger."""
    processes = backlog.processes
    started = time.monotonic()
    with (
        ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool,
        tqdm(total=processes, desc=f"preload {backlog.events:,} events", unit="part", disable=None) as bar,
    ):
        futures = [pool.submit(_preload_part, backlog, part) for part in range(processes)]
        for future in as_completed(futures):
            future.result()
            bar.update()
        parts = [f.result() for f in futures]
    seconds = time.monotonic() - started
    ledger = Ledger()
    for part in parts:
        ledger.add(Ledger.from_keys(part.acked, part.failed))
    return PreloadResult(ledger, sum(p.sent for p in parts), seconds, processes)


def _preload_part(backlog: Backlog, part: int) -> _PartResult:
    failed: dict[str, int] = {}

    def on_error(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            key = (msg.key() or b"").decode()
            failed[key] = failed.get(key, 0) + 1

    producer = Producer(
        {**PRELOAD_CONFIG, "bootstrap.servers": backlog.bootstrap_servers, "on_delivery": on_error}
    )
    rng = random.Random(backlog.seed * 1_000 + part)
    # Locals, not attributes, in the loop below: it runs once per event.
    topic, partitions, events, shape = backlog.topic, backlog.partitions, backlog.events, backlog.shape
    start_ms, spread_ms = backlog.start_ms, backlog.spread_ms
    names = [site_name(i) for i in range(shape.sites)]
    weights = shape.cumulative_weights()
    sent: dict[str, int] = {}
    produce = producer.produce
    window = shape.window_ms
    disorder = min(1_000, max(spread_ms // 10, 1))
    indices = range(part, events, backlog.processes)
    for chunk in range(0, len(indices), 10_000):
        run = indices[chunk : chunk + 10_000]
        for i, site in zip(run, rng.choices(names, cum_weights=weights, k=len(run)), strict=True):
            # Ascending times with bounded, deterministic backwards jitter.
            ts = start_ms + i * spread_ms // events - (i * 7_919) % disorder
            key = f"{site}|{ts - ts % window}"
            sent[key] = sent.get(key, 0) + 1
            value = event_json(f"b{i}", site, i % 100, ts)
            partition = (i // RUN) % partitions
            while True:
                try:
                    produce(topic, value, key, partition)
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.poll(0)
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining:
        raise RuntimeError(f"{remaining} records still unacknowledged after {FLUSH_TIMEOUT_S:.0f} s")
    acked = {key: n - failed.get(key, 0) for key, n in sent.items()}
    return _PartResult(acked=acked, failed=failed, sent=sum(sent.values()))


@dataclass(frozen=True)
class LiveResult:
    target_rate: float
    sent: int
    ledger: Ledger
    # (monotonic time after a poll(), events acknowledged so far): the acknowledgement curve.
    acked_curve: list[tuple[float, int]] = field(repr=False)
    started: float
    stopped: float  # when the last record was handed to the producer

    @property
    def achieved_rate(self) -> float:
        seconds = self.stopped - self.started
        return self.ledger.total / seconds if seconds > 0 else 0.0


class LiveLoad:
    """A paced producer in a process of its own (so the poller in this one never slows it down)."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))

    def run(
        self,
        bootstrap_servers: str,
        topic: str,
        partitions: int,
        rate: float,
        seconds: float,
        shape: Shape,
        prefix: str,
    ) -> LiveResult:
        phase = _LivePhase(bootstrap_servers, topic, partitions, rate, seconds, shape, prefix)
        return self._pool.submit(_live, phase).result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


@dataclass(frozen=True)
class _LivePhase:
    """What `LiveLoad.run` sends, as its process gets it."""

    bootstrap_servers: str
    topic: str
    partitions: int
    rate: float
    seconds: float
    shape: Shape
    prefix: str


def paced(
    rate: float,
    started: float,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[int]:
    """How many events to send at each wake-up to hold `rate` from `started` until `deadline`: all
    that are due, at most 20 ms worth at once. Caught up, it sleeps a tick (TICK_S), so a low rate
    costs a wake-up per tick, not one per event: sleeping 1/rate between events took 0.36 of a core
    at 10,000 events/s, on the 2 cores the generator shares with what it measures."""
    burst = max(int(rate * 0.02), 1)
    sent = 0
    while (now := clock()) < deadline:
        due = max(min(int(rate * (now - started)) - sent, burst), 0)
        yield due
        sent += due
        if due < burst:
            sleep(TICK_S)


def _live(phase: _LivePhase) -> LiveResult:
    acked: dict[bytes, int] = {}
    failed: dict[bytes, int] = {}
    count = [0]

    def report(err: KafkaError | None, msg: Message) -> None:
        key = msg.key() or b""
        if err is None:
            acked[key] = acked.get(key, 0) + 1
            count[0] += 1
        else:
            failed[key] = failed.get(key, 0) + 1

    producer = Producer({**LIVE_CONFIG, "bootstrap.servers": phase.bootstrap_servers, "on_delivery": report})
    # Locals, not attributes, in the loop below: it runs once per event.
    topic, partitions, prefix, rate = phase.topic, phase.partitions, phase.prefix, phase.rate
    rng = random.Random(zlib.crc32(prefix.encode()))
    names = [site_name(i) for i in range(phase.shape.sites)]
    weights = phase.shape.cumulative_weights()
    window = phase.shape.window_ms
    curve: list[tuple[float, int]] = []
    sent = 0
    # Warm the connection first, so the paced part does not start with a metadata round trip.
    producer.list_topics(topic, timeout=30)
    started = time.monotonic()
    for due in paced(rate, started, started + phase.seconds):
        if due:
            ts = int(time.time() * 1000)
            for site in rng.choices(names, cum_weights=weights, k=due):
                key = record_key(site, ts - ts % window)
                value = event_json(f"{prefix}{sent}", site, sent % 100, ts)
                while True:
                    try:
                        producer.produce(topic, value, key, (sent // RUN) % partitions)
                        break
                    except BufferError:
                        producer.poll(0.005)
                sent += 1
        producer.poll(0)
        curve.append((time.monotonic(), count[0]))
    stopped = time.monotonic()
    drain_deadline = stopped + 60
    while len(producer) and time.monotonic() < drain_deadline:
        producer.poll(0.005)
        curve.append((time.monotonic(), count[0]))
    if len(producer):
        raise RuntimeError(f"{len(producer)} live records unacknowledged 60 s after the last send")
    ledger = Ledger.from_keys(
        {k.decode(): n for k, n in acked.items()}, {k.decode(): n for k, n in failed.items()}
    )
    return LiveResult(
        target_rate=rate,
        sent=sent,
        ledger=ledger,
        acked_curve=_thin(curve),
        started=started,
        stopped=stopped,
    )


def _thin(curve: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Keep only the points where the count changed: the curve is a step function."""
    out: list[tuple[float, int]] = []
    for t, n in curve:
        if not out or n != out[-1][1]:
            out.append((t, n))
    return out
