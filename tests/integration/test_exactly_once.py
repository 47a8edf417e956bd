"""Exactly-once on the real stack beyond what a scenario checks: a restarted driver resumes from the
offsets its predecessor committed. The scenarios themselves (flows, faults, negative controls) run
once each, from the catalogue's gate profile, in the chaos tier."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.scenario.trial import Trial
from harness.stack.driver import consumed_offsets, progress, source_offsets
from harness.workload.generator import WorkloadSpec

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on a window boundary


def test_graceful_restart_from_checkpoint_stays_exact(trial: Callable[..., Trial]) -> None:
    t = trial(max_offsets_per_trigger=3_000)
    t.produce(WorkloadSpec(seed=2, events=8_000, sites=50, start_ms=START_MS, spread_ms=4 * 60_000))
    first = t.start_driver()
    t.wait_consumed()
    assert first.stop() == 0, first.logs()[-3000:]
    reports_of_first = len(progress(t.spec))
    committed_by_first = consumed_offsets(t.spec)
    # Settings that change results are pinned to the checkpoint: another window is refused by name.
    refused = t.start_driver(ready=False, window="5 minutes")
    assert t.wait_exit(refused) == 2, refused.logs()[-3000:]
    assert (
        "--window: the checkpoint was built with '1 minute', this start asks for '5 minutes'"
        in refused.logs()
    )
    # More events for the same windows and for new ones: the second driver must add to the state
    # the first left in the checkpoint, not start over and not re-read what was committed.
    t.produce(
        WorkloadSpec(seed=3, events=8_000, sites=50, start_ms=START_MS + 2 * 60_000, spread_ms=4 * 60_000)
    )
    t.start_driver()
    t.wait_consumed()
    verdict = t.assert_exact()
    assert verdict.summary.counted_total == 16_000
    second_run = [p for p in progress(t.spec)[reports_of_first:] if p["numInputRows"] > 0]
    assert second_run, "the second driver reported no batch with input"
    assert source_offsets(second_run[0], t.spec.topic, "startOffset") == committed_by_first
