"""Faults as data: each names a stack service and how to break it, and always comes with its heal.

`heal()` undoes the fault and waits until the service answers again, so a final check only ever
runs against a healed stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import docker
from docker.models.containers import Container

from harness.eventually import eventually
from harness.kafka_admin import broker_answers
from harness.sink_reader import cassandra_session
from harness.stack import CASSANDRA_READY, KAFKA_READY, WORKER_READY, StackInfo

Role = Literal["kafka", "cassandra", "spark-worker"]
Action = Literal["kill", "pause"]
READY = {"kafka": KAFKA_READY, "cassandra": CASSANDRA_READY, "spark-worker": WORKER_READY}


@dataclass(frozen=True)
class Fault:
    """`kill`: SIGKILL the container, heal by starting it again with its data. `pause`: freeze it."""

    action: Action
    role: Role

    def __str__(self) -> str:
        return f"{self.action} {self.role}"

    def _container(self, stack: StackInfo) -> Container:
        return docker.from_env().containers.get(stack.containers[self.role])

    def inject(self, stack: StackInfo) -> None:
        container = self._container(stack)
        if self.action == "kill":
            container.kill(signal="SIGKILL")
        else:
            container.pause()

    def heal(self, stack: StackInfo, timeout_s: float = 180) -> None:
        container = self._container(stack)
        container.reload()
        if container.status == "paused":
            container.unpause()
        elif container.status != "running":
            ready_lines = self._ready_lines(container)
            container.start()
            eventually(
                lambda: self._ready_lines(container),
                lambda seen: seen > ready_lines,
                expected=f"{self.role} to log {READY[self.role]!r} again after a restart",
                timeout_s=timeout_s,
            )
        self._wait_answers(stack, timeout_s)

    def _ready_lines(self, container: Container) -> int:
        return int(container.logs().decode(errors="replace").count(READY[self.role]))

    def _wait_answers(self, stack: StackInfo, timeout_s: float) -> None:
        if self.role == "kafka":

            def probe() -> bool:
                return broker_answers(stack.bootstrap_servers)
        elif self.role == "cassandra":

            def probe() -> bool:
                with cassandra_session(stack.cassandra_host, stack.cassandra_port) as session:
                    return session.execute("SELECT now() FROM system.local").one() is not None
        else:
            return
        eventually(probe, bool, expected=f"{self.role} to answer after: heal {self}", timeout_s=timeout_s)
