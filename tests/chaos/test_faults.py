"""The gate: the catalogue's `gate` profile on the real stack, each scenario once, with this run's
seed; the real sink stays exact through each fault, and the gate's negative controls are caught (the
others run in `tox -e audit`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.audit.run import DEFAULT_EVENTS
from harness.scenario.catalogue import KEPT_SEEDS, Entry, select, zombie
from harness.scenario.mutants import BY_MUTANT, GATE_CONTROLS
from harness.scenario.steps import Check, Scenario, ScenarioFailed, run
from harness.scenario.trial import Trial

pytestmark = pytest.mark.chaos
EVENTS = DEFAULT_EVENTS["gate"]


def cases(entries: tuple[Entry, ...]) -> list[object]:
    """Each entry with this run's seed (None), and again with every seed it ever failed with."""
    return [
        pytest.param(entry, kept, id=entry.name if kept is None else f"{entry.name}-seed{kept}")
        for entry in entries
        for kept in (None, *KEPT_SEEDS.get(entry.name, ()))
    ]


@pytest.mark.parametrize(("entry", "kept"), cases(select("gate")))
def test_the_pipeline_stays_exact(
    entry: Entry, kept: int | None, seed: int, trial: Callable[..., Trial]
) -> None:
    run(entry.build(kept or seed, EVENTS), trial(**entry.driver_spec()))


@pytest.mark.parametrize(("entry", "kept"), cases(GATE_CONTROLS))
def test_a_wrong_sink_is_caught(
    entry: Entry, kept: int | None, seed: int, trial: Callable[..., Trial]
) -> None:
    run(entry.build(kept or seed, EVENTS), trial(**entry.driver_spec()))


def test_without_the_fence_a_zombie_fails_with_a_readable_dump(
    seed: int, trial: Callable[..., Trial]
) -> None:
    """The bug to reintroduce: rows written at wall-clock time instead of under the fence."""
    steps = (*zombie(seed=seed), Check())
    scenario = Scenario("zombie-unfenced", steps, seed=seed)
    unfenced = trial(max_offsets_per_trigger=2_000, sink=BY_MUTANT["fence-from-wall-clock"].sink)
    with pytest.raises(ScenarioFailed) as failure:
        run(scenario, unfenced)
    dump = str(failure.value)
    (unfenced.history.path.parent / "failure.txt").write_text(dump)
    print(dump)
    assert "=>  6. resume the frozen driver" in dump, "the failing step is marked"
    assert "counts went backwards" in dump
    for evidence in ("lost", "history:", "last query progress"):
        assert evidence in dump
