"""Benchmark bookkeeping: the ledger comparison, summaries, targets, and the table and JSON output."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, replace

import pytest

from harness.bench.analysis import memory_growth, summarize_progress
from harness.bench.executor_profile import OTHER_THREADS, TASKS, ExecutorProfile, unmeasured
from harness.bench.heap import DriverHeap, HeapSample, Histogram, driver_heap
from harness.bench.kafka_perf import parse_output
from harness.bench.latency import LagTrend, LatencyStats
from harness.bench.ledger import Ledger, compare, record_key, row_of_key
from harness.bench.resources import Usage
from harness.bench.results import Ceiling, Drain, Generator, Live, Machine, Report, Target, judge, render
from harness.checker.verdict import check
from harness.model.history import Op
from harness.model.snapshot import SinkSnapshot

MiB = 1024 * 1024
ROW = ("site-000", 1_767_225_600_000)


def ledger(**rows: int) -> Ledger:
    return Ledger(acked=Counter({(site, 0): n for site, n in rows.items()}))


def test_record_keys_name_their_row() -> None:
    assert row_of_key(record_key(*ROW).encode()) == ROW
    with pytest.raises(ValueError, match="not a benchmark record key"):
        row_of_key(b"site-000")


def test_exact_counts_pass_and_each_kind_of_damage_is_named() -> None:
    assert compare(ledger(a=3, b=2), {("a", 0): 3, ("b", 0): 2}).exact
    result = compare(ledger(a=3, b=2), {("a", 0): 2, ("b", 0): 4, ("c", 0): 1})
    assert not result.exact
    assert (result.lost, result.duplicated, result.unexpected) == (1, 2, 1)
    assert [(d.site_id, d.window_start_ms) for d in result.differing] == [("a", 0), ("b", 0), ("c", 0)]
    assert "NOT EXACT" in result.explain()


def test_indeterminate_sends_allow_a_range() -> None:
    book = Ledger(acked=Counter({("a", 0): 3}), failed=Counter({("a", 0): 2}))
    assert compare(book, {("a", 0): 5}).exact
    assert compare(book, {("a", 0): 3}).exact
    assert compare(book, {("a", 0): 6}).duplicated == 1


def test_the_ledger_is_judged_as_the_audit_judges_a_history() -> None:
    """The same sends and counts give the bench's comparison the checker's rows and totals."""
    # Per row: acknowledged sends, sends that ended info, and what the sink counted.
    rows = {("a", 0): (3, 0, 2), ("b", 0): (2, 1, 4), ("c", 0): (0, 0, 1), ("d", 60_000): (2, 2, 3)}
    history: list[Op] = []
    for (site, window), (acked, unknown, _) in rows.items():
        for outcome in ["ok"] * acked + ["info"] * unknown:
            index = len(history) // 2
            history.append(Op("invoke", index, 0.0, "valid", f"e{index}", site, window))
            if outcome == "ok":
                history.append(Op("ok", index, 0.0, "valid", topic="t", partition=0, offset=index))
            else:
                history.append(Op("info", index, 0.0, "valid", error="timed out"))
    counted = {row: n for row, (_, _, n) in rows.items()}
    verdict = check(history, SinkSnapshot(window_ms=60_000, counts=counted))
    book = Ledger(
        acked=Counter({row: a for row, (a, _, _) in rows.items()}),
        failed=Counter({row: u for row, (_, u, _) in rows.items() if u}),
    )
    result = compare(book, counted)
    assert verdict.valid is False
    assert verdict.summary is not None
    assert not result.exact
    assert result.differing == verdict.rows
    assert (result.lost, result.duplicated, result.unexpected) == (
        verdict.summary.lost,
        verdict.summary.duplicated,
        verdict.summary.unexpected,
    )


def test_ledgers_add_up_from_generator_keys() -> None:
    book = Ledger.from_keys({record_key("a", 0): 2}, {record_key("a", 0): 1})
    book.add(Ledger.from_keys({record_key("a", 0): 3, record_key("b", 60): 1}))
    assert book.acked == Counter({("a", 0): 5, ("b", 60): 1})
    assert (book.total, book.indeterminate) == (6, 1)


def test_memory_growth_is_a_fit_after_the_warm_up() -> None:
    flat = [(float(t), (500 + (t % 3)) * MiB) for t in range(0, 600, 5)]
    growing = [(float(t), (500 + t // 6) * MiB) for t in range(0, 600, 5)]
    flat_growth, grown = memory_growth(flat), memory_growth(growing)
    assert flat_growth is not None
    assert flat_growth.flat
    assert grown is not None
    assert not grown.flat
    assert grown.per_10_min_mb == pytest.approx(100, abs=1)
    assert memory_growth(flat[:2]) is None


def test_progress_summary_sums_batches_with_input_after_a_batch() -> None:
    reports = [
        {"batchId": 0, "numInputRows": 100, "durationMs": {"addBatch": 900, "triggerExecution": 1000}},
        {"batchId": 1, "numInputRows": 0, "durationMs": {"addBatch": 5, "triggerExecution": 10}},
        {
            "batchId": 2,
            "numInputRows": 50,
            "durationMs": {"addBatch": 400, "walCommit": 50, "triggerExecution": 500},
            "stateOperators": [{"numRowsTotal": 7}],
        },
    ]
    all_batches = summarize_progress(reports)
    assert (all_batches.batches, all_batches.input_rows, all_batches.max_batch_rows) == (2, 150, 100)
    assert all_batches.duration_ms["addBatch"] == 1300
    assert all_batches.shares()["addBatch"] == pytest.approx(1300 / 1500, abs=0.001)
    assert all_batches.state_rows == 7
    assert summarize_progress(reports, after_batch=0).input_rows == 50


PERF_OUTPUT = """SLF4J: Defaulting to no-operation (NOP) logger implementation
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-24 16:00:44:123, 2026-11-24 16:00:46:314, 97.0735, 44.3050, 1000000, 456412.5970, 691, 1500, \
64.7157, 666666.6667
"""


def test_consumer_perf_output_is_parsed() -> None:
    perf = parse_output(PERF_OUTPUT)
    assert perf.records == 1_000_000
    assert perf.fetch_rate == pytest.approx(666_666.67)
    assert perf.fetch_seconds == 1.5
    assert perf.seconds == pytest.approx(2.191)
    with pytest.raises(ValueError, match="no ConsumerPerformance result"):
        parse_output("Exception in thread main")


def _usage(cpu: float) -> Usage:
    return Usage(cpu_seconds=cpu, peak_rss_mb=800.0, first_rss_mb=500.0, last_rss_mb=700.0)


def _drain(label: str, rate: float, exact: bool = True) -> Drain:
    events = 5_000_000
    counted = {ROW: events if exact else events + 1}
    return Drain(
        contender=label,
        events=events,
        startup_s=9.0,
        seconds=events / rate,
        rate=rate,
        rate_from_launch=events / (events / rate + 9.0),
        exactness=compare(Ledger(acked=Counter({ROW: events})), counted),
        resources={"driver": _usage(10.0), "executor": _usage(50.0)},
    )


def _live(label: str, rate: float, p99: float, kept: bool = True) -> Live:
    return Live(
        contender=label,
        target_rate=rate,
        achieved_rate=rate,
        seconds=60.0,
        events=int(rate * 60),
        latency=LatencyStats(int(rate * 60), 0, p99 / 2, p99 * 0.9, p99 * 2, p99 * 2.2, p99 / 2),
        latency_steady=LatencyStats(int(rate * 50), 0, p99 / 2, p99 * 0.9, p99, p99 * 1.1, p99 / 2),
        lag=LagTrend(600, 5.0, 1000.0, 100, 5000),
        kept_up=kept,
        converged=True,
        exactness=None,
        resources={"driver": _usage(3.0)},
    )


def _report(pipeline_rate: float = 200_000, p99: float = 2.0) -> Report:
    report = Report(
        machine=Machine(cores=2, memory_gib=24.0, kernel="6", versions="spark-4.0.0"),
        settings={"events": 5_000_000},
        generator=Generator(5_000_000, 12.0, 416_000, 2, 0),
        ceiling=Ceiling(5_000_000, 5.0, 1_000_000, 800_000, 100.0),
    )
    report.drains = {
        "python": _drain("python", 50_000),
        "seed": _drain("seed", 30_000),
        "pipeline": _drain("pipeline", pipeline_rate),
    }
    report.latency = {"pipeline": _live("pipeline", 10_000, p99), "seed": _live("seed", 10_000, 4.0)}
    report.search = [_live("pipeline", 50_000, 2.5), _live("pipeline", 80_000, 9.0, kept=False)]
    return report


def _verdicts(report: Report) -> dict[str, bool | None]:
    return {t.name: t.met for t in judge(report, 10_000)}


def test_targets_met_by_a_fast_exact_pipeline() -> None:
    report = _report(pipeline_rate=600_000, p99=0.4)  # 0.8 s over the whole phase
    report.drains["pipeline"] = replace(
        report.drains["pipeline"], resources={"driver": _usage(10.0), "executor": _usage(20.0)}
    )
    report.search.append(_live("pipeline", 160_000, 0.9))
    verdicts = _verdicts(report)
    assert verdicts["drain vs seed"] is True
    assert verdicts["drain vs python"] is True
    assert verdicts["largest live rate"] is True
    assert verdicts["p99 latency at 10,000/s, first minute included"] is True
    assert verdicts["executor CPU per million events"] is True  # 4 s
    # Without a soak the heap is not measured.
    assert verdicts[HEAP] is None


def test_targets_missed_by_a_slow_pipeline() -> None:
    # 2 s after the warm-up, 4 s with the first minute: the first minute counts.
    verdicts = _verdicts(_report(pipeline_rate=80_000, p99=0.6))
    assert verdicts["drain vs seed"] is True  # 2.7x
    assert verdicts["drain vs python"] is False  # 1.6x
    assert verdicts["largest live rate"] is False  # 50,000/s
    assert verdicts["p99 latency at 10,000/s, first minute included"] is False
    assert verdicts["executor CPU per million events"] is False  # 10 s


def test_a_search_the_generator_could_not_feed_does_not_judge_the_live_rate() -> None:
    """3 December: asked for 156,000/s beside the pipeline, the generator sent 118,261/s, all kept up
    with; that bounds the pipeline's limit from below, it does not find it."""
    report = _report()
    report.search = [replace(_live("pipeline", 156_000, 6.7), achieved_rate=118_261)]
    rate = {t.name: t for t in judge(report, 10_000)}["largest live rate"]
    assert rate.met is None
    assert rate.measured == "not measured: at least 118,261/s, all the generator sent of 156,000/s asked"
    assert "kept up with all of it: its own limit is higher, and unmeasured" in render(report)
    # A step that fell behind found the limit; and a fed step at the target is judged as ever.
    report.search.append(_live("pipeline", 130_000, 9.0, kept=False))
    assert _verdicts(report)["largest live rate"] is False
    report.search = [replace(_live("pipeline", 160_000, 2.0), achieved_rate=155_000)]
    assert _verdicts(report)["largest live rate"] is True


def test_a_later_step_the_generator_could_not_feed_leaves_the_live_rate_unmeasured_too() -> None:
    """3 December 17:30: 106,000/s asked, 101,485/s sent and kept up with (fed in full); then
    152,000/s asked, 99,545/s sent, kept up with again. The best step was fed, but the next shows
    the generator's limit, not the pipeline's."""
    report = _report()
    report.search = [
        replace(_live("pipeline", 106_000, 7.1), achieved_rate=101_485),
        replace(_live("pipeline", 152_000, 5.8), achieved_rate=99_545),
    ]
    rate = {t.name: t for t in judge(report, 10_000)}["largest live rate"]
    assert rate.met is None
    assert rate.measured == (
        "not measured: at least 101,485/s, all the generator sent (99,545/s of 152,000/s asked)"
    )
    assert "the generator sent 99,545/s of 152,000/s asked" in render(report)


def test_a_run_without_the_phase_a_target_is_set_on_does_not_judge_it() -> None:
    """The soak alone: no rate search, a small backlog drained by a cold executor."""
    report = _report()
    report.search = []
    small = replace(report.drains["pipeline"], events=200_000)
    report.drains["pipeline"] = small
    targets = {t.name: t for t in judge(report, 10_000)}
    rate = targets["largest live rate"]
    assert rate.met is None
    assert rate.measured == "not measured (kept up with 10,000/s; no search ran)"
    cpu = targets["executor CPU per million events"]
    assert cpu.met is None
    assert cpu.measured.startswith("not measured (250.0 s on 200,000 events")


def test_a_fast_wrong_answer_does_not_count() -> None:
    report = _report(pipeline_rate=600_000)
    report.drains["pipeline"] = _drain("pipeline", 600_000, exact=False)
    verdicts = _verdicts(report)
    assert [verdicts[name] for name in verdicts if name.startswith("drain")] == [False] * 2
    report.targets = judge(report, 10_000)
    assert "NOT EXACT" in render(report)


HEAP = "driver heap after full GC at 10,000/s"


def _soak(heap: DriverHeap | None, minutes: float = 30.0) -> Report:
    """A report with a soak of `minutes` whose driver's resident memory stayed at 500 MiB."""
    report = _report()
    resident = memory_growth([(float(t), 500 * MiB) for t in range(0, int(minutes * 60), 5)])
    report.soak = replace(
        _live("pipeline", 10_000, 2.0), seconds=minutes * 60, driver_memory=resident, driver_heap=heap
    )
    report.targets = judge(report, 10_000)
    return report


def _heap(*live_mb: float, minutes: float = 30.0) -> DriverHeap:
    """Samples spread evenly over `minutes`; the first and last histograms: one class grew."""
    every = minutes * 60 / (len(live_mb) - 1)
    samples = [HeapSample(i * every, int(mb * MiB), 2.5) for i, mb in enumerate(live_mb)]
    metric = "org.apache.spark.sql.execution.ui.SQLPlanMetric"
    first = Histogram({"[B": (10, 1000), metric: (1, 32)}, 11, 1032)
    last = Histogram({"[B": (10, 1000), metric: (9, 288)}, 19, 1288)
    return driver_heap(samples, first, last, ["/runs/heap/histogram-first.txt"])


def _target(report: Report) -> Target:
    return next(t for t in report.targets if t.name == HEAP)


def test_a_thirty_minute_soak_judges_the_heap_after_full_gc_not_the_resident_memory() -> None:
    flat = _target(_soak(_heap(400, 420, 410, 404, 409, 406, 410)))
    assert flat.met is True
    assert flat.measured == (
        "400 -> 410 MiB live (+2.5%, trend +0.1 MiB/10 min) over 30.0 min; "
        "resident memory 500 -> 500 MiB (+0.0% fitted) over 30.0 min"
    )
    # The resident memory stayed flat; the heap grew by 5%: missed.
    assert _target(_soak(_heap(400, 405, 410, 415, 420))).met is False


def test_a_short_soak_prints_the_heap_without_a_verdict() -> None:
    short = _target(_soak(_heap(400, 400, 401, minutes=10.0), minutes=10.0))
    assert short.met is None
    assert "over 10.0 min (soak too short: the target asks 30 minutes)" in short.measured


def test_a_heap_not_measured_is_said_so_and_not_judged() -> None:
    failed = HeapSample(0.0, None, 120.0, "TimeoutExpired: Command '['jcmd', '20768']' timed out")
    unmeasured = driver_heap([failed, failed], None, None, [])
    target = _target(_soak(unmeasured))
    assert target.met is None
    assert target.measured.startswith(
        "not measured: 0 of 2 samples measured; TimeoutExpired: Command '['jcmd', '20768']' timed out; "
        "resident memory 500 -> 500 MiB"
    )
    without_soak = _report()
    without_soak.targets = judge(without_soak, 10_000)
    assert _target(without_soak).measured == "not measured: run with --soak-minutes 30"


def test_the_table_and_json_carry_the_heap_series_and_the_growing_classes() -> None:
    report = _soak(_heap(400, 410, 404))
    table = render(report)
    assert "Driver heap during the soak (live bytes after a full GC" in table
    assert "org.apache.spark.sql.execution.ui.SQLPlanMetric" in table
    assert "/runs/heap/histogram-first.txt" in table
    data = json.loads(json.dumps(asdict(report), default=str))
    heap = data["soak"]["driver_heap"]
    assert [s["live_bytes"] for s in heap["samples"]] == [400 * MiB, 410 * MiB, 404 * MiB]
    assert heap["growing"][0] == {
        "name": "org.apache.spark.sql.execution.ui.SQLPlanMetric",
        "instances": 9,
        "bytes": 288,
        "instances_growth": 8,
        "bytes_growth": 256,
    }
    assert heap["growth"]["growth_pct"] == 1.0


def test_a_candidate_run_says_so_before_its_numbers() -> None:
    shipped = _report()
    assert "A/B candidate" not in render(shipped)
    candidate = _report()
    candidate.settings = {"pipeline_dir": "/tmp/b/pipeline", "executor_jar": "/tmp/patch.jar"}
    second_line = render(candidate).splitlines()[1]
    assert second_line == (
        "A/B candidate, not the shipped pipeline: its Python package from /tmp/b/pipeline; "
        "/tmp/patch.jar first on its executor's class path"
    )


def test_table_and_json_carry_the_numbers() -> None:
    report = _report(pipeline_rate=60_000)
    report.targets = judge(report, 10_000)
    report.search[0].resources["executor"] = _usage(24.0)  # over 3,000,000 events: 8.0 s per million
    table = render(report)
    assert "executor CPU s/M (warm)" in table
    assert [line.split()[-1] for line in table.splitlines() if line.startswith("  50,000/s")] == ["8.0"]
    for expected in ("60,000/s", "1,000,000/s", "p99", "MISSED", "largest live rate kept up with: 50,000/s"):
        assert expected in table
    data = json.loads(json.dumps(asdict(report), default=str))
    assert data["drains"]["pipeline"]["rate"] == 60_000
    assert data["drains"]["pipeline"]["exactness"]["exact"] is True
    assert data["latency"]["pipeline"]["latency_steady"]["p99_s"] == 2.0
    assert data["latency"]["pipeline"]["latency"]["p99_s"] == 4.0
    assert {t["name"] for t in data["targets"]} >= {"drain vs seed", "executor CPU per million events"}
    assert report.best_live() is report.search[0]


PROFILE = ExecutorProfile(
    events=5_000_000,
    seconds=30.0,
    cpu_seconds={TASKS: 35.0, "JIT compilers": 11.5, "GC and safepoints": 2.5, OTHER_THREADS: 1.0},
    task_samples={"parsing JSON": 400, "reading Kafka": 100, "aggregating": 500},
    recording="/runs/profile/executor-drain.jfr",
)


def test_the_task_threads_cpu_is_split_by_their_samples_shares() -> None:
    parts = PROFILE.part_seconds()
    assert parts["parsing JSON"] == pytest.approx(14.0)
    assert parts["aggregating"] == pytest.approx(17.5)
    assert sum(parts.values()) == pytest.approx(35.0)
    assert PROFILE.per_million(PROFILE.total) == pytest.approx(10.0)
    assert PROFILE.summary() == "tasks 7.0 s, JIT compilers 2.3 s"


def test_the_table_shows_where_the_executor_cpu_went_and_the_target_says_it_too() -> None:
    report = _report()
    report.drains["pipeline"] = replace(report.drains["pipeline"], profile=PROFILE)
    report.targets = judge(report, 10_000)
    text = render(report)
    assert "Where the pipeline executor's CPU went over the drain" in text
    assert "- parsing JSON" in text
    assert "2.80" in text  # 14 s over 5 M events
    assert "JIT compilers" in text
    assert "recording: /runs/profile/executor-drain.jfr" in text
    cpu = next(t for t in report.targets if t.name == "executor CPU per million events")
    assert cpu.measured == "10.0 s (tasks 7.0 s, JIT compilers 2.3 s)"
    assert cpu.met is False  # the verdict is on the whole executor, compilers included


def test_a_profile_not_taken_says_why_and_leaves_the_target_as_measured() -> None:
    report = _report()
    report.drains["pipeline"] = replace(
        report.drains["pipeline"], profile=unmeasured(5_000_000, "FileNotFoundError: no JDK tools")
    )
    report.targets = judge(report, 10_000)
    text = render(report)
    assert "CPU went over the drain: not measured: FileNotFoundError: no JDK tools" in text
    cpu = next(t for t in report.targets if t.name == "executor CPU per million events")
    assert cpu.measured == "10.0 s"
