"""Named failpoints: crash the driver at a precise point of a micro-batch, only when configured.

A spec is `name=action`, `name=action@N` (batch N only) or `name=action@N+` (the first batch from N
on that reaches the point): `sink.after_write=crash@3` crashes batch 3 after its rows are written
but before Spark commits it. The sink hits points only in batches that write something. With no
spec, `hit()` only looks up an empty dict.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass

POINTS = ("sink.before_write", "sink.mid_write", "sink.after_write")
ACTIONS = ("crash",)


@dataclass(frozen=True)
class Failpoint:
    action: str
    batch_id: int | None
    or_later: bool = False

    def matches(self, batch_id: int) -> bool:
        if self.batch_id is None:
            return True
        return batch_id >= self.batch_id if self.or_later else batch_id == self.batch_id


def parse(specs: Iterable[str]) -> dict[str, Failpoint]:
    points = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        action, at, batch = rest.partition("@")
        or_later = batch.endswith("+")
        batch = batch.removesuffix("+")
        if name not in POINTS or action not in ACTIONS or (at and not batch.isdigit()):
            raise ValueError(
                f"bad failpoint {spec!r}: use NAME=ACTION[@BATCH[+]], NAME in {POINTS}, ACTION in {ACTIONS}"
            )
        points[name] = Failpoint(action, int(batch) if batch else None, or_later)
    return points


class Failpoints:
    def __init__(self, specs: Iterable[str] = ()) -> None:
        self._points = parse(specs)

    def hit(self, name: str, batch_id: int) -> None:
        point = self._points.get(name)
        if point is None or not point.matches(batch_id):
            return
        print(f"FAILPOINT {name} {point.action} batch={batch_id}", file=sys.stderr, flush=True)
        # SIGKILL, not an exception: nothing may run after the crash, as after a real kill -9.
        os.kill(os.getpid(), signal.SIGKILL)
