"""Checker with re-sent events: judging distinct events (dedup on) or every copy (dedup off).

The model sends each event one or more times (the copies after all first sends, as a producer
re-sends after a timeout) and builds the snapshot a pipeline would write, with or without
deduplication: a copy in the log is reported late, counted, or (deduplicated) dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checker.verdict import Verdict, check
from harness.model.events import Expected, PageView, window_start_ms
from harness.model.history import History
from harness.model.snapshot import LateReport, Position, RowKey, SinkSnapshot

WINDOW = 60_000
TOPIC = "pageviews"
T0 = 1_700_000_040_000  # on a window boundary
SITES = ("site-000", "site-001")
# Sent first and counted: its time is the watermark that every later late copy missed.
HORIZON = PageView("horizon", "site-horizon", "/", T0 + 10 * WINDOW)
HORIZON_ROW: RowKey = (HORIZON.site_id, HORIZON.ts_ms)


@dataclass(frozen=True)
class Copy:
    outcome: str  # ok, fail, info (written or not)
    late: bool  # the watermark had passed it when it was read
    written: bool  # an info copy that reached the log anyway


@dataclass(frozen=True)
class Event:
    site_id: str
    ts_ms: int
    copies: tuple[Copy, ...]

    @property
    def row(self) -> RowKey:
        return (self.site_id, window_start_ms(self.ts_ms, WINDOW))


@dataclass
class World:
    history: History
    counts: Counter[RowKey] = field(default_factory=Counter)
    late: dict[Position, LateReport] = field(default_factory=dict)
    dedup: bool = False

    def snapshot(self, counts: Counter[RowKey] | None = None) -> SinkSnapshot:
        counted = self.counts if counts is None else Counter({HORIZON_ROW: 1, **counts})
        return SinkSnapshot(WINDOW, dict(counted), {}, dict(self.late), dedup=self.dedup)


def build(events: list[Event], dedup: bool) -> World:
    """Sends every event's first copy, then the second copies, and so on; a pipeline reads them in order."""
    world = World(History(clock=iter(range(10**6)).__next__), dedup=dedup)
    world.history.invoke(0, Expected.valid(HORIZON))
    world.history.ok(0, Expected.valid(HORIZON), TOPIC, 0, 0)
    world.counts[HORIZON_ROW] = 1
    offsets: Counter[int] = Counter({0: 1})
    counted: set[int] = set()
    sends = sorted(
        ((n, i) for i, event in enumerate(events) for n in range(len(event.copies))),
        key=lambda send: send,
    )
    for index, (n, i) in enumerate(sends, start=1):
        event, copy = events[i], events[i].copies[n]
        expected = Expected.valid(PageView(f"e-{i}", event.site_id, "/", event.ts_ms))
        world.history.invoke(index, expected)
        partition = index % 3
        position = (TOPIC, partition, offsets[partition])
        in_log = copy.outcome == "ok" or (copy.outcome == "info" and copy.written)
        if copy.outcome == "ok":
            world.history.ok(index, expected, *position)
        elif copy.outcome == "fail":
            world.history.fail(index, expected, "purged")
        else:
            world.history.info(index, expected, "timed out")
        if not in_log:
            continue
        offsets[partition] += 1
        if copy.late:
            world.late[position] = LateReport(*event.row, watermark_ms=HORIZON.ts_ms, batch_id=2)
        elif not (dedup and i in counted):
            world.counts[event.row] += 1
            counted.add(i)
    return world


def events_strategy(outcomes: tuple[str, ...]) -> st.SearchStrategy[list[Event]]:
    copy = st.builds(Copy, st.sampled_from(outcomes), st.booleans(), st.booleans())
    event = st.builds(
        Event,
        st.sampled_from(SITES),
        st.integers(T0, T0 + 2 * WINDOW),
        st.lists(copy, min_size=1, max_size=3).map(tuple),
    )
    return st.lists(event, min_size=1, max_size=25)


determinate = events_strategy(("ok", "ok", "ok", "fail"))
any_outcome = events_strategy(("ok", "ok", "fail", "info"))
fast = settings(max_examples=80, deadline=None)


def duplicates_per_row(events: list[Event]) -> Counter[RowKey]:
    """Without dedup, the counted acknowledged copies of an event beyond its first."""
    extra: Counter[RowKey] = Counter()
    for event in events:
        counted = sum(c.outcome == "ok" and not c.late for c in event.copies)
        extra[event.row] += max(counted - 1, 0)
    return +extra


@fast
@given(events=any_outcome)
def test_a_deduplicating_pipeline_is_exact_judging_distinct_events(events: list[Event]) -> None:
    world = build(events, dedup=True)
    verdict = check(world.history, world.snapshot(), distinct=True)
    assert verdict.valid is True, verdict.explain()


@fast
@given(events=any_outcome)
def test_without_dedup_every_copy_counts_judging_copies(events: list[Event]) -> None:
    world = build(events, dedup=False)
    verdict = check(world.history, world.snapshot())
    assert verdict.valid is True, verdict.explain()


@fast
@given(events=determinate)
def test_without_dedup_judging_distinct_events_names_exactly_the_duplicated_rows(events: list[Event]) -> None:
    world = build(events, dedup=False)
    verdict = check(world.history, world.snapshot(), distinct=True)
    expected = duplicates_per_row(events)
    assert verdict.valid is (not expected), verdict.explain()
    assert {(r.site_id, r.window_start_ms): r.duplicated for r in verdict.rows} == expected
    assert all(r.lost == 0 and r.resent >= r.duplicated for r in verdict.rows)
    assert verdict.summary is not None
    assert verdict.summary.judged == "distinct events"
    assert verdict.summary.resent == sum(max(sum(c.outcome == "ok" for c in e.copies) - 1, 0) for e in events)


@fast
@given(events=determinate)
def test_judging_distinct_events_conserves_them(events: list[Event]) -> None:
    world = build(events, dedup=True)
    acknowledged = [e for e in events if any(c.outcome == "ok" for c in e.copies)]
    late = [e for e in acknowledged if all(c.late for c in e.copies if c.outcome == "ok")]
    assert sum(world.counts.values()) - 1 + len(late) == len(acknowledged)
    assert check(world.history, world.snapshot(), distinct=True).valid is True


@fast
@given(events=determinate, data=st.data())
def test_judging_distinct_events_one_less_is_lost_on_that_row(
    events: list[Event], data: st.DataObject
) -> None:
    world = build(events, dedup=True)
    if len(world.counts) == 1:
        return
    row = data.draw(st.sampled_from(sorted(world.counts.keys() - {HORIZON_ROW})))
    counts = world.counts.copy()
    counts[row] -= 1
    verdict = check(world.history, world.snapshot(counts), distinct=True)
    assert [(r.site_id, r.window_start_ms, r.lost, r.duplicated) for r in verdict.rows] == [(*row, 1, 0)]


def row_table(verdict: Verdict) -> list[tuple[str, int, int, int, int]]:
    return [(r.site_id, r.window_start_ms, r.counted, r.duplicated, r.resent) for r in verdict.rows]


def test_a_copy_counted_twice_is_a_duplicate_of_a_re_sent_event_and_explained_so() -> None:
    ok = Copy("ok", late=False, written=True)
    events = [Event("site-000", T0, (ok, ok)), Event("site-001", T0, (ok,))]
    world = build(events, dedup=False)
    verdict = check(world.history, world.snapshot(), distinct=True)
    assert row_table(verdict) == [("site-000", T0, 2, 1, 1)]
    text = verdict.explain()
    assert "resent" in text.splitlines()[1]
    assert "1 acknowledged re-sends" in text
    assert check(world.history, world.snapshot()).valid is True, "judging copies, 2 is right"


def test_an_event_is_late_only_if_every_acknowledged_copy_was_reported_late() -> None:
    ok, late = Copy("ok", late=False, written=True), Copy("ok", late=True, written=True)
    counted_then_late = build([Event("site-000", T0, (ok, late))], dedup=True)
    assert counted_then_late.counts == {("site-000", T0): 1, HORIZON_ROW: 1}
    assert check(counted_then_late.history, counted_then_late.snapshot(), distinct=True).valid is True
    missing = Counter[RowKey]()
    verdict = check(counted_then_late.history, counted_then_late.snapshot(missing), distinct=True)
    assert [(r.lost, r.late) for r in verdict.rows] == [(1, 0)]

    all_late = build([Event("site-000", T0, (late, late))], dedup=True)
    assert check(all_late.history, all_late.snapshot(), distinct=True).valid is True
    one = Counter({("site-000", T0): 1})
    verdict = check(all_late.history, all_late.snapshot(one), distinct=True)
    assert [(r.duplicated, r.late) for r in verdict.rows] == [(1, 1)]


def test_an_info_copy_allows_the_event_once_whatever_its_acknowledged_copies_say() -> None:
    late, info = Copy("ok", late=True, written=True), Copy("info", late=False, written=False)
    world = build([Event("site-000", T0, (info, late))], dedup=True)
    for views in (0, 1):
        counts = Counter({("site-000", T0): views})
        assert check(world.history, world.snapshot(counts), distinct=True).valid is True
    verdict = check(world.history, world.snapshot(Counter({("site-000", T0): 2})), distinct=True)
    assert [r.duplicated for r in verdict.rows] == [1]


def test_copies_of_one_event_in_different_rows_give_unknown() -> None:
    world = build([Event("site-000", T0, (Copy("ok", False, True),))], dedup=True)
    first = world.history.ops[2]
    moved = Expected.valid(PageView(first.event_id or "", "site-001", "/", T0))
    world.history.invoke(2, moved)
    world.history.ok(2, moved, TOPIC, 1, 1)
    verdict = check(world.history, world.snapshot(), distinct=True)
    assert verdict.valid is None
    assert "different rows" in (verdict.error or "")
