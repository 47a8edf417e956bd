"""The client: sends records with an idempotent Kafka producer, recording each invoke and outcome;
or in transactions, some committed and some aborted, as an exactly-once producer upstream would."""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from harness.model.events import Expected
from harness.model.history import History
from harness.workload.generator import Record

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

    def summary(self, attempted: int, seconds: float) -> ProduceSummary:
        return ProduceSummary(
            attempted=attempted,
            acknowledged=self.acknowledged,
            failed=self.failed,
            indeterminate=self.indeterminate,
            seconds=seconds,
            rate=self.acknowledged / seconds if seconds > 0 else 0.0,
        )


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
    return tracker.summary(attempted, seconds)


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


@dataclass(frozen=True)
class Transactions:
    """Send in transactions of `size` records and abort a seeded `abort_fraction` of them."""

    size: int
    abort_fraction: float
    seed: int

    def __str__(self) -> str:
        return f"in transactions of {self.size}, {self.abort_fraction:.0%} aborted"


def produce_in_transactions(
    records: Iterable[Record],
    bootstrap_servers: str,
    topic: str,
    history: History,
    plan: Transactions,
    *,
    timeout_s: float = 60,
    first_index: int = 0,
) -> ProduceSummary:
    """Each record of a committed transaction ends `ok` at its position; each of an aborted one
    `fail`: it is in the log, but a read_committed reader never sees it, so it never happened. A
    commit that raises leaves its records `info` (Kafka may have committed them)."""
    transactional_id = f"tally-{uuid.uuid4()}"
    producer = Producer(
        {**PRODUCER_CONFIG, "bootstrap.servers": bootstrap_servers, "transactional.id": transactional_id}
    )
    producer.init_transactions(timeout_s)
    return send_in_transactions(
        producer, records, topic, history, plan, timeout_s=timeout_s, first_index=first_index
    )


def send_in_transactions(
    producer: Any,
    records: Iterable[Record],
    topic: str,
    history: History,
    plan: Transactions,
    *,
    timeout_s: float,
    first_index: int = 0,
) -> ProduceSummary:
    """The loop behind `produce_in_transactions`, for any transactional producer-like client."""
    rng = random.Random(f"transactions-{plan.seed}")
    tracker = DeliveryTracker(history)
    start = time.monotonic()
    attempted = 0
    records = iter(records)
    while chunk := list(itertools.islice(records, plan.size)):
        indices = range(first_index + attempted, first_index + attempted + len(chunk))
        attempted += len(chunk)
        reports = _Reports()
        producer.begin_transaction()
        for index, record in zip(indices, chunk, strict=True):
            tracker.invoked(index, record.expected)
            _send_in_transaction(producer, topic, record, reports.callback(index))
        if rng.random() < plan.abort_fraction:
            # Every record written first: an abort whose EndTxn overtakes the transaction's first
            # AddPartitionsToTxn is refused as INVALID_TXN_STATE, fatally (librdkafka#4849). It is
            # also what an aborted transaction upstream looks like: its records in the log.
            producer.flush(timeout_s)
            producer.abort_transaction(timeout_s)
            for index in indices:
                tracker.fail(index, "transaction aborted")
            continue
        try:
            producer.commit_transaction(timeout_s)
        except KafkaException as error:
            for index in indices:
                tracker.info(index, f"commit raised {error!r}")
            continue
        for index in indices:
            if index in reports.by_index:
                tracker.delivered(index, *reports.by_index[index])
            else:
                tracker.info(index, "committed without a delivery report")
    seconds = time.monotonic() - start
    return tracker.summary(attempted, seconds)


class _Reports:
    """The delivery reports of one transaction, held until it commits or aborts."""

    def __init__(self) -> None:
        self.by_index: dict[int, tuple[DeliveryError | None, DeliveredMessage]] = {}

    def callback(self, index: int) -> Callable[[DeliveryError | None, DeliveredMessage], None]:
        def report(err: DeliveryError | None, msg: DeliveredMessage) -> None:
            self.by_index[index] = (err, msg)

        return report


def _send_in_transaction(
    producer: Any,
    topic: str,
    record: Record,
    on_delivery: Callable[[DeliveryError | None, DeliveredMessage], None],
) -> None:
    while True:
        try:
            producer.produce(topic, value=record.value, key=record.key, on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:
            # Serving delivery reports is what frees queue space.
            producer.poll(QUEUE_FULL_POLL_S)
