"""Ownership: which generation a start runs as, against an in-memory registry with the same
compare-and-set rules as the lightweight transactions of `pipeline.generations.Registry`."""

from __future__ import annotations

import pytest

from pipeline.generations import Generation, NotOwner, Registry, claim


class MemoryRegistry(Registry):
    def __init__(self) -> None:
        self.rows: dict[str, dict[int, Generation]] = {}
        self.owner: dict[str, int] = {}

    def generations(self, job: str) -> tuple[int | None, list[Generation]]:
        return self.owner.get(job), sorted(self.rows.get(job, {}).values(), key=lambda g: g.number)

    def owns(self, generation: Generation) -> bool:
        return self.owner.get(generation.job) == generation.number

    def register_first(self, first: Generation) -> bool:
        if self.rows.get(first.job, {}).get(first.number):
            return False
        self.rows.setdefault(first.job, {})[first.number] = first
        self.owner[first.job] = first.number
        return True

    def take_over(self, old: Generation, new: Generation) -> bool:
        if self.owner.get(old.job) != old.number or new.number in self.rows.get(new.job, {}):
            return False
        self.rows[new.job][new.number] = new
        self.owner[new.job] = new.number
        return True


def test_a_new_job_registers_its_checkpoint_as_generation_1_and_resumes_it() -> None:
    registry = MemoryRegistry()
    first = claim(registry, "views", "/c/1")
    assert (first.number, first.checkpoint) == (1, "/c/1")
    assert first.base_us > 1_700_000_000_000_000, "the base is the wall clock in microseconds"
    assert claim(registry, "views", "/c/1") == first, "a restart on the checkpoint resumes it"
    assert registry.owns(first)


def test_another_checkpoint_is_refused_naming_the_owner_and_the_ways_out() -> None:
    registry = MemoryRegistry()
    claim(registry, "views", "/c/1")
    with pytest.raises(NotOwner) as refused:
        claim(registry, "views", "/c/2")
    message = str(refused.value)
    for part in ("owned by generation 1 on checkpoint /c/1", "second generation", "--take-over-from /c/1"):
        assert part in message
    # Another job is another owner: jobs share a keyspace.
    assert claim(registry, "clicks", "/c/2").number == 1


def test_a_generation_that_was_taken_over_is_refused() -> None:
    registry = MemoryRegistry()
    first = claim(registry, "views", "/c/1")
    second = Generation("views", 2, first.base_us + 10, "/c/2", '{"t":{"0":5}}', 60_000)
    assert registry.take_over(first, second)
    assert not registry.take_over(first, second), "only one take-over of a generation wins"
    assert claim(registry, "views", "/c/2") == second
    with pytest.raises(NotOwner, match="which generation 2 \\(checkpoint /c/2\\) took over"):
        claim(registry, "views", "/c/1")
    assert not registry.owns(first)
