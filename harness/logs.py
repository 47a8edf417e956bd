"""The harness's diagnostics go through `logging`, one logger per role ("harness.scenario",
"harness.driver", ...); `configure` shows them on stderr as `[role] message` for the command line
(pytest shows them with a failing test's output)."""

from __future__ import annotations

import logging
import sys


class _RoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"[{record.name.removeprefix('harness.')}] {record.getMessage()}"


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RoleFormatter())
    root = logging.getLogger("harness")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
