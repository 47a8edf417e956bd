"""Pure checker: judges a send history against a sink snapshot; returns a verdict with evidence.

It judges either every acknowledged copy (`distinct=False`: a pipeline without deduplication counts
each record it reads) or distinct events (`distinct=True`: copies of one event, the same event_id
and ts re-sent by an at-least-once producer, count once; the event is late only if every
acknowledged copy was reported late). It judges a whole run, or a part of one (`only`: the events sent
during an upgrade, say) with the same rules.
"""

from __future__ import annotations

import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from harness.checker.lateness import LatenessJudge
from harness.model.events import window_start_ms
from harness.model.history import History, Op, OpType
from harness.model.snapshot import LateReport, Position, RowKey, SinkSnapshot
from harness.tables import text_table

EXPLAIN_LIMIT = 30


@dataclass(frozen=True)
class RowEvidence:
    """One (site, window) whose count is outside [expected_min, expected_max]."""

    site_id: str
    window_start_ms: int
    acknowledged: int  # acknowledged valid events of the row
    attempted: int  # events that may be in the log: acknowledged + indeterminate
    late: int  # of those, reported late (by offset; unknown offsets matched to info sends)
    counted: int
    lost: int
    duplicated: int
    unexpected: int  # counted where no send could have landed
    expected_min: int
    expected_max: int
    resent: int = 0  # judging distinct events: events of the row acknowledged more than once

    @property
    def diff(self) -> int:
        if self.counted < self.expected_min:
            return self.counted - self.expected_min
        return max(self.counted - self.expected_max, 0)


# wrongly_late: a late report the history cannot justify (see `harness.checker.lateness`); its event is
# then expected in the count, so an uncounted one is also lost in its row.
ProblemKind = Literal["lost", "unexpected", "misclassified", "wrong_row", "wrongly_late"]


@dataclass(frozen=True)
class PositionProblem:
    """A dead letter or late report that disagrees with the history, at one Kafka position."""

    kind: ProblemKind
    position: Position
    detail: str

    def __str__(self) -> str:
        topic, partition, offset = self.position
        return f"{self.kind:<13} {topic}/{partition}@{offset}  {self.detail}"


@dataclass(frozen=True)
class Summary:
    attempted: int
    acknowledged: int
    failed: int
    indeterminate: int
    counted_total: int
    dead_lettered: int
    late: int
    lost: int
    duplicated: int
    unexpected: int
    misclassified: int
    wrongly_late: int = 0
    judged: Literal["copies", "distinct events"] = "copies"
    resent: int = 0  # acknowledged copies beyond the first of each event

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


@dataclass(frozen=True)
class Verdict:
    """valid is True, False, or None when the checker could not judge (see `error`)."""

    valid: bool | None
    summary: Summary | None
    rows: tuple[RowEvidence, ...] = ()
    dead_letter_problems: tuple[PositionProblem, ...] = ()
    late_problems: tuple[PositionProblem, ...] = ()
    error: str | None = None
    # Acknowledged records Kafka's log no longer holds (their offset given to another record).
    log_problems: tuple[PositionProblem, ...] = ()

    def explain(self, limit: int = EXPLAIN_LIMIT) -> str:
        if self.valid is None:
            return f"UNKNOWN: the checker could not judge this run\n{self.error}"
        lines = [f"{'VALID' if self.valid else 'INVALID'}: {len(self.rows)} row(s) differ"]
        if self.rows:
            lines += _bounded(_row_table(self.rows), limit, header_lines=2)
        if self.summary is not None and self.summary.judged == "distinct events" and self.summary.duplicated:
            lines.append(
                f"duplicated: counted more often than their distinct events; {self.summary.resent} "
                "acknowledged re-sends (copies with an event_id and ts already acknowledged), "
                "per row under 'resent': were they deduplicated?"
            )
        lines.append(f"summary: {self.summary}")
        for title, problems in (
            ("kafka's log", self.log_problems),
            ("dead letters", self.dead_letter_problems),
            ("late reports", self.late_problems),
        ):
            if problems:
                lines.append(f"{title}: {len(problems)} problem(s)")
                lines += _bounded([f"  {p}" for p in problems], limit)
        return "\n".join(lines)


def check(
    history: History | Iterable[Op],
    snapshot: SinkSnapshot,
    *,
    distinct: bool = False,
    only: Callable[[Op], bool] | None = None,
) -> Verdict:
    """Judge `history` against `snapshot`; a crash yields valid=None, never a pass.

    `distinct`: expect each event counted once however many copies were sent (see the module doc).
    `only`: judge just the sends it picks (it is given each invoke) and what the sink holds for them
    (see `_part`). The rest of the history is still what Spark read before each batch, so a late
    report is judged as in the whole run. It must pick whole rows: a row holding sends it leaves out
    cannot be judged apart, and the verdict is unknown.
    """
    try:
        ops = history.ops if isinstance(history, History) else list(history)
        return _check(ops, snapshot, distinct, only)
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        error = f"{type(e).__name__}: {e} (at {where.name}, line {where.lineno})"
        return Verdict(valid=None, summary=None, error=error)


def check_counts(
    acknowledged: Mapping[RowKey, int], indeterminate: Mapping[RowKey, int], counted: Mapping[RowKey, int]
) -> list[RowEvidence]:
    """The rows whose count is outside [acknowledged, acknowledged + indeterminate]: `check`'s bound
    for a run that keeps counts per row instead of a history of sends (the benchmark's ledger), so
    with no late reports and no dead letters to match."""
    expected = _Expected()
    for row, n in acknowledged.items():
        expected.acknowledged[row] += n
        expected.attempted[row] += n
        expected.low[row] += n
        expected.high[row] += n
    for row, n in indeterminate.items():
        expected.attempted[row] += n
        expected.high[row] += n
    return _judge_rows(counted, expected)


@dataclass(frozen=True)
class _Send:
    invoke: Op
    outcome: OpType  # ok, fail or info; an invoke that never completed counts as info
    ack: Op | None


def _sends(ops: Sequence[Op]) -> list[_Send]:
    invokes: dict[int, Op] = {}
    completions: dict[int, Op] = {}
    for op in ops:
        if op.type == "invoke":
            if op.index in invokes:
                raise ValueError(f"record #{op.index} invoked twice")
            if op.kind == "valid" and (op.site_id is None or not _is_int(op.ts_ms)):
                raise ValueError(f"valid record #{op.index} lacks site_id or ts_ms: {op}")
            invokes[op.index] = op
        elif op.index not in invokes:
            raise ValueError(f"{op.type} for record #{op.index} before its invoke")
        elif op.index in completions:
            raise ValueError(f"record #{op.index} completed twice")
        else:
            completions[op.index] = op
    sends = []
    for index, invoke in invokes.items():
        done = completions.get(index)
        outcome: OpType = done.type if done is not None else "info"
        sends.append(_Send(invoke, outcome, done if outcome == "ok" else None))
    return sends


def _check(
    ops: Sequence[Op], snapshot: SinkSnapshot, distinct: bool, only: Callable[[Op], bool] | None
) -> Verdict:
    window_ms = snapshot.window_ms

    def row_of(op: Op) -> RowKey:
        # _sends refuses valid records without these.
        assert op.site_id is not None
        assert op.ts_ms is not None
        return (op.site_id, window_start_ms(op.ts_ms, window_ms))

    sends = _sends(ops)
    acked, log_problems = _placed(sends)
    unknown = [s.invoke for s in sends if s.outcome == "info"]
    # Every send, picked or not, is input Spark may have read before a late report's batch.
    judge = LatenessJudge(acked, unknown, snapshot)
    if only is not None:
        sends, snapshot = _part(sends, snapshot, only, row_of)
        acked, log_problems = _placed(sends)
        unknown = [s.invoke for s in sends if s.outcome == "info"]
    info_rows = Counter(row_of(op) for op in unknown if op.kind == "valid")
    info_dead = sum(1 for op in unknown if op.kind == "dead")

    late_positions, late_matched, late_problems = _match_late(snapshot, acked, info_rows, row_of, judge)
    if distinct:
        expected = _expect_distinct(acked, unknown, late_positions, row_of)
    else:
        expected = _expect_copies(acked, info_rows, late_positions, late_matched, row_of)
    rows = _rows(snapshot, expected)
    dead_problems = _match_dead_letters(snapshot, acked, info_dead)

    def problems(kinds: set[str]) -> int:
        return sum(p.kind in kinds for p in (*dead_problems, *late_problems, *log_problems))

    counted_total = sum(_count(v) for v in snapshot.counts.values())
    summary = Summary(
        attempted=len(sends),
        acknowledged=len(acked) + len(log_problems),
        failed=sum(s.outcome == "fail" for s in sends),
        indeterminate=len(unknown),
        counted_total=counted_total,
        dead_lettered=len(snapshot.dead_letters),
        late=len(snapshot.late),
        lost=sum(r.lost for r in rows) + problems({"lost"}),
        duplicated=sum(r.duplicated for r in rows),
        unexpected=sum(r.unexpected for r in rows) + problems({"unexpected", "wrong_row"}),
        misclassified=problems({"misclassified"}),
        wrongly_late=problems({"wrongly_late"}),
        judged="distinct events" if distinct else "copies",
        resent=sum(expected.resent.values()),
    )
    valid = not (
        summary.lost
        or summary.duplicated
        or summary.unexpected
        or summary.misclassified
        or summary.wrongly_late
    )
    # Counted + dead-lettered + late = acknowledged, in the units judged: copies, or distinct
    # events (a late report of a copy whose event was counted is not a late event).
    acked_units = sum(expected.acknowledged.values()) + sum(op.kind == "dead" for op in acked.values())
    conserved = counted_total + summary.dead_lettered + sum(expected.late.values()) == acked_units
    if valid and not unknown and not conserved:
        # The per-row checks imply conservation; if they pass without it, the checker is wrong.
        raise AssertionError(f"checks passed but counts are not conserved: {summary}")
    return Verdict(
        valid,
        summary,
        tuple(rows),
        tuple(dead_problems),
        tuple(late_problems),
        log_problems=tuple(log_problems),
    )


def _acknowledged(sends: Sequence[_Send]) -> dict[Position, Op]:
    """The acknowledged sends' invokes by their Kafka position, which only one record can hold: of
    two acknowledged at one position, the later (see `_placed`)."""
    return _placed(sends)[0]


def _placed(sends: Sequence[_Send]) -> tuple[dict[Position, Op], list[PositionProblem]]:
    """`_acknowledged`, and a `lost` problem for each record whose position a later acknowledgement
    took: the log lost it. Its leader acknowledged it alone and died, and the next leader gave the
    offset to another record (a producer with `acks=1`, or an unclean leader election). Judged by
    Kafka's word, not the pipeline's: the pipeline can only count what the log still holds."""
    holder: dict[Position, _Send] = {}
    problems = []
    for send in sorted((s for s in sends if s.ack is not None), key=lambda s: s.ack.time_s):  # type: ignore[union-attr]
        assert send.ack is not None
        position = send.ack.position
        assert position is not None  # Op refuses an ok without one
        if position in holder:
            earlier = holder[position].invoke
            detail = (
                f"record #{earlier.index} acknowledged here, then record #{send.invoke.index}: "
                f"the log lost #{earlier.index} (an acknowledgement no surviving replica kept)"
            )
            problems.append(PositionProblem("lost", position, detail))
        holder[position] = send
    # In the order the records were sent, as before any position was taken twice.
    kept = sorted(holder.items(), key=lambda item: item[1].invoke.index)
    return {position: send.invoke for position, send in kept}, problems


def _part(
    sends: Sequence[_Send],
    snapshot: SinkSnapshot,
    only: Callable[[Op], bool],
    row_of: Callable[[Op], RowKey],
) -> tuple[list[_Send], SinkSnapshot]:
    """The sends `only` picks, and what the sink holds for them: the counts of their rows, the dead
    letters and late reports at the positions they were acknowledged at, and those at positions no
    acknowledged send holds that can be theirs. Such a position can only be an info send's: a late
    report there names its row, which is wholly picked or wholly left out; a dead letter names
    nothing, so the rest's malformed info sends take the first, the picked ones the next, in the
    order the whole check matches them. What neither side can explain is judged with the whole run."""
    picked: list[_Send] = []
    rest: list[_Send] = []
    for send in sends:
        (picked if only(send.invoke) else rest).append(send)
    rows = {row_of(send.invoke) for send in picked if send.invoke.kind == "valid"}
    shared = rows & {row_of(send.invoke) for send in rest if send.invoke.kind == "valid"}
    if shared:
        raise ValueError(
            f"{len(shared)} row(s) hold sends both picked and left out, "
            f"{', '.join(_row_text(row) for row in sorted(shared)[:3])} among them: pick whole rows"
        )
    theirs = set(_acknowledged(rest))
    ours = set(_acknowledged(picked))
    dead = {_position(k): _reason(v) for k, v in snapshot.dead_letters.items()}
    strangers = sorted(set(dead) - theirs - ours)
    first = _info_dead(rest)
    dead_kept = ours | set(strangers[first : first + _info_dead(picked)])
    late = {_position(k): _late_report(v) for k, v in snapshot.late.items()}
    part = replace(
        snapshot,
        counts={k: v for k, v in snapshot.counts.items() if _row_key(k) in rows},
        dead_letters={p: reason for p, reason in dead.items() if p in dead_kept},
        late={p: r for p, r in late.items() if p in ours or (p not in theirs and r.row in rows)},
    )
    return picked, part


def _info_dead(sends: Sequence[_Send]) -> int:
    return sum(send.outcome == "info" and send.invoke.kind == "dead" for send in sends)


@dataclass
class _Expected:
    """Per row, in the units judged (copies or distinct events): what the count must lie between."""

    acknowledged: Counter[RowKey] = field(default_factory=Counter)
    attempted: Counter[RowKey] = field(default_factory=Counter)
    late: Counter[RowKey] = field(default_factory=Counter)
    low: Counter[RowKey] = field(default_factory=Counter)
    high: Counter[RowKey] = field(default_factory=Counter)
    resent: Counter[RowKey] = field(default_factory=Counter)


def _expect_copies(
    acked: dict[Position, Op],
    info_rows: Counter[RowKey],
    late_positions: set[Position],
    late_matched: Counter[RowKey],
    row_of: Callable[[Op], RowKey],
) -> _Expected:
    """Every acknowledged valid record counts, unless reported late; info ones may count too."""
    e = _Expected()
    for position, op in acked.items():
        if op.kind == "valid":
            row = row_of(op)
            e.acknowledged[row] += 1
            e.attempted[row] += 1
            e.late[row] += position in late_positions
    for row, n in info_rows.items():
        e.attempted[row] += n
    for row in e.attempted:
        e.low[row] = e.acknowledged[row] - e.late[row]
        e.high[row] = e.attempted[row] - e.late[row] - late_matched[row]
        e.late[row] += late_matched[row]
    return e


def _expect_distinct(
    acked: dict[Position, Op],
    unknown: list[Op],
    late_positions: set[Position],
    row_of: Callable[[Op], RowKey],
) -> _Expected:
    """Each event (event_id, ts) counts once if any acknowledged copy was not reported late; it is
    late if all were. An info copy may have landed first and been counted: it allows one, no more."""
    copies: defaultdict[tuple[str | None, int | None], list[tuple[Op, Position | None]]] = defaultdict(list)
    for position, op in acked.items():
        if op.kind == "valid":
            copies[(op.event_id, op.ts_ms)].append((op, position))
    for op in unknown:
        if op.kind == "valid":
            copies[(op.event_id, op.ts_ms)].append((op, None))
    e = _Expected()
    for (event_id, _), sent in copies.items():
        rows = {row_of(op) for op, _ in sent}
        if len(rows) > 1:
            raise ValueError(f"copies of event {event_id} name different rows: {sorted(rows)}")
        row = rows.pop()
        acknowledged = [position for _, position in sent if position is not None]
        counted = [position for position in acknowledged if position not in late_positions]
        e.attempted[row] += 1
        e.acknowledged[row] += bool(acknowledged)
        e.late[row] += bool(acknowledged) and not counted
        e.low[row] += bool(counted)
        e.high[row] += bool(counted) or len(acknowledged) < len(sent)
        e.resent[row] += max(len(acknowledged) - 1, 0)
    return e


def _match_late(
    snapshot: SinkSnapshot,
    acked: dict[Position, Op],
    info_rows: Counter[RowKey],
    row_of: Callable[[Op], RowKey],
    judge: LatenessJudge,
) -> tuple[set[Position], Counter[RowKey], list[PositionProblem]]:
    """Late reports: of acknowledged sends by offset; any others, per row, can only be info sends.
    Only justified reports excuse an event from the count."""
    late_acked: set[Position] = set()
    unmatched: defaultdict[RowKey, list[tuple[Position, LateReport]]] = defaultdict(list)
    problems = []
    for raw_position, raw_report in snapshot.late.items():
        position, report = _position(raw_position), _late_report(raw_report)
        op = acked.get(position)
        if op is not None and op.kind != "valid":
            detail = f"record #{op.index} is malformed ({op.reason}) yet reported late"
            problems.append(PositionProblem("unexpected", position, detail))
            continue
        if op is None:
            unmatched[report.row].append((position, report))
            continue
        why = judge.unjustified(position, report, op.ts_ms)
        if why is not None:
            detail = f"event {op.event_id} (record #{op.index}): {why}"
            problems.append(PositionProblem("wrongly_late", position, detail))
        else:
            # Matched by offset, so this copy was not counted whichever row the report names.
            late_acked.add(position)
            if report.row != row_of(op):
                detail = (
                    f"event {op.event_id} belongs to {_row_text(row_of(op))}, "
                    f"reported in {_row_text(report.row)}"
                )
                problems.append(PositionProblem("wrong_row", position, detail))
    late_matched: Counter[RowKey] = Counter()
    for reported, reports in unmatched.items():
        reports.sort(key=lambda r: r[0])
        for position, report in reports[: info_rows[reported]]:
            why = judge.unjustified(position, report, None)
            if why is None:
                late_matched[reported] += 1
            else:
                detail = f"an indeterminate send of {_row_text(reported)}: {why}"
                problems.append(PositionProblem("wrongly_late", position, detail))
        for position, _ in reports[info_rows[reported] :]:
            detail = f"no acknowledged send here and no indeterminate send left in {_row_text(reported)}"
            problems.append(PositionProblem("unexpected", position, detail))
    return late_acked, late_matched, sorted(problems, key=lambda p: p.position)


def _rows(snapshot: SinkSnapshot, expected: _Expected) -> list[RowEvidence]:
    return _judge_rows({_row_key(k): _count(v) for k, v in snapshot.counts.items()}, expected)


def _judge_rows(counts: Mapping[RowKey, int], expected: _Expected) -> list[RowEvidence]:
    differing = []
    for key in sorted(expected.attempted.keys() | counts.keys()):
        attempted = expected.attempted[key]
        counted = counts.get(key, 0)
        lost = max(expected.low[key] - counted, 0)
        excess = max(counted - expected.high[key], 0)
        if lost or excess:
            site_id, window = key
            duplicated, unexpected = (excess, 0) if attempted else (0, excess)
            differing.append(
                RowEvidence(
                    site_id=site_id,
                    window_start_ms=window,
                    acknowledged=expected.acknowledged[key],
                    attempted=attempted,
                    late=expected.late[key],
                    counted=counted,
                    lost=lost,
                    duplicated=duplicated,
                    unexpected=unexpected,
                    expected_min=expected.low[key],
                    expected_max=expected.high[key],
                    resent=expected.resent[key],
                )
            )
    return differing


def _match_dead_letters(
    snapshot: SinkSnapshot, acked: dict[Position, Op], info_dead: int
) -> list[PositionProblem]:
    """Each acknowledged malformed record dead-lettered with its reason; others only if info."""
    dead = {_position(k): _reason(v) for k, v in snapshot.dead_letters.items()}
    problems = []
    for position, op in sorted(acked.items()):
        if op.kind != "dead":
            continue
        got = dead.get(position)
        if got is None:
            detail = f"record #{op.index} ({op.reason}) acknowledged but not dead-lettered"
            problems.append(PositionProblem("lost", position, detail))
        elif got != op.reason:
            detail = f"record #{op.index} expected {op.reason}, dead-lettered as {got}"
            problems.append(PositionProblem("misclassified", position, detail))
    strangers: list[Position] = []
    for position, reason in sorted(dead.items()):
        sent = acked.get(position)
        if sent is None:
            strangers.append(position)
        elif sent.kind == "valid":
            detail = f"valid event {sent.event_id} (record #{sent.index}) dead-lettered as {reason}"
            problems.append(PositionProblem("unexpected", position, detail))
    # Unknown positions can only be malformed records whose send ended info.
    for position in strangers[info_dead:]:
        detail = f"{dead[position]}: no acknowledged send here and no indeterminate one left"
        problems.append(PositionProblem("unexpected", position, detail))
    return sorted(problems, key=lambda p: p.position)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _row_key(key: object) -> RowKey:
    if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str) and _is_int(key[1]):
        return (key[0], key[1])
    raise TypeError(f"malformed row key {key!r}: want (site_id: str, window_start_ms: int)")


def _late_report(value: object) -> LateReport:
    if isinstance(value, LateReport) and all(
        _is_int(v) for v in (value.window_start_ms, value.watermark_ms, value.batch_id)
    ):
        return value
    raise TypeError(f"malformed late report {value!r}: want a LateReport")


def _position(key: object) -> Position:
    if (
        isinstance(key, tuple)
        and len(key) == 3
        and isinstance(key[0], str)
        and _is_int(key[1])
        and _is_int(key[2])
    ):
        return (key[0], key[1], key[2])
    raise TypeError(f"malformed position {key!r}: want (topic: str, partition: int, offset: int)")


def _count(value: object) -> int:
    if not _is_int(value):
        raise TypeError(f"malformed count {value!r}: want an int")
    assert isinstance(value, int)
    return value


def _reason(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"malformed dead-letter reason {value!r}: want a str")
    return value


def iso_utc(ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _row_text(key: RowKey) -> str:
    return f"({key[0]}, {iso_utc(key[1])})"


def _row_table(rows: Sequence[RowEvidence]) -> list[str]:
    header: tuple[str, ...] = (
        "site",
        "window start (UTC)",
        "expected",
        "counted",
        "diff",
        "lost",
        "dup",
        "unexpected",
    )
    resent = any(r.resent for r in rows)
    body = [
        (
            r.site_id,
            iso_utc(r.window_start_ms),
            str(r.expected_min)
            if r.expected_min == r.expected_max
            else f"{r.expected_min}..{r.expected_max}",
            str(r.counted),
            f"{r.diff:+d}",
            str(r.lost),
            str(r.duplicated),
            str(r.unexpected),
        )
        + ((str(r.resent),) if resent else ())
        for r in rows
    ]
    return text_table(header + (("resent",) if resent else ()), body, left=2)


def _bounded(lines: list[str], limit: int, header_lines: int = 0) -> list[str]:
    body = lines[header_lines:]
    if len(body) <= limit:
        return lines
    return [*lines[: header_lines + limit], f"  ... {len(body) - limit} more"]
