"""The window counts kept beside the checkpoint: pure arithmetic, and files a replay reads back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from pipeline.window_counts import FOLDER, RETAIN, Window, WindowCounts, advance

windows = st.builds(lambda site, k: (site, k * 10, k * 10 + 10), st.sampled_from("abc"), st.integers(0, 20))
batches = st.lists(st.tuples(windows, st.integers(1, 5)), max_size=12)


@given(before=st.dictionaries(windows, st.integers(1, 100)), added=batches, watermark=st.integers(0, 220))
def test_a_batch_adds_its_counts_and_closes_the_windows_its_watermark_passed(
    before: dict[Window, int], added: list[tuple[Window, int]], watermark: int
) -> None:
    after = advance(before, added, watermark)
    expected = Counter({w: v for w, v in before.items() if w[2] > watermark})
    for window, views in added:
        expected[window] += views
    assert after == dict(expected)
    assert advance(before, added, watermark) == after, "a replay computes the same"


def test_a_replay_starts_from_the_file_of_the_batch_before(spark: SparkSession, tmp_path: Path) -> None:
    checkpoint = str(tmp_path / "checkpoint")
    first = WindowCounts(spark, checkpoint)
    first.save(0, {("a", 0, 10): 2})
    first.save(1, {("a", 0, 10): 3, ("b", 10, 20): 1})
    # A new driver (no memory of what was saved) replays batch 2, then batch 1 is replayed again.
    again = WindowCounts(spark, checkpoint)
    assert again.before(2) == {("a", 0, 10): 3, ("b", 10, 20): 1}
    assert again.before(1) == {("a", 0, 10): 2}
    assert again.before(0) == {}
    again.save(1, {("a", 0, 10): 3, ("b", 10, 20): 1})  # the replay's write replaces the file
    assert WindowCounts(spark, checkpoint).before(2) == {("a", 0, 10): 3, ("b", 10, 20): 1}


def test_only_the_last_files_are_kept(spark: SparkSession, tmp_path: Path) -> None:
    counts = WindowCounts(spark, str(tmp_path))
    for batch_id in range(RETAIN + 3):
        counts.save(batch_id, {("a", 0, 10): batch_id})
    kept = sorted(int(p.name) for p in (tmp_path / FOLDER).iterdir() if p.name.isdigit())
    assert kept == list(range(3, RETAIN + 3))


def test_a_missing_file_says_what_to_do(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--take-over-from"):
        WindowCounts(spark, str(tmp_path)).before(5)
