"""Checker: exact snapshots pass, and each kind of damage is caught on exactly the row or offset hit,
in the whole run and in the part of it that holds the damage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checker.verdict import Verdict, check
from harness.model.events import Expected, PageView, window_start_ms
from harness.model.history import History, Op
from harness.model.snapshot import LateReport, Position, RowKey, SinkSnapshot

WINDOW = 60_000
TOPIC = "pageviews"
SITES = ("site-000", "site-001", "site-002")
Outcome = Literal["ok", "fail", "info", "none"]
# A late event is a day old: the first send (never late) already took the watermark past it.
LATE_BY_MS = 86_400_000
TOP_MS = 1_700_000_000_000 + 3 * WINDOW


@dataclass(frozen=True)
class Send:
    """One generated send and, for info/none outcomes, whether it secretly reached the log."""

    kind: Literal["valid", "dead"]
    site_id: str
    ts_ms: int
    outcome: Outcome
    late: bool
    written: bool

    @property
    def event_ts_ms(self) -> int:
        return self.ts_ms - LATE_BY_MS if self.late else self.ts_ms

    @property
    def row(self) -> RowKey:
        return (self.site_id, window_start_ms(self.event_ts_ms, WINDOW))

    def report(self) -> LateReport:
        """What a correct sink writes for it: the watermark, at least its window's end, it missed."""
        return LateReport(*self.row, watermark_ms=self.ts_ms, batch_id=5)

    @property
    def in_log(self) -> bool:
        return self.outcome == "ok" or (self.outcome in ("info", "none") and self.written)


@dataclass
class World:
    """A history plus the snapshot an exactly-once pipeline would produce from it."""

    history: History
    counts: Counter[RowKey] = field(default_factory=Counter)
    dead_letters: dict[Position, str] = field(default_factory=dict)
    late: dict[Position, LateReport] = field(default_factory=dict)
    # Bounds a correct count must respect, computed by the model rather than the checker.
    lo: Counter[RowKey] = field(default_factory=Counter)
    hi: Counter[RowKey] = field(default_factory=Counter)
    acked_dead: list[Position] = field(default_factory=list)
    acked_valid: list[tuple[Position, RowKey]] = field(default_factory=list)

    def snapshot(self, **changes: object) -> SinkSnapshot:
        exact = SinkSnapshot(WINDOW, dict(self.counts), dict(self.dead_letters), dict(self.late))
        return replace(exact, **changes)  # type: ignore[arg-type]


def build(sends: list[Send]) -> World:
    world = World(History(clock=iter(range(10**6)).__next__))
    offsets: Counter[int] = Counter()
    for index, send in enumerate(sends):
        if send.kind == "valid":
            expected = Expected.valid(PageView(f"t-{index}", send.site_id, "/", send.event_ts_ms))
        else:
            expected = Expected.dead("invalid_json")
        world.history.invoke(index, expected)
        partition = index % 3
        position = (TOPIC, partition, offsets[partition])
        if send.in_log:
            offsets[partition] += 1
        if send.outcome == "ok":
            world.history.ok(index, expected, *position)
        elif send.outcome == "fail":
            world.history.fail(index, expected, "purged")
        elif send.outcome == "info":
            world.history.info(index, expected, "timed out")
        if send.kind == "dead":
            if send.in_log:
                world.dead_letters[position] = "invalid_json"
            if send.outcome == "ok":
                world.acked_dead.append(position)
            continue
        if send.outcome == "fail":
            continue
        if send.in_log and send.late:
            world.late[position] = send.report()
        elif send.in_log:
            world.counts[send.row] += 1
        if send.outcome == "ok":
            world.acked_valid.append((position, send.row))
            world.lo[send.row] += 0 if send.late else 1
        # An info send not reported late may yet be counted.
        world.hi[send.row] += 0 if (send.in_log and send.late) else 1
    return world


def sends_strategy(outcomes: tuple[Outcome, ...]) -> st.SearchStrategy[list[Send]]:
    send = st.builds(
        Send,
        kind=st.sampled_from(["valid", "valid", "valid", "dead"]),
        site_id=st.sampled_from(SITES),
        ts_ms=st.integers(TOP_MS - 3 * WINDOW, TOP_MS),
        outcome=st.sampled_from(outcomes),
        late=st.booleans(),
        written=st.booleans(),
    )
    # A first acknowledged valid event guarantees at least one row to damage; being on time and
    # first in partition 0, it is read before every late event, so it can justify their reports.
    first = st.builds(
        replace,
        send,
        kind=st.just("valid"),
        outcome=st.just("ok"),
        late=st.just(False),
        ts_ms=st.just(TOP_MS),
    )
    return st.tuples(first, st.lists(send, max_size=40)).map(lambda t: [t[0], *t[1]])


determinate = sends_strategy(("ok", "ok", "ok", "fail"))
any_outcome = sends_strategy(("ok", "ok", "fail", "info", "none"))
# For the tests that need only the world: a failing example still prints as `build([...])`.
determinate_worlds = st.builds(build, determinate)
any_worlds = st.builds(build, any_outcome)
fast = settings(max_examples=60, deadline=None)


def assert_invalid(verdict: Verdict) -> None:
    assert verdict.valid is False, verdict.explain()


@fast
@given(sends=any_outcome)
def test_an_exactly_once_snapshot_is_valid(sends: list[Send]) -> None:
    world = build(sends)
    verdict = check(world.history, world.snapshot())
    assert verdict.valid is True, verdict.explain()
    assert verdict.rows == ()
    assert verdict.summary is not None
    assert verdict.summary.attempted == len(sends)


@fast
@given(world=determinate_worlds)
def test_without_info_counts_are_conserved(world: World) -> None:
    summary = check(world.history, world.snapshot()).summary
    assert summary is not None
    assert summary.indeterminate == 0
    assert summary.counted_total + summary.dead_lettered + summary.late == summary.acknowledged


# A count one past either bound of its row, and the evidence it leaves as (duplicated, lost).
PAST_A_BOUND: dict[str, tuple[Callable[[World, RowKey], int], tuple[int, int]]] = {
    "over": (lambda world, row: world.hi[row] + 1, (1, 0)),
    "under": (lambda world, row: world.lo[row] - 1, (0, 1)),
}


@fast
@pytest.mark.parametrize(("past", "evidence"), PAST_A_BOUND.values(), ids=PAST_A_BOUND)
@given(world=any_worlds, data=st.data())
def test_one_past_a_bound_is_one_duplicated_or_lost_on_exactly_that_row(
    past: Callable[[World, RowKey], int], evidence: tuple[int, int], world: World, data: st.DataObject
) -> None:
    row = data.draw(st.sampled_from(sorted(world.hi)))
    verdict = check(world.history, world.snapshot(counts={**world.counts, row: past(world, row)}))
    assert_invalid(verdict)
    assert [(r.site_id, r.window_start_ms, r.duplicated, r.lost) for r in verdict.rows] == [(*row, *evidence)]
    assert verdict.summary is not None
    assert (verdict.summary.duplicated, verdict.summary.lost) == evidence


@fast
@given(world=determinate_worlds, data=st.data())
def test_without_info_adding_one_to_any_row_is_a_duplicate(world: World, data: st.DataObject) -> None:
    row = data.draw(st.sampled_from(sorted(world.hi)))
    assert world.lo[row] == world.hi[row]
    counts = {**world.counts, row: world.counts[row] + 1}
    verdict = check(world.history, world.snapshot(counts=counts))
    assert_invalid(verdict)
    assert [r.duplicated for r in verdict.rows] == [1]


@fast
@given(world=any_worlds, data=st.data())
def test_info_sends_widen_a_row_to_any_count_between_the_bounds(world: World, data: st.DataObject) -> None:
    counts = {row: data.draw(st.integers(world.lo[row], world.hi[row])) for row in world.hi}
    verdict = check(world.history, world.snapshot(counts=counts))
    assert verdict.valid is True, verdict.explain()


def test_an_info_send_allows_its_row_one_more_but_no_other_row() -> None:
    t0 = 1_700_000_000_000
    sends = [Send("valid", "site-000", t0, "ok", False, False)]
    sends.append(Send("valid", "site-000", t0, "info", False, False))
    world = build(sends)
    row = ("site-000", window_start_ms(t0, WINDOW))
    assert check(world.history, world.snapshot(counts={row: 2})).valid is True
    assert check(world.history, world.snapshot(counts={row: 1})).valid is True
    verdict = check(world.history, world.snapshot(counts={row: 2, ("site-001", row[1]): 1}))
    assert_invalid(verdict)
    assert [(r.site_id, r.unexpected) for r in verdict.rows] == [("site-001", 1)]


@fast
@given(world=any_worlds, extra=st.integers(1, 5))
def test_a_row_no_send_could_reach_is_unexpected(world: World, extra: int) -> None:
    stray = ("site-999", 1_700_000_000_000 - 1_700_000_000_000 % WINDOW)
    verdict = check(world.history, world.snapshot(counts={**world.counts, stray: extra}))
    assert_invalid(verdict)
    assert [(r.site_id, r.unexpected, r.duplicated) for r in verdict.rows] == [("site-999", extra, 0)]
    assert verdict.summary is not None
    assert verdict.summary.unexpected == extra


@fast
@given(sends=any_outcome, data=st.data())
def test_a_missing_dead_letter_is_lost(sends: list[Send], data: st.DataObject) -> None:
    world = build([*sends, Send("dead", "site-000", 0, "ok", False, True)])
    position = data.draw(st.sampled_from(world.acked_dead))
    dead = {p: r for p, r in world.dead_letters.items() if p != position}
    verdict = check(world.history, world.snapshot(dead_letters=dead))
    assert_invalid(verdict)
    assert [(p.kind, p.position) for p in verdict.dead_letter_problems] == [("lost", position)]
    assert verdict.rows == ()


@fast
@given(sends=any_outcome, data=st.data())
def test_a_dead_letter_with_the_wrong_reason_is_misclassified(sends: list[Send], data: st.DataObject) -> None:
    world = build([*sends, Send("dead", "site-000", 0, "ok", False, True)])
    position = data.draw(st.sampled_from(world.acked_dead))
    dead = {**world.dead_letters, position: "missing_site_id"}
    verdict = check(world.history, world.snapshot(dead_letters=dead))
    assert_invalid(verdict)
    assert [(p.kind, p.position) for p in verdict.dead_letter_problems] == [("misclassified", position)]


@fast
@given(world=determinate_worlds, data=st.data())
def test_dead_lettering_an_acknowledged_valid_event_is_unexpected(world: World, data: st.DataObject) -> None:
    position, _ = data.draw(st.sampled_from(world.acked_valid))
    dead = {**world.dead_letters, position: "invalid_json"}
    verdict = check(world.history, world.snapshot(dead_letters=dead))
    assert_invalid(verdict)
    assert ("unexpected", position) in [(p.kind, p.position) for p in verdict.dead_letter_problems]


def test_a_dead_letter_at_an_unknown_offset_is_unexpected_unless_an_info_send_explains_it() -> None:
    sends = [Send("valid", "site-000", 0, "ok", False, False)]
    world = build(sends)
    stranger = (TOPIC, 2, 1000)
    verdict = check(world.history, world.snapshot(dead_letters={stranger: "invalid_json"}))
    assert_invalid(verdict)
    assert [(p.kind, p.position) for p in verdict.dead_letter_problems] == [("unexpected", stranger)]
    world = build([*sends, Send("dead", "site-000", 0, "info", False, False)])
    assert check(world.history, world.snapshot(dead_letters={stranger: "oversized"})).valid is True
    two = {stranger: "oversized", (TOPIC, 2, 1001): "oversized"}
    assert check(world.history, world.snapshot(dead_letters=two)).valid is False


@fast
@given(sends=determinate)
def test_a_late_report_for_an_unknown_offset_is_unexpected(sends: list[Send]) -> None:
    world = build(sends)
    stranger = (TOPIC, 0, 10**9)
    verdict = check(world.history, world.snapshot(late={**world.late, stranger: sends[0].report()}))
    assert_invalid(verdict)
    assert [(p.kind, p.position) for p in verdict.late_problems] == [("unexpected", stranger)]


ON_TIME = Send("valid", "site-001", TOP_MS, "ok", False, False)


def test_a_late_report_in_the_wrong_row_is_flagged() -> None:
    late = Send("valid", "site-000", TOP_MS, "ok", True, True)
    world = build([ON_TIME, late])
    (position, row) = world.acked_valid[1]
    wrong = replace(late.report(), window_start_ms=row[1] + WINDOW)
    verdict = check(world.history, world.snapshot(late={position: wrong}))
    assert_invalid(verdict)
    assert [p.kind for p in verdict.late_problems] == ["wrong_row"]
    assert verdict.rows == ()


def test_counting_an_event_that_was_also_reported_late_is_a_duplicate() -> None:
    world = build([ON_TIME, Send("valid", "site-000", TOP_MS, "ok", True, True)])
    row = world.acked_valid[1][1]
    verdict = check(world.history, world.snapshot(counts={**world.counts, row: 1}))
    assert_invalid(verdict)
    assert [(r.duplicated, r.late) for r in verdict.rows] == [(1, 1)]


def late_kinds(verdict: Verdict) -> list[str]:
    return [p.kind for p in verdict.late_problems]


def test_a_sink_that_counts_nothing_and_reports_every_event_late_is_invalid() -> None:
    """The hole this checker closes: with every report claiming a watermark just past its event, no
    event ever read could have taken the watermark there, so each report is wrongly late and each
    event lost."""
    sends = [Send("valid", SITES[i % 3], TOP_MS - i * 1_000, "ok", False, False) for i in range(30)]
    world = build(sends)
    lying = {
        position: LateReport(*row, watermark_ms=row[1] + WINDOW, batch_id=3)
        for position, row in world.acked_valid
    }
    verdict = check(world.history, world.snapshot(counts={}, late=lying, allowed_lateness_ms=60_000))
    assert_invalid(verdict)
    assert verdict.summary is not None
    assert verdict.summary.wrongly_late == 30
    assert verdict.summary.lost == 30
    assert set(late_kinds(verdict)) == {"wrongly_late"}
    assert "less 60000 ms of allowed lateness" in verdict.explain()


def test_a_watermark_before_the_events_window_end_is_wrongly_late() -> None:
    late = Send("valid", "site-000", TOP_MS, "ok", True, True)
    world = build([ON_TIME, late])
    position, row = world.acked_valid[1]
    early = replace(late.report(), watermark_ms=row[1] + WINDOW - 1)
    verdict = check(world.history, world.snapshot(late={position: early}))
    assert late_kinds(verdict) == ["wrongly_late"]
    assert [r.lost for r in verdict.rows] == [1]
    assert "was not late" in verdict.explain()
    # With deduplication the event's own time is the bar, not its window's end.
    at_event_time = replace(late.report(), watermark_ms=late.event_ts_ms)
    dedup = world.snapshot(late={position: at_event_time}, dedup=True)
    assert check(world.history, dedup).valid is True
    assert check(world.history, replace(dedup, dedup=False)).valid is False


def test_the_watermark_is_bounded_by_what_batches_two_before_had_read() -> None:
    """Batch B drops by the watermark planned with batch B-1, from the events of batches up to B-2:
    a sink that judges by its own batch's watermark claims one that includes batch B-1's events."""
    old = TOP_MS - LATE_BY_MS
    sends = [
        Send("valid", "site-000", TOP_MS - 10 * WINDOW, "ok", False, False),  # batch 0, p0@0
        Send("valid", "site-001", TOP_MS, "ok", False, False),  # batch 1, p1@0
        Send("valid", "site-002", old, "ok", False, False),  # batch 2, p2@0, a day old
    ]
    world = build(sends)
    ends = {
        (1, 0): {(TOPIC, 0): 1},
        (1, 1): {(TOPIC, 0): 1, (TOPIC, 1): 1},
        (1, 2): {(TOPIC, p): 1 for p in range(3)},
    }
    position, row = world.acked_valid[2]
    counts = {r: n for r, n in world.counts.items() if r != row}

    def judged(watermark_ms: int, batch_id: int = 2) -> Verdict:
        report = LateReport(*row, watermark_ms=watermark_ms, batch_id=batch_id)
        snapshot = world.snapshot(counts=counts, late={position: report}, batch_end_offsets=ends)
        return check(world.history, snapshot)

    previous = TOP_MS - 10 * WINDOW  # what batch 0 read: the watermark batch 2 really drops by
    assert judged(previous).valid is True
    own = judged(TOP_MS)  # batch 1's event too: one batch too new
    assert late_kinds(own) == ["wrongly_late"]
    assert "the input of batches up to 0 held event times up to" in own.explain()
    assert late_kinds(judged(previous, batch_id=1)) == ["wrongly_late"], "batch 1 read offsets [?, 1) of p1"
    # Without the offset log the positions alone allow batch 1's event (another partition).
    no_log = check(world.history, world.snapshot(counts=counts, late={position: LateReport(*row, TOP_MS, 2)}))
    assert no_log.valid is True


def test_a_generation_that_took_over_drops_by_what_the_one_before_had_read() -> None:
    """A take-over's batches 0 and 1 report late by the watermark it carried: bounded by every event
    below the offsets it started from, which the old generation read."""
    sends = [
        Send("valid", "site-000", TOP_MS - 10 * WINDOW, "ok", False, False),  # p0@0, read by gen 1
        Send("valid", "site-002", TOP_MS - LATE_BY_MS, "ok", False, False),  # p1@0, gen 2 batch 0
    ]
    world = build(sends)
    position, row = world.acked_valid[1]
    counts = {r: n for r, n in world.counts.items() if r != row}
    carried = TOP_MS - 10 * WINDOW
    report = LateReport(*row, watermark_ms=carried, batch_id=0, generation=2)
    started = {(2, -1): {(TOPIC, 0): 1, (TOPIC, 1): 0}, (2, 0): {(TOPIC, 0): 1, (TOPIC, 1): 1}}
    judged = check(
        world.history, world.snapshot(counts=counts, late={position: report}, batch_end_offsets=started)
    )
    assert judged.valid is True
    # Claiming more than the old generation can have read is caught, as is a first generation's.
    higher = replace(report, watermark_ms=TOP_MS)
    too_high = check(
        world.history, world.snapshot(counts=counts, late={position: higher}, batch_end_offsets=started)
    )
    assert late_kinds(too_high) == ["wrongly_late"]
    first = replace(report, generation=1)
    assert late_kinds(check(world.history, world.snapshot(counts=counts, late={position: first}))) == [
        "wrongly_late"
    ]


def test_batches_0_and_1_drop_nothing() -> None:
    world = build([ON_TIME, Send("valid", "site-000", TOP_MS, "ok", True, True)])
    position, row = world.acked_valid[1]
    for batch_id in (0, 1):
        report = LateReport(*row, watermark_ms=row[1] + WINDOW, batch_id=batch_id)
        verdict = check(world.history, world.snapshot(late={position: report}, batch_end_offsets={}))
        assert late_kinds(verdict) == ["wrongly_late"], batch_id


@pytest.mark.parametrize(
    "damage",
    [
        {"counts": {("site-000",): 1}},
        {"counts": {"site-000": 1}},
        {"counts": {("site-000", "1700000000000"): 1}},
        {"counts": {("site-000", 0): "1"}},
        {"dead_letters": {(TOPIC, 0): "invalid_json"}},
        {"late": {(TOPIC, 0, 1): "site-000"}},
        {"late": {(TOPIC, 0, 1): ("site-000", 0)}},
        {"window_ms": 0},
    ],
)
def test_a_snapshot_the_checker_cannot_read_gives_unknown_never_valid(
    damage: dict[str, object],
) -> None:
    world = build([Send("valid", "site-000", 0, "ok", False, False)])
    verdict = check(world.history, world.snapshot(**damage))
    assert verdict.valid is None
    assert verdict.error
    assert verdict.explain().startswith("UNKNOWN")


def test_an_inconsistent_history_gives_unknown() -> None:
    world = build([Send("valid", "site-000", 0, "ok", False, False)])
    ops = world.history.ops
    assert check([*ops, ops[-1]], world.snapshot()).valid is None
    assert check(ops[1:], world.snapshot()).valid is None
    assert "completed twice" in (check([*ops, ops[-1]], world.snapshot()).error or "")


def test_an_offset_acknowledged_twice_is_an_acknowledged_record_the_log_lost() -> None:
    """A leader acknowledged #0 alone (acks=1) and died; the next leader gave its offset to #1. The
    pipeline counts what the log holds, #1, and the checker names #0 as lost, by Kafka's word."""
    history = History(clock=iter(range(100)).__next__)
    first = Expected.valid(PageView("t-0", "site-000", "/", TOP_MS))
    second = Expected.valid(PageView("t-1", "site-001", "/", TOP_MS))
    history.invoke(0, first)
    history.ok(0, first, TOPIC, 0, 7)
    history.invoke(1, second)
    history.ok(1, second, TOPIC, 0, 7)
    row = ("site-001", window_start_ms(TOP_MS, WINDOW))
    verdict = check(history, SinkSnapshot(WINDOW, {row: 1}, {}, {}))
    assert verdict.valid is False
    assert verdict.summary is not None
    assert verdict.summary.lost == 1
    assert not verdict.rows, "the pipeline counted all the log holds"
    (problem,) = verdict.log_problems
    assert problem.position == (TOPIC, 0, 7)
    assert "record #0 acknowledged here, then record #1: the log lost #0" in problem.detail
    assert "kafka's log: 1 problem(s)" in verdict.explain()


def test_explain_shows_only_differing_rows_and_stays_bounded() -> None:
    t0 = 1_700_000_000_000
    sends = [Send("valid", SITES[i % 3], t0 + (i // 3) * WINDOW, "ok", False, False) for i in range(150)]
    world = build(sends)
    damaged = sorted(world.counts)[:40]
    counts = {**world.counts, **{row: world.counts[row] + 2 for row in damaged}}
    text = check(world.history, world.snapshot(counts=counts)).explain()
    assert text.startswith("INVALID: 40 row(s) differ")
    assert "... 10 more" in text
    assert "summary: attempted=150 acknowledged=150" in text
    assert "duplicated=80" in text
    first = damaged[0]
    # The row's cells, whatever the padding: site, window, expected, counted, difference.
    row = next(
        line.split()
        for line in text.splitlines()
        if line.split()[:2] == [first[0], "2023-11-14T22:13:00.000Z"]
    )
    assert row[2:5] == ["1", "3", "+2"]
    # Only site-000 rows were damaged; the rest must stay out of the table.
    assert "site-001" not in text
    assert "site-002" not in text
    assert len([line for line in text.splitlines() if line.startswith("  site-000")]) == 30


def test_explain_of_a_valid_verdict_has_no_table() -> None:
    world = build([Send("valid", "site-000", 0, "ok", False, False)])
    text = check(world.history, world.snapshot()).explain()
    assert text.splitlines()[0] == "VALID: 0 row(s) differ"
    assert "site  " not in text


# Judging a part of a run (`only`): the events sent during an upgrade, say.


def in_part(op: Op) -> bool:
    """Whole rows: site-000's events; and the malformed records sent at even indexes."""
    return op.site_id == SITES[0] if op.kind == "valid" else op.index % 2 == 0


def not_in_part(op: Op) -> bool:
    return not in_part(op)


SUMMED = ("attempted", "acknowledged", "failed", "indeterminate", "counted_total", "late")


@fast
@given(world=any_worlds)
def test_the_parts_of_an_exact_run_are_valid_and_add_up_to_it(world: World) -> None:
    whole, part, rest = (
        check(world.history, world.snapshot(), only=pick) for pick in (None, in_part, not_in_part)
    )
    assert (whole.valid, part.valid, rest.valid) == (True, True, True), part.explain() + rest.explain()
    assert whole.summary is not None
    assert part.summary is not None
    assert rest.summary is not None
    for name in SUMMED:
        assert getattr(part.summary, name) + getattr(rest.summary, name) == getattr(whole.summary, name), name
    # A dead letter at an offset no acknowledged send holds is a part's only if the other part has
    # no malformed info send to explain it.
    assert part.summary.dead_lettered + rest.summary.dead_lettered <= whole.summary.dead_lettered
    assert check(world.history, world.snapshot(), only=lambda op: True) == whole


@fast
@pytest.mark.parametrize(("past", "evidence"), PAST_A_BOUND.values(), ids=PAST_A_BOUND)
@given(world=any_worlds, data=st.data())
def test_a_row_past_a_bound_fails_only_the_part_that_holds_it(
    past: Callable[[World, RowKey], int], evidence: tuple[int, int], world: World, data: st.DataObject
) -> None:
    row = data.draw(st.sampled_from(sorted(world.hi)))
    snapshot = world.snapshot(counts={**world.counts, row: past(world, row)})
    holder, other = (in_part, not_in_part) if row[0] == SITES[0] else (not_in_part, in_part)
    verdict = check(world.history, snapshot, only=holder)
    assert_invalid(verdict)
    assert [(r.site_id, r.window_start_ms, r.duplicated, r.lost) for r in verdict.rows] == [(*row, *evidence)]
    assert check(world.history, snapshot, only=other).valid is True


def test_a_part_is_judged_late_by_what_the_whole_run_had_read() -> None:
    """The late event's report is justified by an event of the rest, read two batches before it:
    judged on their own, the part's sends could not justify it."""
    sends = [
        Send("valid", "site-001", TOP_MS - 10 * WINDOW, "ok", False, False),  # batch 0, p0@0
        Send("valid", "site-001", TOP_MS, "ok", False, False),  # batch 1, p1@0
        Send("valid", "site-000", TOP_MS - LATE_BY_MS, "ok", False, False),  # batch 2, p2@0, a day old
    ]
    world = build(sends)
    position, row = world.acked_valid[2]
    ends = {(1, b): {(TOPIC, p): 1 for p in range(b + 1)} for b in range(3)}
    report = LateReport(*row, watermark_ms=TOP_MS - 10 * WINDOW, batch_id=2)
    counts = {r: n for r, n in world.counts.items() if r != row}
    snapshot = world.snapshot(counts=counts, late={position: report}, batch_end_offsets=ends)
    part = check(world.history, snapshot, only=in_part)
    assert part.valid is True, part.explain()
    assert part.summary is not None
    assert (part.summary.acknowledged, part.summary.late, part.summary.counted_total) == (1, 1, 0)
    alone = check([op for op in world.history.ops if in_part(op)], snapshot)
    assert late_kinds(alone) == ["wrongly_late"]


def test_a_dead_letter_at_an_unknown_offset_goes_to_the_part_that_alone_can_explain_it() -> None:
    sends = [
        Send("valid", "site-000", TOP_MS, "ok", False, False),
        Send("dead", "site-000", 0, "info", False, False),  # index 1: the rest's
        Send("dead", "site-000", 0, "info", False, False),  # index 2: the part's
    ]
    world = build(sends)
    strangers = [(TOPIC, 2, 1000 + n) for n in range(3)]

    def dead_lettered(n: int, pick: Callable[[Op], bool]) -> tuple[bool | None, int]:
        verdict = check(
            world.history, world.snapshot(dead_letters=dict.fromkeys(strangers[:n], "oversized")), only=pick
        )
        return verdict.valid, verdict.summary.dead_lettered if verdict.summary else -1

    # One: the rest's info send may explain it, so it is no part's.
    assert dead_lettered(1, in_part) == (True, 0)
    # Two: one for each side's info send.
    assert dead_lettered(2, in_part) == (True, 1)
    assert dead_lettered(2, not_in_part) == (True, 1)
    # Three: one more than either can explain, which the whole run flags, no part.
    assert (
        check(world.history, world.snapshot(dead_letters=dict.fromkeys(strangers, "oversized"))).valid
        is False
    )
    assert dead_lettered(3, in_part) == (True, 1)


def test_a_part_that_splits_a_row_cannot_be_judged() -> None:
    world = build([Send("valid", "site-000", TOP_MS, "ok", False, False)] * 2)
    verdict = check(world.history, world.snapshot(), only=lambda op: op.index == 0)
    assert verdict.valid is None
    assert "pick whole rows" in (verdict.error or "")
