"""The real stack: Kafka (KRaft), Cassandra, a Spark standalone master + worker and Toxiproxy, started
in parallel. Drivers reach Kafka and Cassandra through Toxiproxy (network faults); the harness does not.
In the replicated topology (`harness/stack/topology.py`) Kafka and Cassandra are three nodes each, at
addresses of their own, and the drivers reach them directly: its faults act on nodes, not links.

Fixtures and the audit get a `StackInfo`: plain, frozen connection info. The `Stack` object keeps the
containers, for faults, logs, upgrades in place and teardown.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from testcontainers.core.container import DockerContainer

from harness.stack import containers, topology
from harness.stack.containers import Address
from harness.stack.images import EXECUTOR_ARCHIVE, Images, kafka_cluster_id
from harness.stack.ports import free_ports
from harness.stack.topology import Topology
from harness.stack.topology import data_dirs as topology_data_dirs
from harness.stack.toxiproxy import Toxiproxy
from harness.stack.versions import Versions

KAFKA_READY = "Kafka Server started"
CASSANDRA_READY = "Starting listening for CQL clients"
MASTER_READY = "I have been elected leader! New state: ALIVE"
WORKER_READY = "Successfully registered with master"
TOXIPROXY_READY = "Starting Toxiproxy HTTP server"

log = logging.getLogger("harness.stack")


@dataclass(frozen=True)
class StackInfo:
    versions: Versions
    images: Images
    bootstrap_servers: str
    # Every Cassandra node's address (contact points), on one native port.
    cassandra_nodes: tuple[str, ...]
    cassandra_port: int
    spark_master: str
    # Checkpoints live here: mounted at the same path in the worker and in every driver.
    shared_dir: Path
    logs_dir: Path
    containers: dict[str, str]
    # Toxiproxy's API, and the pipeline's way to the services through its proxies `kafka` and
    # `cassandra`; the producer and the harness's own reads go direct. The replicated topology has no
    # proxies (None): the pipeline's way is the direct one.
    toxiproxy_api: str | None
    proxied_bootstrap_servers: str
    proxied_cassandra_port: int
    topology: Topology = "single"
    # Copies of each Kafka record and each Cassandra row: 1, or 3 in the replicated topology.
    replication: int = 1
    # The address of each node's container (its role -> IP) in the replicated topology.
    addresses: Mapping[str, str] = field(default_factory=dict)

    @property
    def cassandra_hosts(self) -> str:
        return ",".join(f"{host}:{self.cassandra_port}" for host in self.cassandra_nodes)

    @property
    def proxied_cassandra_hosts(self) -> str:
        return ",".join(f"{host}:{self.proxied_cassandra_port}" for host in self.cassandra_nodes)


@dataclass(frozen=True)
class ProxyPorts:
    """Toxiproxy's API port; the proxies' listen ports; Kafka's listener behind the `kafka` proxy."""

    api: int
    kafka: int
    cassandra: int
    kafka_upstream: int


KAFKA_DATA = "/var/lib/kafka/data"
CASSANDRA_DATA = "/var/lib/cassandra"
# Long enough for a controlled shutdown (Kafka) or the drain Cassandra's shutdown hook runs; then
# Docker sends SIGKILL.
STOP_TIMEOUT_S = 90
# Six JVMs starting at once on two cores, each node of a quorum waiting for the others.
REPLICATED_START_TIMEOUT_S = 300

Component = Literal["kafka", "cassandra", "spark"]
# The containers of a component in the order they stop; they start in reverse, so that a Spark
# worker finds its master.
ROLES: dict[Component, tuple[str, ...]] = {
    "kafka": ("kafka",),
    "cassandra": ("cassandra",),
    "spark": ("spark-worker", "spark-master"),
}
# What a node is told before it stops, as its project's upgrade procedure says: Cassandra's
# `nodetool drain` flushes every memtable and stops accepting writes, so the new version starts
# without a commit log to replay in the old one's format.
DRAIN: dict[str, tuple[str, ...]] = {"cassandra": ("/opt/cassandra/nodetool.sh", "drain")}
# What SIGTERM does in each container, for the printed plan.
ON_SIGTERM = {
    "kafka": "controlled shutdown",
    "spark-worker": "its executors stop",
}


@dataclass(frozen=True)
class Service:
    """How one container of the stack is made: enough to make it again on another image, which is
    what an upgrade in place does (the same command, environment, ports and volumes)."""

    role: str
    image: str
    ready: str
    timeout_s: float
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, str] = field(default_factory=dict)  # folder here -> path inside
    address: Address | None = None  # None: the host network

    def container(self, name: str) -> DockerContainer:
        container = containers.labelled(self.image, name, list(self.command) or None, self.address)
        for key, value in self.env.items():
            container.with_env(key, value)
        for folder, inside in self.volumes.items():
            container.with_volume_mapping(folder, inside, mode="rw")
        return container


@dataclass(frozen=True)
class Move:
    """One step of an upgrade in place: a node drained, a container stopped, or started on another
    image (or with other settings)."""

    action: Literal["drain", "stop", "start"]
    service: Service

    def __str__(self) -> str:
        role = self.service.role
        if self.action == "drain":
            return f"drain {role} ({' '.join(DRAIN[role])}: memtables flushed, writes refused)"
        if self.action == "stop":
            why = ON_SIGTERM.get(role)
            return f"stop {role} (SIGTERM{': ' + why if why else ''})"
        volumes = ", ".join(f"{folder} -> {inside}" for folder, inside in self.service.volumes.items())
        return f"start {role} on {self.service.image}" + (f" with {volumes}" if volumes else "")


def upgrade_plan(
    services: Mapping[str, Service],
    component: Component,
    image: str,
    settings: Mapping[str, str] | None = None,
) -> tuple[Move, ...]:
    """Every container of `component` drained where its procedure says so and stopped, then started
    again on `image`, each with what it had, plus `settings` (environment variables) if any."""
    roles = ROLES[component]
    stops = tuple(
        move
        for role in roles
        for move in ((Move("drain", services[role]),) if role in DRAIN else ())
        + (Move("stop", services[role]),)
    )
    starts = tuple(
        Move("start", replace(services[role], image=image, env={**services[role].env, **(settings or {})}))
        for role in reversed(roles)
    )
    return stops + starts


def _kafka(image: str, port: int, controller: int, proxy: ProxyPorts, data: Path) -> Service:
    env = {
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller),
        "KAFKA_CLUSTER_ID": kafka_cluster_id(),
        "KAFKA_PROXIED_PORT": str(proxy.kafka_upstream),
        "KAFKA_PROXIED_ADVERTISED_PORT": str(proxy.kafka),
    }
    return Service("kafka", image, KAFKA_READY, 90, env=env, volumes={str(data): KAFKA_DATA})


def _cassandra(image: str, native: int, storage: int, ssl: int, jmx: int, data: Path) -> Service:
    env = {
        "CASSANDRA_NATIVE_PORT": str(native),
        "CASSANDRA_STORAGE_PORT": str(storage),
        "CASSANDRA_SSL_STORAGE_PORT": str(ssl),
        "CASSANDRA_JMX_PORT": str(jmx),
    }
    return Service("cassandra", image, CASSANDRA_READY, 180, env=env, volumes={str(data): CASSANDRA_DATA})


def _master_url(port: int) -> str:
    return f"spark://127.0.0.1:{port}"


def _spark(
    image: str, shared_dir: Path, port: int, master_ui: int, worker_ui: int
) -> tuple[Service, Service]:
    master = Service(
        "spark-master",
        image,
        MASTER_READY,
        90,
        command=(
            "spark-class",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(master_ui),
        ),
        # Two applications fit side by side: a zombie driver keeps its executor, so its replacement
        # on the same checkpoint needs cores of its own.
        env={"SPARK_MASTER_OPTS": "-Dspark.deploy.defaultCores=2"},
    )
    worker = Service(
        "spark-worker",
        image,
        WORKER_READY,
        90,
        command=(
            "spark-class",
            "org.apache.spark.deploy.worker.Worker",
            _master_url(port),
            "--host",
            "127.0.0.1",
            "--webui-port",
            str(worker_ui),
            "--cores",
            "4",
            "--memory",
            "4g",
        ),
        volumes={str(shared_dir): str(shared_dir)},
        # Executors inherit the worker's environment: they map the archive their own training made.
        env={"JAVA_TOOL_OPTIONS": f"-XX:SharedArchiveFile={EXECUTOR_ARCHIVE}"},
    )
    return master, worker


def _toxiproxy(image: str, proxy: ProxyPorts) -> Service:
    # LOG_LEVEL info: its default traces every read and write of every link.
    return Service(
        "toxiproxy",
        image,
        TOXIPROXY_READY,
        30,
        command=("-host", "127.0.0.1", "-port", str(proxy.api)),
        env={"LOG_LEVEL": "info"},
    )


def _create_proxies(api: str, proxy: ProxyPorts, cassandra_port: int) -> None:
    """Proxies may exist before their upstreams: Toxiproxy dials the upstream per client connection."""
    client = Toxiproxy(api)
    client.create_proxy("kafka", f"127.0.0.1:{proxy.kafka}", f"127.0.0.1:{proxy.kafka_upstream}")
    client.create_proxy("cassandra", f"127.0.0.1:{proxy.cassandra}", f"127.0.0.1:{cassandra_port}")


class Stack:
    """Starts the services in parallel; `upgrade()` moves one component to another version in place;
    `close()` saves their logs and removes them."""

    def __init__(
        self, versions: Versions, images: Images, workdir: Path, topology: Topology = "single"
    ) -> None:
        self._versions = versions
        self._images = images
        self._topology = topology
        self._shared = workdir / "shared"
        self._logs = workdir / "logs"
        # Kafka's log and Cassandra's data outlive their containers: another version takes them over,
        # or the same node started again after a kill.
        self._data = (
            {"kafka": workdir / "kafka-data", "cassandra": workdir / "cassandra-data"}
            if topology == "single"
            else topology_data_dirs(workdir)
        )
        self._network: str | None = None
        self._containers: dict[str, DockerContainer] = {}
        self._services: dict[str, Service] = {}
        self._moves = 0
        self._info: StackInfo | None = None

    @property
    def services(self) -> Mapping[str, Service]:
        return self._services

    @property
    def info(self) -> StackInfo:
        """The connection info of the versions running now (an upgrade changes them)."""
        if self._info is None:
            raise RuntimeError("the stack was never started")
        return self._info

    def _start(self, service: Service, name: str | None = None) -> None:
        """Start a container of `service` named for its role (or `name`); it replaces none."""
        container = service.container(name or service.role)
        try:
            containers.start(container, service.ready, service.timeout_s)
        except BaseException:
            if container.get_wrapped_container() is not None:  # None: Docker never created it
                containers.save_logs(container, self._logs)
            containers.remove(container)
            raise
        self._containers[service.role] = container
        self._services[service.role] = service

    def _start_in_turn(self, services: tuple[Service, ...]) -> None:
        for service in services:
            self._start(service)

    def start(self) -> StackInfo:
        started = time.monotonic()
        for folder in (self._shared, *self._data.values()):
            folder.mkdir(parents=True, exist_ok=True)
        containers.reap_orphans()
        # All at once: ports handed out by separate calls could be handed out twice.
        ports = free_ports(13)
        spark = _spark(self._images.spark, self._shared, *ports[5:8])
        master_url = _master_url(ports[5])
        try:
            if self._topology == "single":
                info = self._start_single(ports, spark, master_url)
            else:
                info = self._start_replicated(spark, master_url)
        except BaseException:
            containers.remove_all()
            raise
        self._info = replace(info, containers=self._names())
        log.info(
            "%s up in %.1f s (%s): kafka %s, cassandra %s, spark %s, toxiproxy %s (pipeline: kafka %s, "
            "cassandra %s)",
            self._versions.label(),
            time.monotonic() - started,
            self._topology,
            info.bootstrap_servers,
            ",".join(info.cassandra_nodes),
            info.spark_master,
            info.toxiproxy_api or "none",
            info.proxied_bootstrap_servers,
            info.proxied_cassandra_hosts,
        )
        return self._info

    def _start_groups(self, groups: list[tuple[Service, ...]]) -> None:
        """Each group in turn, the groups at once: a cluster's nodes wait for each other's quorum."""
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            for group in [pool.submit(self._start_in_turn, group) for group in groups]:
                group.result()

    def _start_single(self, ports: list[int], spark: tuple[Service, Service], master_url: str) -> StackInfo:
        proxy = ProxyPorts(*ports[8:12])
        bootstrap, cassandra_port = f"127.0.0.1:{ports[0]}", ports[2]
        self._start_groups(
            [
                (_kafka(self._images.kafka, ports[0], ports[1], proxy, self._data["kafka"]),),
                (
                    _cassandra(
                        self._images.cassandra,
                        ports[2],
                        ports[3],
                        ports[4],
                        ports[12],
                        self._data["cassandra"],
                    ),
                ),
                spark,
                (_toxiproxy(self._images.toxiproxy, proxy),),
            ]
        )
        toxiproxy_api = f"http://127.0.0.1:{proxy.api}"
        _create_proxies(toxiproxy_api, proxy, cassandra_port)
        return StackInfo(
            versions=self._versions,
            images=self._images,
            bootstrap_servers=bootstrap,
            cassandra_nodes=("127.0.0.1",),
            cassandra_port=cassandra_port,
            spark_master=master_url,
            shared_dir=self._shared,
            logs_dir=self._logs,
            containers={},
            toxiproxy_api=toxiproxy_api,
            proxied_bootstrap_servers=f"127.0.0.1:{proxy.kafka}",
            proxied_cassandra_port=proxy.cassandra,
        )

    def _start_replicated(self, spark: tuple[Service, Service], master_url: str) -> StackInfo:
        self._network, subnet = containers.create_network("nodes", topology.SUBNETS)
        addresses = topology.addresses(self._network, subnet)
        cluster_id = kafka_cluster_id()
        nodes = range(1, topology.NODES + 1)
        kafka = [
            Service(
                topology.kafka_role(n),
                self._images.kafka,
                KAFKA_READY,
                REPLICATED_START_TIMEOUT_S,
                env=topology.kafka_env(cluster_id, n, addresses),
                volumes={str(self._data[topology.kafka_role(n)]): KAFKA_DATA},
                address=addresses[topology.kafka_role(n)],
            )
            for n in nodes
        ]
        cassandra = [
            Service(
                topology.cassandra_role(n),
                self._images.cassandra,
                CASSANDRA_READY,
                REPLICATED_START_TIMEOUT_S,
                env=topology.cassandra_env(n, addresses),
                volumes={str(self._data[topology.cassandra_role(n)]): CASSANDRA_DATA},
                address=addresses[topology.cassandra_role(n)],
            )
            for n in nodes
        ]
        self._start_groups([*((node,) for node in (*kafka, *cassandra)), spark])
        ips = {role: address.ip for role, address in addresses.items()}
        bootstrap = ",".join(f"{ips[topology.kafka_role(n)]}:{topology.KAFKA_PORT}" for n in nodes)
        return StackInfo(
            versions=self._versions,
            images=self._images,
            bootstrap_servers=bootstrap,
            cassandra_nodes=tuple(ips[topology.cassandra_role(n)] for n in nodes),
            cassandra_port=topology.CASSANDRA_NATIVE_PORT,
            spark_master=master_url,
            shared_dir=self._shared,
            logs_dir=self._logs,
            containers={},
            toxiproxy_api=None,
            proxied_bootstrap_servers=bootstrap,
            proxied_cassandra_port=topology.CASSANDRA_NATIVE_PORT,
            topology="replicated",
            replication=topology.NODES,
            addresses=ips,
        )

    def _names(self) -> dict[str, str]:
        return {role: c.get_wrapped_container().name for role, c in self._containers.items()}

    def _stop(self, role: str) -> None:
        """SIGTERM, and the container's own shutdown; its log is saved before it is removed."""
        container = self._containers.pop(role, None)
        if container is None:  # a start that failed left none
            return
        wrapped = container.get_wrapped_container()
        stopped = time.monotonic()
        wrapped.stop(timeout=STOP_TIMEOUT_S)
        code = wrapped.wait()["StatusCode"]
        log.info("%s stopped in %.1f s, exit %s", wrapped.name, time.monotonic() - stopped, code)
        containers.save_logs(container, self._logs)
        containers.remove(container)

    def upgrade(
        self,
        component: Component,
        versions: Versions,
        images: Images,
        lose_data: bool = False,
        settings: Mapping[str, str] | None = None,
    ) -> StackInfo:
        """Move `component` to its version in `versions`, in place: its containers drained (where the
        procedure says so) and stopped, and started on the new image with the same ports,
        environment and data, plus `settings`. `lose_data`: the new containers start on empty
        storage (a negative control: an upgrade that loses the log). A start that fails raises,
        with no container left for the component (upgrade it again to any version that can start)."""
        if self._topology != "single":
            raise NotImplementedError("upgrades in place run on the single topology")
        info = self.info
        self._moves += 1
        version = getattr(versions, component)
        for move in upgrade_plan(self._services, component, getattr(images, component), settings):
            log.info("%s %s -> %s: %s", component, getattr(self._versions, component), version, move)
            if move.action == "drain":
                if move.service.role in self._containers:  # none after a start that failed
                    self.exec(move.service.role, DRAIN[move.service.role])
                continue
            if move.action == "stop":
                self._stop(move.service.role)
                continue
            if lose_data:
                for folder in move.service.volumes:
                    shutil.rmtree(folder)
                    Path(folder).mkdir()
            self._start(move.service, f"{move.service.role}-{version}-{self._moves}")
        self._versions, self._images = versions, images
        self._info = replace(info, versions=versions, images=images, containers=self._names())
        return self._info

    def restart(self, component: Component, settings: Mapping[str, str]) -> StackInfo:
        """`component` restarted in place on the version it runs, with `settings` changed (a
        rolling restart of the procedure: Cassandra 5.0's storage compatibility steps)."""
        return self.upgrade(component, self._versions, self._images, settings=settings)

    def exec(self, role: str, command: Sequence[str]) -> str:
        """Run `command` in the container of `role`; its output, or an error with it if it failed."""
        container = self._containers[role].get_wrapped_container()
        result = container.exec_run(list(command))
        output = result.output.decode(errors="replace").strip()
        if result.exit_code != 0:
            raise RuntimeError(
                f"{' '.join(command)} in {container.name} exited {result.exit_code}: {output[-1000:]}"
            )
        return output

    def logs(self, role: str) -> str:
        """What the container of `role` has logged so far (stdout and stderr)."""
        stdout, stderr = self._containers[role].get_logs()
        return (stdout + stderr).decode(errors="replace")

    def sstable_formats(self, keyspace: str) -> Counter[str]:
        """SSTables of `keyspace` on disk per format version (the name's first part: 4.x's `nb`, 5.0's
        `oa`), read from the data directory the node's container mounts."""
        tables = self._data["cassandra"] / "data" / keyspace
        return Counter(path.name.split("-", 1)[0] for path in tables.glob("*/*-Data.db"))

    def save_logs(self) -> list[Path]:
        saved = (containers.save_logs(c, self._logs) for c in self._containers.values())
        return [path for path in saved if path is not None]

    def close(self) -> None:
        try:
            self.save_logs()
        finally:
            for container in self._containers.values():
                containers.remove(container)
            self._containers.clear()
            # The logs stay; the services' data would fill the disk run after run.
            for folder in self._data.values():
                shutil.rmtree(folder, ignore_errors=True)
            if self._network is not None:
                containers.remove_network(self._network)
                self._network = None
