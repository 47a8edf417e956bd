"""Named failpoints: crash the driver at a precise point of a micro-batch, only when configured.

A spec is `name=action`, `name=action@N` (batch N only) or `name=action@N+` (the first batch from N
on that reaches the point): `sink.after_write=crash@3` crashes batch 3 after its rows are written
but before Spark commits it. `stop` freezes the driver's Python process with SIGSTOP instead (a
zombie: a long GC pause, a hung VM) until someone sends it SIGCONT. The sink hits points only in
batches that write something. With no spec, `hit()` only looks up an empty dict.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass

POINTS = ("sink.before_write", "sink.mid_write", "sink.after_write")
SIGNALS = {"crash": signal.SIGKILL, "stop": signal.SIGSTOP}
ACTIONS = tuple(SIGNALS)


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
        where = f"batch={batch_id} pid={os.getpid()}"
        print(f"FAILPOINT {name} {point.action} {where}", file=sys.stderr, flush=True)
        # Signals, not exceptions: nothing may run after a crash, as after a real kill -9, and a
        # stopped process resumes exactly where it froze. Sent to this thread, not the process:
        # a process-directed signal may be taken by another thread while this one writes on for
        # a few milliseconds (the sink runs in a py4j callback thread).
        signal.pthread_kill(threading.get_ident(), SIGNALS[point.action])
