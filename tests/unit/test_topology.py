"""The replicated topology's plan: addresses, quorums, tokens, and the node faults as data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.nemesis.nodes import NodeFault, _rules
from harness.stack import topology


def test_every_node_has_its_own_address_on_the_network() -> None:
    addresses = topology.addresses("tally-nodes-1", "172.30.5.0/24")
    assert {role: a.ip for role, a in addresses.items()} == {
        "kafka-1": "172.30.5.11",
        "kafka-2": "172.30.5.12",
        "kafka-3": "172.30.5.13",
        "cassandra-1": "172.30.5.21",
        "cassandra-2": "172.30.5.22",
        "cassandra-3": "172.30.5.23",
    }
    assert {a.network for a in addresses.values()} == {"tally-nodes-1"}


def test_the_brokers_form_one_quorum_and_replicate_every_topic_three_times() -> None:
    addresses = topology.addresses("n", "172.30.5.0/24")
    envs = [topology.kafka_env("cluster", n, addresses) for n in (1, 2, 3)]
    assert {env["KAFKA_VOTERS"] for env in envs} == {
        "1@172.30.5.11:9093,2@172.30.5.12:9093,3@172.30.5.13:9093"
    }
    assert [env["KAFKA_NODE_ID"] for env in envs] == ["1", "2", "3"]
    assert {env["KAFKA_REPLICATION"] for env in envs} == {"3"}
    assert {env["KAFKA_CLUSTER_ID"] for env in envs} == {"cluster"}


def test_the_cassandra_nodes_are_all_seeds_with_evenly_spaced_tokens() -> None:
    addresses = topology.addresses("n", "172.30.5.0/24")
    envs = [topology.cassandra_env(n, addresses) for n in (1, 2, 3)]
    assert {env["CASSANDRA_SEEDS"] for env in envs} == {"172.30.5.21:7000,172.30.5.22:7000,172.30.5.23:7000"}
    tokens = [int(env["CASSANDRA_INITIAL_TOKEN"]) for env in envs]
    assert tokens[0] == -(2**63)
    gaps = {b - a for a, b in zip(tokens, [*tokens[1:], tokens[0] + 2**64], strict=True)}
    assert max(gaps) - min(gaps) <= 2, "each node owns a third of the ring"


def test_the_report_says_what_the_checker_reads_at() -> None:
    assert "QUORUM" in topology.describe("replicated")
    assert "min.insync.replicas 2" in topology.describe("replicated")
    assert topology.describe("single").startswith("single")


def test_node_faults_name_what_they_hit_and_leave_a_quorum_of_something() -> None:
    assert str(NodeFault("kill", "kafka", leader=True)) == (
        "kill (SIGKILL) the broker leading the topic's partition 0"
    )
    assert str(NodeFault("kill", "cassandra", count=2)) == "kill (SIGKILL) 2 cassandra nodes"
    assert str(NodeFault("partition", "cassandra")) == (
        "cut a cassandra node off from its peers (clients still reach it)"
    )
    assert str(NodeFault("isolate", "kafka", leader=True)) == (
        "isolate the broker leading the topic's partition 0 from its peers and its clients"
    )
    with pytest.raises(ValueError, match="at least one up"):
        NodeFault("kill", "cassandra", count=3)
    with pytest.raises(ValueError, match="leader is one Kafka broker"):
        NodeFault("isolate", "cassandra", leader=True)


def test_the_last_nodes_are_hit_when_no_leader_is_asked_for() -> None:
    stack = SimpleNamespace(bootstrap_servers="unused")
    assert NodeFault("kill", "cassandra", count=2).targets(stack, "t") == ("cassandra-2", "cassandra-3")  # type: ignore[arg-type]


def test_a_partition_drops_the_peers_only_and_an_isolation_everything_but_loopback() -> None:
    ips = topology.addresses("n", "172.30.5.0/24")
    stack = SimpleNamespace(addresses={role: a.ip for role, a in ips.items()})
    peers = _rules(stack, "cassandra-3", everyone=False)  # type: ignore[arg-type]
    dropped = {rule[2] for rule in peers}
    assert dropped == {a.ip for role, a in ips.items() if role != "cassandra-3"}
    assert "172.30.5.1" not in dropped, "the host, where the drivers and the checker run, still reaches it"
    everyone = _rules(stack, "cassandra-3", everyone=True)  # type: ignore[arg-type]
    assert everyone == (("INPUT", "!", "-i", "lo", "-j", "DROP"), ("OUTPUT", "!", "-o", "lo", "-j", "DROP"))
