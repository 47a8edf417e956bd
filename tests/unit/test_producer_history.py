"""Producer client: delivery reports become history completions, one per invoke, erring towards info."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from harness.model.events import Expected
from harness.model.history import History
from harness.workload import producer as producer_module
from harness.workload.generator import Record, WorkloadSpec, generate
from harness.workload.producer import DeliveryTracker, Transactions, produce, send_all, send_in_transactions

EXPECTED = Expected("valid", event_id="1-0", site_id="site-000", ts_ms=1_700_000_000_000)


@dataclass
class FakeError:
    code_: int

    def code(self) -> int:
        return self.code_

    def str(self) -> str:
        return f"error {self.code_}"


@dataclass
class FakeMessage:
    topic_: str | None = "pageviews"
    partition_: int | None = 1
    offset_: int | None = 17

    def topic(self) -> str | None:
        return self.topic_

    def partition(self) -> int | None:
        return self.partition_

    def offset(self) -> int | None:
        return self.offset_


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Callback = Callable[[Any, Any], None]


@dataclass
class FakeProducer:
    """Acks on poll, like librdkafka; can refuse (BufferError), raise, or stay silent."""

    clock: Clock
    queue_full_times: int = 0
    raise_on: set[int] = field(default_factory=set)
    silent: bool = False
    produced: list[tuple[bytes | None, bytes | None]] = field(default_factory=list)
    waiting: list[tuple[Callback, int]] = field(default_factory=list)
    purged: bool = False

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        if len(self.produced) in self.raise_on:
            self.raise_on.discard(len(self.produced))
            raise RuntimeError("broker connection reset")
        if self.queue_full_times:
            self.queue_full_times -= 1
            raise BufferError("Local: Queue full")
        self.produced.append((kwargs["key"], kwargs["value"]))
        self.waiting.append((kwargs["on_delivery"], len(self.produced) - 1))

    def poll(self, timeout: float = 0) -> int:
        self.clock.now += timeout
        if self.silent and not self.purged:
            return 0
        served, self.waiting = self.waiting, []
        for callback, offset in served:
            if self.purged:
                callback(FakeError(KafkaError._PURGE_QUEUE), FakeMessage(offset_=-1001))
            else:
                callback(None, FakeMessage(offset_=offset))
        return len(served)

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        self.purged = True


def records(n: int) -> list[Record]:
    return [
        Record(
            b"site-000", b'{"n":%d}' % i, Expected("valid", event_id=f"1-{i}", site_id="site-000", ts_ms=i)
        )
        for i in range(n)
    ]


def tracker_with_invoke() -> DeliveryTracker:
    tracker = DeliveryTracker(History())
    tracker.invoked(0, EXPECTED)
    return tracker


def test_a_delivered_record_completes_ok_with_its_position() -> None:
    tracker = tracker_with_invoke()
    tracker.delivered(0, None, FakeMessage("pageviews", 3, 99))
    (ok,) = tracker.history.acknowledged()
    assert (ok.index, ok.position, ok.event_id, ok.site_id) == (0, ("pageviews", 3, 99), "1-0", "site-000")
    assert tracker.pending == {}


@pytest.mark.parametrize(
    "code",
    [KafkaError._MSG_TIMED_OUT, KafkaError._PURGE_INFLIGHT, KafkaError.MSG_SIZE_TOO_LARGE, KafkaError._FATAL],
)
def test_a_delivery_error_that_might_follow_a_write_is_info(code: int) -> None:
    tracker = tracker_with_invoke()
    tracker.delivered(0, FakeError(code), FakeMessage(offset_=-1001))
    assert [op.type for op in tracker.history.ops] == ["invoke", "info"]
    assert tracker.history.ops[-1].error == f"delivery: error {code}"
    assert (tracker.indeterminate, tracker.failed) == (1, 0)


def test_a_record_purged_from_the_local_queue_is_a_definite_fail() -> None:
    tracker = tracker_with_invoke()
    tracker.delivered(0, FakeError(KafkaError._PURGE_QUEUE), FakeMessage(offset_=-1001))
    assert [op.type for op in tracker.history.ops] == ["invoke", "fail"]
    assert tracker.failed == 1


def test_an_ack_without_an_offset_is_info_not_ok() -> None:
    tracker = tracker_with_invoke()
    tracker.delivered(0, None, FakeMessage(offset_=-1001))
    assert [op.type for op in tracker.history.ops] == ["invoke", "info"]


def test_a_report_after_giving_up_does_not_add_a_second_completion() -> None:
    tracker = tracker_with_invoke()
    tracker.abandon("no delivery report within 1s")
    tracker.delivered(0, None, FakeMessage())
    assert [op.type for op in tracker.history.ops] == ["invoke", "info"]


def test_send_all_acks_everything_and_retries_a_full_queue_without_reinvoking() -> None:
    clock = Clock()
    fake = FakeProducer(clock, queue_full_times=3)
    history = History()
    summary = send_all(fake, records(5), "pageviews", history, timeout_s=10, clock=clock)
    assert (summary.attempted, summary.acknowledged, summary.failed, summary.indeterminate) == (5, 5, 0, 0)
    assert [op.type for op in history.ops].count("invoke") == 5
    assert [op.offset for op in history.acknowledged()] == [0, 1, 2, 3, 4]
    assert fake.produced[0] == (b"site-000", b'{"n":0}')


def test_a_second_workload_continues_the_record_numbers() -> None:
    clock = Clock()
    history = History()
    send_all(FakeProducer(clock), records(2), "t", history, timeout_s=10, clock=clock)
    send_all(FakeProducer(clock), records(2), "t", history, timeout_s=10, clock=clock, first_index=2)
    assert [op.index for op in history.ops if op.type == "invoke"] == [0, 1, 2, 3]
    assert [op.index for op in history.acknowledged()] == [0, 1, 2, 3]


def test_a_client_exception_is_info_and_the_rest_still_go() -> None:
    clock = Clock()
    history = History()
    summary = send_all(FakeProducer(clock, raise_on={1}), records(3), "t", history, timeout_s=10, clock=clock)
    assert (summary.acknowledged, summary.indeterminate, summary.failed) == (2, 1, 0)
    (info,) = history.indeterminate()
    assert info.index == 1
    assert info.error is not None
    assert "connection reset" in info.error


def test_silence_until_the_deadline_purges_the_queue_and_nothing_is_left_pending() -> None:
    clock = Clock()
    fake = FakeProducer(clock, silent=True)
    history = History()
    summary = send_all(fake, records(4), "t", history, timeout_s=2, clock=clock)
    assert fake.purged
    assert (summary.failed, summary.acknowledged) == (4, 0)
    assert clock.now >= 2
    completions = [op for op in history.ops if op.type != "invoke"]
    assert sorted(op.index for op in completions) == [0, 1, 2, 3]


def test_records_still_pending_after_the_purge_end_as_info() -> None:
    clock = Clock()

    class Unpurgeable(FakeProducer):
        def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
            raise RuntimeError("purge not supported")

    history = History()
    summary = send_all(Unpurgeable(clock, silent=True), records(2), "t", history, timeout_s=1, clock=clock)
    assert (summary.indeterminate, summary.failed, summary.acknowledged) == (2, 0, 0)
    assert all("purge" in (op.error or "") for op in history.indeterminate())


def test_a_queue_full_at_the_deadline_is_a_fail() -> None:
    clock = Clock()
    history = History()
    fake = FakeProducer(clock, queue_full_times=10**6)
    summary = send_all(fake, records(3), "t", history, timeout_s=1, clock=clock)
    # The deadline passes while the first record waits; later records are never invoked.
    assert (summary.attempted, summary.failed) == (1, 1)
    assert history.failed()[0].error == "local queue still full at the deadline"


def test_produce_configures_an_idempotent_acks_all_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def factory(config: dict[str, Any]) -> FakeProducer:
        seen.update(config)
        return FakeProducer(Clock())

    monkeypatch.setattr(producer_module, "Producer", factory)
    summary = produce(records(2), "kafka:9092", "t", History(), timeout_s=5, config={"client.id": "x"})
    assert summary.acknowledged == 2
    assert seen == {
        "bootstrap.servers": "kafka:9092",
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "client.id": "x",
    }


class FakeTransactionalProducer:
    """Positions in one partition; `fail_commit` makes the next commit raise."""

    def __init__(self) -> None:
        self.offset = 0
        self.queued: list[tuple[Any, int]] = []
        self.fail_commit = False

    def begin_transaction(self) -> None:
        self.queued = []

    def produce(self, topic: str, value: bytes | None, key: bytes | None, on_delivery: Any) -> None:
        self.queued.append((on_delivery, self.offset))
        self.offset += 1

    def poll(self, timeout: float = 0) -> int:
        return 0

    def _deliver(self) -> None:
        for on_delivery, offset in self.queued:
            on_delivery(None, FakeMessage("t", 0, offset))

    def commit_transaction(self, timeout: float) -> None:
        self._deliver()
        if self.fail_commit:
            self.fail_commit = False
            raise KafkaException("coordinator gone")
        self.offset += 1  # the commit marker takes an offset

    def flush(self, timeout: float) -> None:
        self._deliver()
        self.queued = []

    def abort_transaction(self, timeout: float) -> None:
        assert not self.queued, "an abort with records in flight is refused (librdkafka#4849)"
        self.offset += 1


def test_committed_transactions_are_ok_aborted_ones_fail_and_a_failed_commit_is_unknown() -> None:
    records = generated(40)
    producer = FakeTransactionalProducer()
    history = History()
    plan = Transactions(size=10, abort_fraction=0.5, seed=3)
    summary = send_in_transactions(producer, records, "t", history, plan, timeout_s=1)
    assert summary.attempted == 40
    assert summary.acknowledged + summary.failed == 40
    assert 0 < summary.failed < 40, "the seed aborts some transactions, not all"
    by_index = {op.index: op for op in history.ops if op.type != "invoke"}
    for start in range(0, 40, 10):
        outcomes = {by_index[i].type for i in range(start, start + 10)}
        assert len(outcomes) == 1, "a transaction's records share one outcome"
    offsets = [op.offset for op in history.acknowledged()]
    assert offsets == sorted(set(offsets)), "positions are distinct and in order"

    producer.fail_commit = True
    unknown = send_in_transactions(
        producer, generated(10), "t", History(), replace(plan, abort_fraction=0), timeout_s=1
    )
    assert (unknown.acknowledged, unknown.indeterminate) == (0, 10)


def generated(events: int) -> list[Record]:
    return list(generate(WorkloadSpec(seed=1, events=events)))
