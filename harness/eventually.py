"""Wait on a condition, never on a fixed sleep; a timeout says what was expected and what was seen."""

from __future__ import annotations

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
