"""Faults against the real stack: the real sink stays exact through each; the wrong sinks are caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.catalogue import NEGATIVE_CONTROLS, SCENARIOS, SEED, zombie
from harness.scenario import Check, Scenario, ScenarioFailed, run
from harness.trial import Trial

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_pipeline_stays_exact(scenario: Scenario, trial: Callable[..., Trial]) -> None:
    run(scenario, trial(**{"max_offsets_per_trigger": 2_000, **scenario.trial}))


def test_without_the_fence_a_zombie_fails_with_a_readable_dump(trial: Callable[..., Trial]) -> None:
    """The bug to reintroduce: rows written at wall-clock time instead of the batch id."""
    scenario = Scenario("zombie-unfenced", (*zombie("tests.wrong_sinks:UnfencedSink"), Check()), seed=SEED)
    unfenced = trial(max_offsets_per_trigger=2_000)
    with pytest.raises(ScenarioFailed) as failure:
        run(scenario, unfenced)
    dump = str(failure.value)
    (unfenced.history.path.parent / "failure.txt").write_text(dump)
    print(dump)
    assert "=>  6. resume the frozen driver" in dump, "the failing step is marked"
    assert "counts went backwards" in dump
    for evidence in ("lost", "history:", "last query progress"):
        assert evidence in dump


@pytest.mark.parametrize("scenario", NEGATIVE_CONTROLS, ids=lambda s: s.name)
def test_a_wrong_sink_is_caught(scenario: Scenario, trial: Callable[..., Trial]) -> None:
    run(scenario, trial(**{"max_offsets_per_trigger": 2_000, **scenario.trial}))
