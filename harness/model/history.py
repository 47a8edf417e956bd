"""Jepsen-style history of sends: each invoke and completion, appended to a JSONL file as it happens."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import IO, Any, Literal

from harness.model.events import Expected

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: tuple[OpType, ...] = ("invoke", "ok", "fail", "info")


@dataclass(frozen=True)
class Op:
    """One history line: `ok` carries the record's Kafka position, `fail`/`info` what the client saw."""

    type: OpType
    index: int
    time_s: float
    kind: str
    event_id: str | None = None
    site_id: str | None = None
    ts_ms: int | None = None
    reason: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.type not in OP_TYPES:
            raise ValueError(f"unknown op type {self.type!r}")
        if self.type == "ok" and None in (self.topic, self.partition, self.offset):
            raise ValueError(f"an ok op needs topic, partition and offset: {self}")

    @property
    def position(self) -> tuple[str, int, int] | None:
        """(topic, partition, offset) of an acknowledged record."""
        if self.topic is None or self.partition is None or self.offset is None:
            return None
        return (self.topic, self.partition, self.offset)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Op:
        data = json.loads(line)
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown op fields {sorted(unknown)} in {line!r}")
        return cls(**data)


class History:
    """Append-only list of ops, mirrored line by line to `path` when one is given."""

    def __init__(
        self, path: Path | str | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.ops: list[Op] = []
        self._clock = clock
        self._start = clock()
        # Exclusive create: two runs in one file would replay as one corrupt history.
        self._file: IO[str] | None = self.path.open("x", encoding="utf-8") if self.path else None

    def now(self) -> float:
        return round(self._clock() - self._start, 6)

    def append(self, op: Op) -> None:
        self.ops.append(op)
        if self._file is not None:
            # Flushed per op so a crashed harness still leaves a readable history; no fsync,
            # because the history only has to outlive the process, not the machine.
            self._file.write(op.to_json() + "\n")
            self._file.flush()

    def invoke(self, index: int, expected: Expected) -> Op:
        return self._record("invoke", index, expected)

    def ok(self, index: int, expected: Expected, topic: str, partition: int, offset: int) -> Op:
        return self._record("ok", index, expected, topic=topic, partition=partition, offset=offset)

    def fail(self, index: int, expected: Expected, error: str) -> Op:
        return self._record("fail", index, expected, error=error)

    def info(self, index: int, expected: Expected, error: str) -> Op:
        return self._record("info", index, expected, error=error)

    def _record(self, type_: OpType, index: int, expected: Expected, **extra: Any) -> Op:
        op = Op(type_, index, self.now(), **asdict(expected), **extra)
        self.append(op)
        return op

    def acknowledged(self) -> list[Op]:
        return [op for op in self.ops if op.type == "ok"]

    def failed(self) -> list[Op]:
        return [op for op in self.ops if op.type == "fail"]

    def indeterminate(self) -> list[Op]:
        """Info ops, plus an info copy of each invoke that never completed (the harness died)."""
        completed = {op.index for op in self.ops if op.type != "invoke"}
        dangling = [
            replace(op, type="info", error="no completion recorded")
            for op in self.ops
            if op.type == "invoke" and op.index not in completed
        ]
        return [op for op in self.ops if op.type == "info"] + dangling

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def from_ops(cls, ops: Iterable[Op]) -> History:
        history = cls()
        history.ops.extend(ops)
        return history

    @classmethod
    def load(cls, path: Path | str) -> History:
        """Replay a saved history (read-only: the result has no file behind it)."""
        lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
        # A harness killed mid-write leaves an unterminated last line: that op never happened.
        if lines and not lines[-1].endswith("\n"):
            lines.pop()
        history = cls()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                history.ops.append(Op.from_json(line))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}:{number}: unreadable op: {e}") from e
        return history
