"""Generations: every checkpoint that writes a job's rows is one generation, registered in Cassandra.

A job (`--job`, by default its topic) owns its rows in the keyspace. The checkpoint that first wrote
them is generation 1; a take-over (`--take-over-from`, see `takeover.py`) starts the next one on a
new checkpoint. A lightweight transaction decides, once, which generation owns the job: a start on
any other checkpoint is refused, and a generation that was taken over stops at its next batch.

The fence: every write of batch N of a generation carries `USING TIMESTAMP base + N`, where `base`
is the wall clock in microseconds when the generation was registered, and at least the previous
generation's base plus room for every batch id it can have reached (`next_base`). So:
- a replay of batch N writes the same cells under the same timestamp: a no-op;
- a later batch of the generation beats an earlier one: counts never go backwards;
- every write of a generation beats every write of the generations before it, whatever their batch
  ids, so a new checkpoint starting again at batch 0 is not shadowed by the old one;
- writes by other clients made before the generation was registered (a cqlsh UPDATE or DELETE at
  the current time) lose to it. One made during a generation wins over that generation's later
  writes of the cell; a take-over rewrites every open window above it (see the README).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.query import BatchStatement

from pipeline.schema import GENERATIONS

# Batch ids a generation may still plan between a take-over reading its checkpoint and registering
# the next generation: far more than any driver plans in that moment, and only a microsecond each.
BATCH_ROOM = 1 << 20
# The counts a generation took over: (site_id, window_start_ms, window_end_ms) -> views.
Carried = Mapping[tuple[str, int, int], int]


@dataclass(frozen=True)
class Generation:
    job: str
    number: int
    base_us: int
    checkpoint: str
    # Kafka JSON offsets a taken-over generation starts from (None for the first: its option).
    start_offsets: str | None = None
    # Events at or below this event time were final in the generation taken over: reported late.
    carried_watermark_ms: int = 0

    def fence(self, batch_id: int) -> int:
        """The write timestamp of every cell batch `batch_id` writes."""
        return self.base_us + batch_id

    @property
    def carried_fence(self) -> int:
        """Below every batch of this generation, above every write of the ones before."""
        return self.base_us - 1


def next_base(previous: Generation | None, last_batch: int, now_us: int) -> int:
    """The base of a new generation: the wall clock, and never at or below the previous generation's
    writes (a clock stepped back, a take-over within microseconds)."""
    if previous is None:
        return now_us
    return max(now_us, previous.fence(max(last_batch, 0)) + BATCH_ROOM)


def now_us() -> int:
    return time.time_ns() // 1000


class NotOwner(RuntimeError):
    """This start would make a second live generation of the job, or run one that was taken over."""


class Registry:
    """The `generations` table: reads at SERIAL, so a read sees every transaction that completed."""

    def __init__(self, session: Session, keyspace: str) -> None:
        self.session = session
        table = f"{keyspace}.{GENERATIONS}"
        self._read = session.prepare(
            f"SELECT generation, owner, base_us, checkpoint, start_offsets, carried_watermark"
            f" FROM {table} WHERE job = ?"
        )
        self._read.consistency_level = ConsistencyLevel.SERIAL
        self._owner = session.prepare(f"SELECT owner FROM {table} WHERE job = ? LIMIT 1")
        self._owner.consistency_level = ConsistencyLevel.SERIAL
        columns = "job, generation, base_us, checkpoint, start_offsets, carried_watermark, registered_at"
        self._first = session.prepare(
            f"INSERT INTO {table} ({columns}, owner) VALUES (?, ?, ?, ?, ?, ?, toTimestamp(now()), ?)"
            " IF NOT EXISTS"
        )
        self._hand_over = session.prepare(f"UPDATE {table} SET owner = ? WHERE job = ? IF owner = ?")
        self._next = session.prepare(
            f"INSERT INTO {table} ({columns}) VALUES (?, ?, ?, ?, ?, ?, toTimestamp(now())) IF NOT EXISTS"
        )

    def generations(self, job: str) -> tuple[int | None, list[Generation]]:
        """The owner's number (None for an unknown job) and every generation, oldest first."""
        rows = list(self.session.execute(self._read, (job,)))
        known = [
            Generation(job, r.generation, r.base_us, r.checkpoint, r.start_offsets, r.carried_watermark or 0)
            for r in rows
            if r.generation is not None
        ]
        return (rows[0].owner if rows else None), sorted(known, key=lambda g: g.number)

    def owns(self, generation: Generation) -> bool:
        row = self.session.execute(self._owner, (generation.job,)).one()
        return row is not None and row.owner == generation.number

    def register_first(self, first: Generation) -> bool:
        return bool(self.session.execute(self._first, (*self._values(first), first.number)).was_applied)

    def take_over(self, old: Generation, new: Generation) -> bool:
        """Make `new` the owner if `old` still is, in one transaction (both rows share a partition)."""
        batch = BatchStatement(consistency_level=ConsistencyLevel.QUORUM)
        batch.serial_consistency_level = ConsistencyLevel.SERIAL
        batch.add(self._hand_over, (new.number, new.job, old.number))
        batch.add(self._next, self._values(new))
        return bool(self.session.execute(batch).was_applied)

    @staticmethod
    def _values(g: Generation) -> tuple[object, ...]:
        return (g.job, g.number, g.base_us, g.checkpoint, g.start_offsets, g.carried_watermark_ms)


def claim(registry: Registry, job: str, checkpoint: str) -> Generation:
    """The generation this checkpoint runs as: its own if it owns the job, a new first one if nobody
    does. Anything else is refused, with the way out."""
    owner, known = registry.generations(job)
    if owner is None:
        # Whether this start or a concurrent one registered first, the winner is read back.
        registry.register_first(Generation(job, 1, next_base(None, 0, now_us()), checkpoint))
        owner, known = registry.generations(job)
    mine = next((g for g in known if g.checkpoint == checkpoint), None)
    current = next(g for g in known if g.number == owner)
    if mine is None:
        raise NotOwner(
            f"job {job!r} is owned by generation {current.number} on checkpoint {current.checkpoint}; "
            f"starting it on {checkpoint} would make a second generation, whose batch ids start again "
            f"at 0.\n  To continue the job: --checkpoint {current.checkpoint}.\n  To move it to this "
            f"checkpoint with its counts exact: stop the owner, then start with --take-over-from "
            f"{current.checkpoint}.\n  To count the topic again as another job: --job NEW_NAME."
        )
    if mine.number != owner:
        raise NotOwner(
            f"checkpoint {checkpoint} is generation {mine.number} of job {job!r}, which generation "
            f"{current.number} (checkpoint {current.checkpoint}) took over: its writes would lose to "
            f"the owner's. Run the owner's checkpoint instead."
        )
    return mine
