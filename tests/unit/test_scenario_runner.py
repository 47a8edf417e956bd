"""The scenario runner's contract: steps in order, faults healed on failure, a dump that marks the step."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from harness.checker.verdict import check
from harness.model.history import History
from harness.model.snapshot import SinkSnapshot
from harness.scenario.steps import Context, Heal, Inject, Scenario, ScenarioFailed, Step, run


@dataclass
class FakeFault:
    log: list[str]

    def __str__(self) -> str:
        return "freeze something"

    def inject(self, stack: Any, topic: str) -> None:
        self.log.append("inject")

    def heal(self, stack: Any) -> None:
        self.log.append("heal")


@dataclass
class FakeTrial:
    """Only what the runner touches when a step fails: a verdict and a diagnosis."""

    stack: object = None
    diagnosed: list[str] = field(default_factory=list)
    spec: Any = field(default_factory=lambda: SimpleNamespace(topic="t"))

    def verdict(self) -> Any:
        return check(History(), SinkSnapshot(window_ms=60_000))

    def diagnosis(self) -> str:
        self.diagnosed.append("asked")
        return "last query progress: <fake>"


@dataclass(frozen=True)
class Record(Step):
    name: str
    log: list[str]

    def __str__(self) -> str:
        return f"record {self.name}"

    def run(self, ctx: Context) -> None:
        self.log.append(self.name)


@dataclass(frozen=True)
class Explode(Step):
    def __str__(self) -> str:
        return "explode"

    def run(self, ctx: Context) -> None:
        raise RuntimeError("boom")


def test_steps_run_in_order_and_a_healed_fault_is_not_healed_twice() -> None:
    log: list[str] = []
    fault = FakeFault(log)
    scenario = Scenario("ok", (Record("a", log), Inject(fault), Heal(fault), Record("b", log)))  # type: ignore[arg-type]
    run(scenario, FakeTrial())  # type: ignore[arg-type]
    assert log == ["a", "inject", "heal", "b"]


def test_a_failure_heals_open_faults_and_marks_the_failing_step() -> None:
    log: list[str] = []
    fault = FakeFault(log)
    trial = FakeTrial()
    scenario = Scenario("bad", (Record("a", log), Inject(fault), Explode(), Record("never", log)), seed=7)  # type: ignore[arg-type]
    with pytest.raises(ScenarioFailed) as failure:
        run(scenario, trial)  # type: ignore[arg-type]
    assert log == ["a", "inject", "heal"]
    text = str(failure.value)
    assert "scenario bad (seed 7)" in text
    assert "=>  3. explode" in text
    assert "    4. record never" in text
    assert "RuntimeError: boom" in text
    assert trial.diagnosed == ["asked"]


def test_a_scenario_that_ends_with_its_fault_on_leaves_the_stack_healed() -> None:
    """A control judged while its fault is on (writes at ONE, read during a partition) stops at its
    check; the runner heals what it left on, so the next scenario starts on a whole cluster."""
    log: list[str] = []
    fault = FakeFault(log)
    scenario = Scenario("judged-during", (Inject(fault), Record("check", log)))  # type: ignore[arg-type]
    run(scenario, FakeTrial())  # type: ignore[arg-type]
    assert log == ["inject", "check", "heal"]
