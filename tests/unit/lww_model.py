"""A model of how Cassandra resolves the sink's INSERTs: per cell, last write (by write timestamp) wins.

This is test scaffolding, not the system under test. The rule (Cassandra's `Cells.reconcile`): the
cell with the higher write timestamp wins; on a tie a tombstone (a null written) wins, and between
two live cells the greater serialized value wins. An INSERT writes every listed column, so a row is
present once inserted. `LAYOUT` mirrors pipeline/sink.py's statements and pipeline/schema.py's keys;
`LwwStore.execute` checks each real INSERT against it, and test_sink_plan checks it against the DDL.
`RecordingSession` stands in for a driver session: it only records what the sink prepares.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.sink import BatchWrites

# table -> (columns of the INSERT in parameter order, primary key columns); the last parameter of
# every write is its write timestamp.
LAYOUT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pageviews": (
        ("job", "site_id", "window_start", "window_end", "views", "generation", "batch_id"),
        ("job", "site_id", "window_start"),
    ),
    "dead_letters": (
        ("job", "topic", "partition", "offset", "reason", "raw", "raw_size", "generation", "batch_id"),
        ("job", "topic", "partition", "offset"),
    ),
    "late_events": (
        (
            "job",
            "topic",
            "partition",
            "offset",
            "event_id",
            "site_id",
            "window_start",
            "watermark",
            "generation",
            "batch_id",
        ),
        ("job", "topic", "partition", "offset"),
    ),
}


INSERT = re.compile(r"INSERT INTO (\w+)\.(\w+) \(([^)]*)\) VALUES \(([^)]*)\) USING TIMESTAMP \?$")


def parse_insert(cql: str) -> tuple[str, tuple[str, ...], int]:
    """table, columns, and number of placeholders (timestamp included) of one of the sink's INSERTs."""
    match = INSERT.match(cql)
    if not match:
        raise ValueError(f"not an INSERT ... USING TIMESTAMP ?: {cql}")
    _, table, columns, values = match.groups()
    return table, tuple(c.strip() for c in columns.split(",")), values.count("?") + 1


@dataclass
class Prepared:
    cql: str
    consistency_level: Any = None
    is_idempotent: bool = False


class RecordingSession:
    """Enough of cassandra.cluster.Session for CassandraSink.__init__: prepare() records the CQL."""

    def __init__(self) -> None:
        self.prepared: list[Prepared] = []

    def prepare(self, cql: str) -> Prepared:
        self.prepared.append(Prepared(cql))
        return self.prepared[-1]


def serialized(value: Any) -> bytes:
    """The bytes Cassandra compares on a timestamp tie, for the types the sink writes.

    Integers are big-endian two's complement, compared as unsigned bytes; that order is the same for
    int (4 bytes) and bigint/timestamp (8 bytes) columns, so one width serves all.
    """
    if isinstance(value, bool):
        raise TypeError("the sink writes no booleans")
    if isinstance(value, int):
        return (value % 2**64).to_bytes(8, "big")
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise TypeError(f"no serialization modelled for {type(value).__name__}")


@dataclass(frozen=True)
class Cell:
    timestamp: int
    value: Any  # None: a tombstone

    def beats(self, other: Cell) -> bool:
        if self.timestamp != other.timestamp:
            return self.timestamp > other.timestamp
        if (self.value is None) != (other.value is None):
            return self.value is None
        return self.value is not None and serialized(self.value) > serialized(other.value)


@dataclass
class LwwStore:
    """table -> primary key -> column -> Cell."""

    tables: dict[str, dict[tuple[Any, ...], dict[str, Cell]]] = field(
        default_factory=lambda: {table: {} for table in LAYOUT}
    )

    def insert(self, table: str, params: Sequence[Any]) -> None:
        columns, key_columns = LAYOUT[table]
        if len(params) != len(columns) + 1:
            raise ValueError(f"{table}: {len(params)} parameters for {len(columns)} columns + timestamp")
        *values, timestamp = params
        row = dict(zip(columns, values, strict=True))
        key = tuple(row[column] for column in key_columns)
        cells = self.tables[table].setdefault(key, {})
        for column, value in row.items():
            if column in key_columns:
                continue
            new = Cell(timestamp, bytes(value) if isinstance(value, bytearray) else value)
            if column not in cells or new.beats(cells[column]):
                cells[column] = new

    def execute(self, cql: str, rows: Iterable[Sequence[Any]]) -> str:
        """Applies one prepared INSERT to each parameter tuple; returns the table written."""
        table, columns, placeholders = parse_insert(cql)
        if (columns, placeholders) != (LAYOUT[table][0], len(LAYOUT[table][0]) + 1):
            raise ValueError(f"{cql} does not match the modelled layout {LAYOUT[table]}")
        for params in rows:
            self.insert(table, params)
        return table

    def apply(self, writes: BatchWrites) -> None:
        for table, rows in (
            ("pageviews", writes.pageviews),
            ("dead_letters", writes.dead_letters),
            ("late_events", writes.late_events),
        ):
            for params in rows:
                self.insert(table, params)

    def rows(self, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
        """What a SELECT returns: key -> column -> value (null for a tombstone)."""
        return {
            key: {column: cell.value for column, cell in cells.items()}
            for key, cells in self.tables[table].items()
        }

    def snapshot(self) -> LwwStore:
        return copy.deepcopy(self)
