"""The replicated topology: three Kafka brokers and three Cassandra nodes, each its own container at its
own address on a bridge network of ours, so that one node can be killed or cut off while the others
go on (`harness/nemesis/nodes.py`). Spark, the drivers and the harness stay on the host network and
reach every node at its address.

Kafka: KRaft, each node both broker and controller (a quorum of three); every topic replicated three
times with `min.insync.replicas=2` and unclean leader election off, so a record acknowledged to an
`acks=all` producer is on two brokers before the acknowledgement. Cassandra: one datacenter, every
node a seed with an evenly spaced token, the keyspace at replication factor 3 with
NetworkTopologyStrategy; the pipeline writes at LOCAL_QUORUM and the checker reads at QUORUM, so a
read always meets the last acknowledged write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from harness.stack.containers import Address

Topology = Literal["single", "replicated"]
TOPOLOGIES: tuple[Topology, ...] = ("single", "replicated")
NODES = 3
# Each node has an address of its own: the projects' standard ports, the same on every node.
KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
CASSANDRA_NATIVE_PORT = 9042
CASSANDRA_STORAGE_PORT = 7000
CASSANDRA_JMX_PORT = 7199
# Heaps sized so the six nodes, Spark and two drivers fit the 2-core, 24 GiB machine with room.
KAFKA_HEAP = "512m"
CASSANDRA_HEAP = "768m"
# Candidate subnets for the network: /24s of 172.30.0.0/16, which Docker's default pools leave alone.
SUBNETS = tuple(f"172.30.{n}.0/24" for n in range(256))


def describe(topology: Topology) -> str:
    """One line for the report and the logs."""
    if topology == "single":
        return "single: one Kafka broker (KRaft), one Cassandra node, replication factor 1"
    return (
        f"replicated: {NODES} Kafka brokers (KRaft, each broker and controller; replication factor "
        f"{NODES}, min.insync.replicas 2, unclean leader election off), {NODES} Cassandra nodes (one "
        f"datacenter, NetworkTopologyStrategy, replication factor {NODES}); the pipeline writes at "
        "LOCAL_QUORUM, the checker reads at QUORUM"
    )


def kafka_role(node: int) -> str:
    return f"kafka-{node}"


def cassandra_role(node: int) -> str:
    return f"cassandra-{node}"


def node_ip(subnet: str, role: str) -> str:
    """Brokers at .11, .12, .13; Cassandra nodes at .21, .22, .23 (the gateway, .1, is the host)."""
    prefix = subnet.rsplit(".", 1)[0]
    component, number = role.rsplit("-", 1)
    return f"{prefix}.{(10 if component == 'kafka' else 20) + int(number)}"


def addresses(network: str, subnet: str) -> dict[str, Address]:
    roles = [f(n) for f in (kafka_role, cassandra_role) for n in range(1, NODES + 1)]
    return {role: Address(network, node_ip(subnet, role)) for role in roles}


def tokens(nodes: int = NODES) -> list[int]:
    """Evenly spaced tokens of Murmur3's ring: each node owns a third of it as primary."""
    return [-(2**63) + i * (2**64 // nodes) for i in range(nodes)]


def kafka_env(cluster_id: str, node: int, ips: dict[str, Address]) -> dict[str, str]:
    voters = ",".join(f"{n}@{ips[kafka_role(n)].ip}:{KAFKA_CONTROLLER_PORT}" for n in range(1, NODES + 1))
    return {
        "KAFKA_HOST": ips[kafka_role(node)].ip,
        "KAFKA_PORT": str(KAFKA_PORT),
        "KAFKA_CONTROLLER_PORT": str(KAFKA_CONTROLLER_PORT),
        "KAFKA_CLUSTER_ID": cluster_id,
        "KAFKA_NODE_ID": str(node),
        "KAFKA_VOTERS": voters,
        "KAFKA_REPLICATION": str(NODES),
        "KAFKA_HEAP": KAFKA_HEAP,
    }


def cassandra_env(node: int, ips: dict[str, Address]) -> dict[str, str]:
    seeds = ",".join(f"{ips[cassandra_role(n)].ip}:{CASSANDRA_STORAGE_PORT}" for n in range(1, NODES + 1))
    return {
        "CASSANDRA_HOST": ips[cassandra_role(node)].ip,
        "CASSANDRA_NATIVE_PORT": str(CASSANDRA_NATIVE_PORT),
        "CASSANDRA_STORAGE_PORT": str(CASSANDRA_STORAGE_PORT),
        "CASSANDRA_JMX_PORT": str(CASSANDRA_JMX_PORT),
        "CASSANDRA_SEEDS": seeds,
        "CASSANDRA_INITIAL_TOKEN": str(tokens()[node - 1]),
        "CASSANDRA_HEAP": CASSANDRA_HEAP,
    }


def data_dirs(workdir: Path) -> dict[str, Path]:
    """Each node's storage, outside its container: a node killed and started again keeps it."""
    roles = [f(n) for f in (kafka_role, cassandra_role) for n in range(1, NODES + 1)]
    return {role: workdir / f"{role}-data" for role in roles}
