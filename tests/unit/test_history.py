"""History: every op reaches the JSONL file at once, replays unchanged, and sorts outcomes Jepsen's way."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model.events import Expected
from harness.model.history import History, Op

VALID = Expected("valid", event_id="s-1", site_id="site-001", ts_ms=1_700_000_000_000)
DEAD = Expected.dead("invalid_json")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


texts = st.text(max_size=12)
ops = st.one_of(
    st.builds(
        Op,
        type=st.sampled_from(["invoke", "fail", "info"]),
        index=st.integers(0, 10**6),
        time_s=st.floats(0, 1e6, allow_nan=False),
        kind=st.sampled_from(["valid", "dead"]),
        event_id=st.none() | texts,
        site_id=st.none() | texts,
        ts_ms=st.none() | st.integers(-(2**62), 2**62),
        reason=st.none() | texts,
        error=st.none() | texts,
    ),
    st.builds(
        Op,
        type=st.just("ok"),
        index=st.integers(0, 10**6),
        time_s=st.floats(0, 1e6, allow_nan=False),
        kind=st.just("valid"),
        topic=texts,
        partition=st.integers(0, 1000),
        offset=st.integers(0, 2**62),
    ),
)


@settings(max_examples=50, deadline=None)
@given(written=st.lists(ops, max_size=20))
def test_a_saved_history_replays_op_for_op(written: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        with History(path) as history:
            for op in written:
                history.append(op)
        assert History.load(path).ops == written


def test_each_op_is_on_disk_before_append_returns(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path, clock=Clock())
    history.invoke(0, VALID)
    assert History.load(path).ops == history.ops
    history.ok(0, VALID, "pageviews", 2, 41)
    assert [op.type for op in History.load(path).ops] == ["invoke", "ok"]
    history.close()


def test_a_history_never_appends_to_another_runs_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    History(path).close()
    with pytest.raises(FileExistsError):
        History(path)


def test_times_are_seconds_since_the_history_started() -> None:
    history = History(clock=Clock())
    first = history.invoke(0, VALID)
    second = history.info(0, VALID, "timed out")
    assert (first.time_s, second.time_s) == (0.25, 0.5)


def test_outcomes_are_sorted_into_acknowledged_failed_and_indeterminate() -> None:
    history = History(clock=Clock())
    for index in range(5):
        history.invoke(index, VALID if index % 2 else DEAD)
    history.ok(0, DEAD, "pageviews", 0, 7)
    history.fail(1, VALID, "purged before sending")
    history.info(2, DEAD, "delivery: timed out")
    history.ok(3, VALID, "pageviews", 1, 3)
    # Record 4 never completed: the harness died before hearing back.
    assert [op.index for op in history.acknowledged()] == [0, 3]
    assert [op.index for op in history.failed()] == [1]
    indeterminate = history.indeterminate()
    assert [(op.index, op.type) for op in indeterminate] == [(2, "info"), (4, "info")]
    assert indeterminate[1].error == "no completion recorded"
    assert history.acknowledged()[0].position == ("pageviews", 0, 7)
    assert history.acknowledged()[0].reason == "invalid_json"


def test_an_unterminated_last_line_is_dropped_but_a_corrupt_middle_is_not(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with History(path, clock=Clock()) as history:
        history.invoke(0, VALID)
        history.invoke(1, VALID)
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][:10])
    assert [op.index for op in History.load(path).ops] == [0]
    path.write_text(lines[0][:10] + "\n" + lines[1] + "\n")
    with pytest.raises(ValueError, match=r"history.jsonl:1: unreadable op"):
        History.load(path)


def test_ops_refuse_unknown_types_fields_and_an_ok_without_position() -> None:
    with pytest.raises(ValueError, match="unknown op type"):
        Op("done", 0, 0.0, "valid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs topic"):
        Op("ok", 0, 0.0, "valid", topic="pageviews", partition=0)
    with pytest.raises(ValueError, match="unknown op fields"):
        Op.from_json('{"type":"invoke","index":0,"time_s":0,"kind":"valid","colour":"red"}')
