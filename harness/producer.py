"""The client: sends records with an idempotent Kafka producer, recording each invoke and outcome."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, Producer

from harness.history import History
from harness.workload import Expected, Record

PRODUCER_CONFIG: Mapping[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "compression.type": "lz4",
}

# librdkafka documents _PURGE_QUEUE as "purged before it was sent": the only delivery error
# that proves the record is not in the log. Any other error may follow a write whose
# acknowledgement was lost, so it is indeterminate.
NOT_PERSISTED: frozenset[int] = frozenset({KafkaError._PURGE_QUEUE})

DRAIN_POLL_S = 0.1
QUEUE_FULL_POLL_S = 0.05


class DeliveryError(Protocol):
    def code(self) -> int: ...
    def str(self) -> str: ...


class DeliveredMessage(Protocol):
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


class ProducerLike(Protocol):
    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None: ...
    def poll(self, timeout: float = ...) -> int: ...
    def purge(self, in_queue: bool = ..., in_flight: bool = ..., blocking: bool = ...) -> None: ...


@dataclass(frozen=True)
class ProduceSummary:
    attempted: int
    acknowledged: int
    failed: int
    indeterminate: int
    seconds: float
    # Acknowledged records per second.
    rate: float


class DeliveryTracker:
    """Turns delivery reports into history completions, exactly one per invoke."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.pending: dict[int, Expected] = {}
        self.acknowledged = self.failed = self.indeterminate = 0

    def invoked(self, index: int, expected: Expected) -> None:
        self.history.invoke(index, expected)
        self.pending[index] = expected

    def callback(self, index: int) -> Callable[[DeliveryError | None, DeliveredMessage], None]:
        return lambda err, msg: self.delivered(index, err, msg)

    def delivered(self, index: int, err: DeliveryError | None, msg: DeliveredMessage) -> None:
        if index not in self.pending:
            # Already given up on as info; a history holds one completion per invoke.
            return
        if err is not None:
            if err.code() in NOT_PERSISTED:
                self.fail(index, f"delivery: {err.str()}")
            else:
                self.info(index, f"delivery: {err.str()}")
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None or offset < 0:
            # Without a position the checker cannot match the record to the sink.
            self.info(index, f"acknowledged without a position: {topic}/{partition}@{offset}")
            return
        self.history.ok(index, self.pending.pop(index), topic, partition, offset)
        self.acknowledged += 1

    def fail(self, index: int, error: str) -> None:
        self.history.fail(index, self.pending.pop(index), error)
        self.failed += 1

    def info(self, index: int, error: str) -> None:
        self.history.info(index, self.pending.pop(index), error)
        self.indeterminate += 1

    def abandon(self, error: str) -> None:
        for index in sorted(self.pending):
            self.info(index, error)


def produce(
    records: Iterable[Record],
    bootstrap_servers: str,
    topic: str,
    history: History,
    *,
    timeout_s: float = 120,
    first_index: int = 0,
    config: Mapping[str, Any] | None = None,
) -> ProduceSummary:
    """Send `records` to `topic`, in order, as history records first_index, first_index + 1, ...

    `timeout_s` bounds the whole call: sends and the wait for delivery reports.
    """
    producer = Producer({**PRODUCER_CONFIG, **(config or {}), "bootstrap.servers": bootstrap_servers})
    return send_all(producer, records, topic, history, timeout_s=timeout_s, first_index=first_index)


def send_all(
    producer: ProducerLike,
    records: Iterable[Record],
    topic: str,
    history: History,
    *,
    timeout_s: float,
    first_index: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> ProduceSummary:
    """The produce loop behind `produce`, for any producer-like client."""
    tracker = DeliveryTracker(history)
    start = clock()
    deadline = start + timeout_s
    attempted = 0
    for index, record in enumerate(records, start=first_index):
        if clock() >= deadline:
            break
        tracker.invoked(index, record.expected)
        attempted += 1
        _send_one(producer, topic, index, record, tracker, deadline, clock)
        producer.poll(0)
    while tracker.pending and clock() < deadline:
        producer.poll(min(DRAIN_POLL_S, max(deadline - clock(), 0.0)))
    if tracker.pending:
        # Purged queued records report _PURGE_QUEUE (a definite fail); the rest stay unknown.
        try:
            producer.purge(in_queue=True, in_flight=False, blocking=True)
            while producer.poll(0):
                pass
        except Exception as e:
            tracker.abandon(f"purge after timeout raised {e!r}")
        tracker.abandon(f"no delivery report within {timeout_s}s")
    seconds = clock() - start
    return ProduceSummary(
        attempted=attempted,
        acknowledged=tracker.acknowledged,
        failed=tracker.failed,
        indeterminate=tracker.indeterminate,
        seconds=seconds,
        rate=tracker.acknowledged / seconds if seconds > 0 else 0.0,
    )


def _send_one(
    producer: ProducerLike,
    topic: str,
    index: int,
    record: Record,
    tracker: DeliveryTracker,
    deadline: float,
    clock: Callable[[], float],
) -> None:
    while True:
        try:
            producer.produce(topic, value=record.value, key=record.key, on_delivery=tracker.callback(index))
            return
        except BufferError:
            if clock() >= deadline:
                # BufferError means librdkafka never took the record: definitely not written.
                tracker.fail(index, "local queue still full at the deadline")
                return
            # Serving delivery reports is what frees queue space.
            producer.poll(QUEUE_FULL_POLL_S)
        except Exception as e:
            # A client exception is indeterminate, never a fail.
            tracker.info(index, f"produce raised {e!r}")
            return
