"""The audit's sampler counts acknowledged events in the units the pipeline accounts for."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.audit.timeline import Sampler
from harness.model.history import History, Op
from harness.stack.driver import DriverSpec


def ok(index: int, event_id: str, kind: str = "valid") -> Op:
    return Op("ok", index, 0.0, kind, event_id, "site", 1_000, None, "topic", 0, index)


@pytest.mark.parametrize(("dedup", "expected"), [(False, 5), (True, 3)])
def test_resent_copies_count_once_only_when_the_pipeline_deduplicates(dedup: bool, expected: int) -> None:
    history = History()
    # e1 is sent three times; the two dead letters share an id, but each copy is dead-lettered.
    for index, (event_id, kind) in enumerate(
        [("e1", "valid"), ("e1", "valid"), ("e1", "valid"), ("d", "dead"), ("d", "dead")]
    ):
        history.append(ok(index, event_id, kind))
    history.append(Op("info", 5, 0.0, "valid", "e2", "site", 1_000, error="timed out"))
    spec = DriverSpec(topic="t", keyspace="k", checkpoint=Path("c"), dedup=dedup)
    trial = SimpleNamespace(name="t", history=history, spec=spec)
    assert Sampler(trial, started=0.0).acknowledged() == expected  # type: ignore[arg-type]
