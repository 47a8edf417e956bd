"""The events in flight during an upgrade: picked out of a history shaped like an upgrade scenario's
(a load, the background producer's chunks, a load after), and judged on their own."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.audit.in_flight import in_flight, in_flight_result
from harness.audit.model import InFlight
from harness.checker.verdict import Verdict, check
from harness.model.events import window_start_ms
from harness.model.history import History, Op
from harness.model.snapshot import SinkSnapshot
from harness.scenario.loads import START_MS
from harness.scenario.upgrades import CHUNK_SPAN_MS, IN_FLIGHT_MINUTES
from harness.workload.generator import WorkloadSpec, generate

WINDOW = 60_000
TOPIC = "t"
CHUNKS = 40


def load(seed: int, events: int, minute: int, minutes: int = 4) -> WorkloadSpec:
    return WorkloadSpec(
        seed=seed,
        events=events,
        sites=5,
        start_ms=START_MS + minute * 60_000,
        spread_ms=minutes * 60_000,
        malformed_fraction=0.05,
    )


def chunk(seed: int, n: int) -> WorkloadSpec:
    """One of the background producer's chunks, as `harness.scenario.upgrades.Producer` makes them."""
    return WorkloadSpec(
        seed=seed * 1_000 + n,
        events=25,
        sites=50,
        start_ms=START_MS + IN_FLIGHT_MINUTES[0] * 60_000 + n * CHUNK_SPAN_MS,
        spread_ms=CHUNK_SPAN_MS,
        malformed_fraction=0.05,
    )


def upgrade_history(seed: int) -> tuple[History, set[int]]:
    """Every record acknowledged at its own offset; and the indexes of the producer's records."""
    history = History(clock=iter(range(10**6)).__next__)
    specs = [
        load(seed, 600, minute=0),
        *(chunk(seed, n) for n in range(CHUNKS)),
        load(seed + 5, 300, minute=IN_FLIGHT_MINUTES[1]),
    ]
    producer: set[int] = set()
    for number, spec in enumerate(specs):
        for record in generate(spec):
            index = len(history.ops) // 2
            history.invoke(index, record.expected)
            history.ok(index, record.expected, TOPIC, 0, index)
            if 0 < number <= CHUNKS:
                producer.add(index)
    return history, producer


def exactly_once(history: History) -> SinkSnapshot:
    """What a correct pipeline leaves: every valid event counted, every malformed one dead-lettered."""
    counts: Counter[tuple[str, int]] = Counter()
    dead = {}
    for op in history.acknowledged():
        if op.kind == "valid":
            assert op.site_id is not None
            assert op.ts_ms is not None
            counts[(op.site_id, window_start_ms(op.ts_ms, WINDOW))] += 1
        else:
            assert op.position is not None
            assert op.reason is not None
            dead[op.position] = op.reason
    return SinkSnapshot(WINDOW, dict(counts), dead)


def judged(history: History, snapshot: SinkSnapshot) -> Verdict:
    return check(history, snapshot, only=in_flight(history.ops, WINDOW))


def invokes(history: History) -> list[Op]:
    return [op for op in history.ops if op.type == "invoke"]


def test_the_producers_records_are_picked_and_none_of_the_loads() -> None:
    history, producer = upgrade_history(seed=7)
    picked = in_flight(history.ops, WINDOW)
    chosen = {op.index for op in invokes(history) if picked(op)}
    first_minute = START_MS + IN_FLIGHT_MINUTES[0] * 60_000
    # The first chunk's events dated before the first minute (its disorder) share that window with
    # the first load: left to the whole scenario's verdict.
    early = {op.index for op in invokes(history) if op.kind == "valid" and (op.ts_ms or 0) < first_minute}
    assert chosen == producer - early
    # The load after the move dates its first events before its minute too: not picked.
    last_minute = START_MS + IN_FLIGHT_MINUTES[1] * 60_000
    assert any(
        op.index not in producer and first_minute <= (op.ts_ms or 0) < last_minute for op in invokes(history)
    )
    assert any(op.kind == "dead" for op in invokes(history) if op.index in chosen)


def test_a_seed_shared_with_a_load_leaves_the_events_in_flight_unjudged_never_misjudged() -> None:
    """With seed 0 the first chunk's seed is the first load's, so are its records' event ids: the
    load's records are not picked, nor that chunk's, and the rows it shares with the next chunk
    cannot be judged apart."""
    history, producer = upgrade_history(seed=0)
    picked = in_flight(history.ops, WINDOW)
    load_dead = [op for op in invokes(history) if op.kind == "dead" and op.index not in producer]
    assert load_dead
    assert not any(picked(op) for op in load_dead)
    verdict = judged(history, exactly_once(history))
    assert verdict.valid is None
    assert "pick whole rows" in (verdict.error or "")


@pytest.fixture(scope="module")
def upgrade() -> tuple[History, set[int]]:
    return upgrade_history(seed=7)


def test_an_exact_upgrade_has_its_events_in_flight_all_accounted_for(
    upgrade: tuple[History, set[int]],
) -> None:
    history, producer = upgrade
    result = in_flight_result(judged(history, exactly_once(history)))
    assert result.valid is True
    picked = [op for op in invokes(history) if in_flight(history.ops, WINDOW)(op)]
    dead = sum(op.kind == "dead" for op in picked)
    assert (result.attempted, result.acknowledged) == (len(picked), len(picked))
    assert (result.counted, result.dead_lettered, result.lost, result.duplicated) == (
        len(picked) - dead,
        dead,
        0,
        0,
    )
    assert len(picked) > 0.9 * len(producer)


def test_a_row_lost_during_the_move_is_the_in_flight_events_and_one_before_is_not(
    upgrade: tuple[History, set[int]],
) -> None:
    history, _ = upgrade
    exact = exactly_once(history)
    first_minute = START_MS + IN_FLIGHT_MINUTES[0] * 60_000
    during = next(row for row in sorted(exact.counts) if row[1] >= first_minute)
    before = next(row for row in sorted(exact.counts) if row[1] < first_minute)
    for row, lost in ((during, exact.counts[during]), (before, 0)):
        counts = {r: n for r, n in exact.counts.items() if r != row}
        result = in_flight_result(judged(history, SinkSnapshot(WINDOW, counts, exact.dead_letters)))
        assert (result.valid, result.lost) == (not lost, lost), row


def test_a_lost_dead_letter_of_the_move_is_the_in_flight_events(upgrade: tuple[History, set[int]]) -> None:
    history, _ = upgrade
    exact = exactly_once(history)
    picked = in_flight(history.ops, WINDOW)
    position = next(op.position for op in history.acknowledged() if op.kind == "dead" and picked(op))
    dead = {p: reason for p, reason in exact.dead_letters.items() if p != position}
    result = in_flight_result(judged(history, SinkSnapshot(WINDOW, exact.counts, dead)))
    in_flight_dead = sum(op.kind == "dead" and picked(op) for op in invokes(history))
    assert (result.valid, result.lost, result.dead_lettered) == (False, 1, in_flight_dead - 1)


def test_a_checker_that_could_not_judge_is_stored_as_unknown() -> None:
    assert in_flight_result(Verdict(valid=None, summary=None, error="TypeError: x")) == InFlight(
        valid=None, error="TypeError: x"
    )
