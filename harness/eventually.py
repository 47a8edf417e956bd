"""Wait on a condition, never on a fixed sleep; a timeout says what was expected and what was seen.
And sample on an interval, in a thread of its own, for a curve of what a run looked like meanwhile."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ConvergenceTimeout(AssertionError):
    pass


def eventually(
    probe: Callable[[], T],
    ready: Callable[[T], bool],
    *,
    expected: str,
    timeout_s: float,
    diagnose: Callable[[], str] | None = None,
    abort: Callable[[], str | None] | None = None,
    interval_s: float = 0.25,
) -> T:
    """Call `probe` until `ready(value)`; on timeout raise with the last value and a diagnosis.

    `abort` returns a reason when waiting longer is pointless (the process that would get there
    has died): then this raises at once instead of at the deadline.
    """
    deadline = time.monotonic() + timeout_s
    last: object = "<never probed>"
    while True:
        reason = abort() if abort else None
        if reason:
            detail = diagnose() if diagnose else ""
            raise ConvergenceTimeout(f"gave up waiting for {expected}: {reason}\n{detail}".rstrip())
        try:
            value = probe()
        except Exception as error:  # a probe of a service that is down is not a failure yet
            last = f"{type(error).__name__}: {error}"
        else:
            if ready(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            detail = diagnose() if diagnose else ""
            message = f"timed out after {timeout_s:.0f} s waiting for {expected}\nlast seen: {last}\n{detail}"
            raise ConvergenceTimeout(message.rstrip())
        time.sleep(interval_s)


class Periodic:
    """Calls `tick` every `interval_s` in a daemon thread until `stop`; the wait after a tick is
    shortened by the time the tick took, so a slow read does not stretch the interval. A tick that
    raises is logged and skipped: a sampler must never take the run it watches down."""

    def __init__(
        self, tick: Callable[[], object], interval_s: float, *, name: str, log: logging.Logger
    ) -> None:
        self._tick = tick
        self._interval_s = interval_s
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=timeout_s)

    def _loop(self) -> None:
        wait = self._interval_s
        while not self._stop.wait(wait):
            began = time.monotonic()
            try:
                self._tick()
            except Exception as error:
                self._log.warning("%s: %s", type(error).__name__, error)
            wait = max(self._interval_s - (time.monotonic() - began), 0.0)
