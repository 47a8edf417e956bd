"""Faults on the nodes of the replicated topology, as data with a heal.

`kill` sends SIGKILL to the node's container; the heal starts it again on its own storage and
address. `isolate` cuts the node off from everyone (its peers, the drivers, the producer) and
`partition` from its peers only, so that clients still reach a node that cannot reach a quorum: both
are packet filters in the node's own network namespace (`iptables` entered with `nsenter`), the way
Jepsen partitions nodes, so connections hang as on a real partition instead of being refused. The
heal removes the filters. Either heal waits until the cluster is whole again: every partition's
replicas back in sync (Kafka), every node up and answering (Cassandra).

Which nodes a fault hits is decided when it is injected: the leader of the topic's partition 0 (the
one that holds records no follower has yet), or the last nodes of the component.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from typing import Literal

import docker
from confluent_kafka.admin import AdminClient
from docker.models.containers import Container

from harness.checker.sink_reader import reader
from harness.eventually import eventually
from harness.stack.services import CASSANDRA_READY, KAFKA_READY, StackInfo
from harness.stack.topology import NODES, cassandra_role, kafka_role

log = logging.getLogger("harness.nemesis")

NodeAction = Literal["kill", "isolate", "partition"]
Component = Literal["kafka", "cassandra"]
READY = {"kafka": KAFKA_READY, "cassandra": CASSANDRA_READY}
ROLE = {"kafka": kafka_role, "cassandra": cassandra_role}


@dataclass(frozen=True)
class NodeFault:
    """`count` nodes of `component`; `leader`: the leader of partition 0 of the topic (Kafka)."""

    action: NodeAction
    component: Component
    count: int = 1
    leader: bool = False

    def __post_init__(self) -> None:
        if self.leader and (self.component != "kafka" or self.count != 1):
            raise ValueError("a leader is one Kafka broker: the leader of the topic's partition 0")
        if not 1 <= self.count < NODES:
            raise ValueError(f"{self.count} of {NODES} nodes: a fault leaves at least one up")

    def __str__(self) -> str:
        if self.leader:
            which = "the broker leading the topic's partition 0"
        else:
            which = f"a {self.component} node" if self.count == 1 else f"{self.count} {self.component} nodes"
        its, it = ("its", "it") if self.count == 1 else ("their", "them")
        return {
            "kill": f"kill (SIGKILL) {which}",
            "isolate": f"isolate {which} from {its} peers and {its} clients",
            "partition": f"cut {which} off from {its} peers (clients still reach {it})",
        }[self.action]

    def targets(self, stack: StackInfo, topic: str) -> tuple[str, ...]:
        if self.leader:
            return (kafka_role(partition_leader(stack.bootstrap_servers, topic, 0)),)
        return tuple(ROLE[self.component](n) for n in range(NODES - self.count + 1, NODES + 1))

    def inject(self, stack: StackInfo, topic: str) -> None:
        _require_replicated(stack)
        roles = self.targets(stack, topic)
        for role in roles:
            container = _container(stack, role)
            if self.action == "kill":
                container.kill(signal="SIGKILL")
            else:
                _filter(container, _rules(stack, role, everyone=self.action == "isolate"))
        log.info("%s: %s", self, ", ".join(roles))

    def heal(self, stack: StackInfo, timeout_s: float = 300) -> None:
        """Every node of the component running and unfiltered, then the cluster whole again."""
        _require_replicated(stack)
        for n in range(1, NODES + 1):
            role = ROLE[self.component](n)
            container = _container(stack, role)
            container.reload()
            if container.status != "running":
                _restart(container, role, READY[self.component], timeout_s)
            else:
                _filter(container, ())
        if self.component == "kafka":
            wait_in_sync(stack.bootstrap_servers, f"every replica in sync after: heal {self}", timeout_s)
        else:
            wait_all_up(stack, f"every cassandra node up after: heal {self}", timeout_s)


def _require_replicated(stack: StackInfo) -> None:
    if stack.topology != "replicated":
        raise ValueError(f"node faults need the replicated topology; this stack is {stack.topology}")


def _container(stack: StackInfo, role: str) -> Container:
    return docker.from_env().containers.get(stack.containers[role])


def _restart(container: Container, role: str, ready: str, timeout_s: float) -> None:
    def ready_lines() -> int:
        return int(container.logs().decode(errors="replace").count(ready))

    before = ready_lines()
    container.start()
    eventually(
        ready_lines,
        lambda seen: seen > before,
        expected=f"{role} to log {ready!r} again after a restart",
        timeout_s=timeout_s,
    )


def _rules(stack: StackInfo, role: str, everyone: bool) -> tuple[tuple[str, ...], ...]:
    """iptables rules that drop the node's traffic: all of it but loopback, or its peers' only."""
    if everyone:
        return (("INPUT", "!", "-i", "lo", "-j", "DROP"), ("OUTPUT", "!", "-o", "lo", "-j", "DROP"))
    peers = [ip for other, ip in stack.addresses.items() if other != role]
    return tuple(
        rule
        for ip in peers
        for rule in (("INPUT", "-s", ip, "-j", "DROP"), ("OUTPUT", "-d", ip, "-j", "DROP"))
    )


def _filter(container: Container, rules: tuple[tuple[str, ...], ...]) -> None:
    """The node's INPUT and OUTPUT chains emptied, then `rules` appended, in its network namespace
    (the image has no iptables, and the container no NET_ADMIN: the host's tools enter it)."""
    pid = str(container.attrs["State"]["Pid"])
    for command in (("-F", "INPUT"), ("-F", "OUTPUT"), *(("-A", *rule) for rule in rules)):
        done = subprocess.run(
            ["nsenter", "-t", pid, "-n", "iptables", *command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"iptables {' '.join(command)} in {container.name} exited {done.returncode}: "
                f"{done.stderr.strip()} (node faults need root, nsenter and iptables on this machine)"
            )


def partition_leader(bootstrap_servers: str, topic: str, partition: int) -> int:
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(topic, timeout=30)
    return int(metadata.topics[topic].partitions[partition].leader)


def out_of_sync(bootstrap_servers: str) -> list[str]:
    """Partitions whose in-sync replicas are fewer than their replicas, or that have no leader."""
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=10)
    return [
        f"{name}/{number}"
        for name, topic in metadata.topics.items()
        for number, partition in topic.partitions.items()
        if partition.leader < 0 or len(partition.isrs) < len(partition.replicas)
    ]


def wait_in_sync(bootstrap_servers: str, expected: str, timeout_s: float) -> None:
    eventually(
        lambda: out_of_sync(bootstrap_servers),
        lambda lagging: not lagging,
        expected=expected,
        timeout_s=timeout_s,
    )


def down_nodes(stack: StackInfo) -> list[str]:
    """Cassandra nodes the client does not see up, or that do not answer a query of their own."""
    cluster = reader(stack.cassandra_nodes, stack.cassandra_port, connect_timeout=5)
    try:
        session = cluster.connect()
        hosts = {host.address: host for host in cluster.metadata.all_hosts()}
        down = [ip for ip in stack.cassandra_nodes if ip not in hosts or not hosts[ip].is_up]
        for ip in stack.cassandra_nodes:
            if ip not in down:
                session.execute("SELECT now() FROM system.local", host=hosts[ip])
        return down
    finally:
        cluster.shutdown()


def wait_all_up(stack: StackInfo, expected: str, timeout_s: float) -> None:
    eventually(lambda: down_nodes(stack), lambda down: not down, expected=expected, timeout_s=timeout_s)
