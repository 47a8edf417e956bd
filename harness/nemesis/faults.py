"""Faults as data: each names a stack service and how to break it, and always comes with its heal.

`heal()` undoes the fault and waits until the service answers again, so a final check only ever
runs against a healed stack. `Fault` acts on containers; `NetworkFault` on the links between the
pipeline and Kafka or Cassandra, through Toxiproxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import docker
from docker.models.containers import Container

from harness.checker.sink_reader import cassandra_session
from harness.eventually import eventually
from harness.stack.kafka_admin import broker_answers
from harness.stack.services import CASSANDRA_READY, KAFKA_READY, WORKER_READY, StackInfo
from harness.stack.toxiproxy import Toxic, Toxiproxy

Role = Literal["kafka", "cassandra", "spark-worker"]
Action = Literal["kill", "pause"]
Link = Literal["kafka", "cassandra"]
NetworkAction = Literal["latency", "reset", "cut"]
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

    def inject(self, stack: StackInfo, topic: str = "") -> None:
        """`topic`: the topic under test, which a fault of a role does not need."""
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
            wait_answers(stack.bootstrap_servers, f"kafka to answer after: heal {self}", timeout_s)
        elif self.role == "cassandra":
            wait_cql(
                stack.cassandra_nodes,
                stack.cassandra_port,
                f"cassandra to answer after: heal {self}",
                timeout_s,
            )


def wait_answers(bootstrap_servers: str, expected: str, timeout_s: float) -> None:
    eventually(lambda: broker_answers(bootstrap_servers), bool, expected=expected, timeout_s=timeout_s)


def wait_cql(hosts: Sequence[str], port: int, expected: str, timeout_s: float) -> None:
    def probe() -> bool:
        with cassandra_session(hosts, port) as session:
            return session.execute("SELECT now() FROM system.local").one() is not None

    eventually(probe, bool, expected=expected, timeout_s=timeout_s)


# Each toxic is named after the fault, so a heal knows what it removes.
TOXICS: dict[NetworkAction, Toxic] = {
    # Every response 300..1000 ms late (650 +- 350): slow batches, client timeouts near their limits.
    "latency": Toxic("tally-latency", "latency", attributes={"latency": 650, "jitter": 350}),
    # Every connection, open or new, torn down with a TCP RST as soon as data flows.
    "reset": Toxic("tally-reset", "reset_peer", attributes={"timeout": 0}),
}


@dataclass(frozen=True)
class NetworkFault:
    """On each link: `latency` and `reset` add a toxic to its proxy; `cut` disables the proxy (existing
    connections closed, new ones refused). Heal: toxics removed, proxy enabled, the service answers
    through it again."""

    action: NetworkAction
    links: tuple[Link, ...]

    def __str__(self) -> str:
        what = {"latency": "latency 300..1000 ms", "reset": "connection resets", "cut": "cut"}[self.action]
        return f"{what} on the pipeline's {' and '.join(self.links)} link{'s' if len(self.links) > 1 else ''}"

    def inject(self, stack: StackInfo, topic: str = "") -> None:
        """`topic`: the topic under test, which a fault of a link does not need."""
        client = Toxiproxy(_api(stack))
        for link in self.links:
            if self.action == "cut":
                client.set_enabled(link, False)
            else:
                client.add_toxic(link, TOXICS[self.action])

    def heal(self, stack: StackInfo, timeout_s: float = 180) -> None:
        client = Toxiproxy(_api(stack))
        for link in self.links:
            client.clear(link)
        for link in self.links:
            expected = f"{link} to answer through its proxy after: heal {self}"
            if link == "kafka":
                wait_answers(stack.proxied_bootstrap_servers, expected, timeout_s)
            else:
                wait_cql(stack.cassandra_nodes, stack.proxied_cassandra_port, expected, timeout_s)


def _api(stack: StackInfo) -> str:
    if stack.toxiproxy_api is None:
        raise ValueError(f"the {stack.topology} topology has no proxies: its network faults act on nodes")
    return stack.toxiproxy_api
