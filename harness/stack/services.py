"""The real stack: Kafka (KRaft), Cassandra, a Spark standalone master + worker and Toxiproxy, started
in parallel. Drivers reach Kafka and Cassandra through Toxiproxy (network faults); the harness does not.

Fixtures and the audit get a `StackInfo`: plain, frozen connection info. The `Stack` object keeps the
containers, for faults, logs and teardown.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from testcontainers.core.container import DockerContainer

from harness.stack import containers
from harness.stack.images import Images
from harness.stack.ports import free_ports
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
    cassandra_host: str
    cassandra_port: int
    spark_master: str
    # Checkpoints live here: mounted at the same path in the worker and in every driver.
    shared_dir: Path
    logs_dir: Path
    containers: dict[str, str]
    # Toxiproxy's API, and the pipeline's way to the services through its proxies `kafka` and
    # `cassandra`; the producer and the harness's own reads go direct.
    toxiproxy_api: str
    proxied_bootstrap_servers: str
    proxied_cassandra_port: int

    @property
    def cassandra_hosts(self) -> str:
        return f"{self.cassandra_host}:{self.cassandra_port}"

    @property
    def proxied_cassandra_hosts(self) -> str:
        return f"{self.cassandra_host}:{self.proxied_cassandra_port}"


@dataclass(frozen=True)
class ProxyPorts:
    """Toxiproxy's API port; the proxies' listen ports; Kafka's listener behind the `kafka` proxy."""

    api: int
    kafka: int
    cassandra: int
    kafka_upstream: int


def _kafka_cluster_id() -> str:
    """16 random bytes in URL-safe base64, never starting with "-" (the storage tool would read an option)."""
    while (cluster_id := base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def _kafka(image: str, port: int, controller: int, proxy: ProxyPorts) -> tuple[DockerContainer, str]:
    cluster_id = _kafka_cluster_id()
    container = containers.labelled(image, "kafka").with_envs(
        KAFKA_PORT=str(port),
        KAFKA_CONTROLLER_PORT=str(controller),
        KAFKA_CLUSTER_ID=cluster_id,
        KAFKA_PROXIED_PORT=str(proxy.kafka_upstream),
        KAFKA_PROXIED_ADVERTISED_PORT=str(proxy.kafka),
    )
    return containers.start(container, KAFKA_READY, 90), f"127.0.0.1:{port}"


def _cassandra(image: str, native: int, storage: int, ssl: int) -> tuple[DockerContainer, int]:
    container = containers.labelled(image, "cassandra").with_envs(
        CASSANDRA_NATIVE_PORT=str(native),
        CASSANDRA_STORAGE_PORT=str(storage),
        CASSANDRA_SSL_STORAGE_PORT=str(ssl),
    )
    return containers.start(container, CASSANDRA_READY, 180), native


def _spark(
    image: str, shared_dir: Path, port: int, master_ui: int, worker_ui: int
) -> tuple[DockerContainer, DockerContainer, str]:
    url = f"spark://127.0.0.1:{port}"
    master = containers.labelled(
        image,
        "spark-master",
        [
            "spark-class",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(master_ui),
        ],
    ).with_env(
        # Two applications fit side by side: a zombie driver keeps its executor, so its replacement
        # on the same checkpoint needs cores of its own.
        "SPARK_MASTER_OPTS",
        "-Dspark.deploy.defaultCores=2",
    )
    containers.start(master, MASTER_READY, 90)
    worker = containers.labelled(
        image,
        "spark-worker",
        [
            "spark-class",
            "org.apache.spark.deploy.worker.Worker",
            url,
            "--host",
            "127.0.0.1",
            "--webui-port",
            str(worker_ui),
            "--cores",
            "4",
            "--memory",
            "4g",
        ],
    ).with_volume_mapping(str(shared_dir), str(shared_dir), mode="rw")
    containers.start(worker, WORKER_READY, 90)
    return master, worker, url


def _toxiproxy(image: str, proxy: ProxyPorts, cassandra_port: int) -> tuple[DockerContainer, str]:
    """Proxies may exist before their upstreams: Toxiproxy dials the upstream per client connection."""
    container = containers.labelled(
        image, "toxiproxy", ["-host", "127.0.0.1", "-port", str(proxy.api)]
    ).with_env("LOG_LEVEL", "info")  # its default traces every read and write of every link
    containers.start(container, TOXIPROXY_READY, 30)
    api = f"http://127.0.0.1:{proxy.api}"
    client = Toxiproxy(api)
    client.create_proxy("kafka", f"127.0.0.1:{proxy.kafka}", f"127.0.0.1:{proxy.kafka_upstream}")
    client.create_proxy("cassandra", f"127.0.0.1:{proxy.cassandra}", f"127.0.0.1:{cassandra_port}")
    return container, api


class Stack:
    """Starts the services in parallel; `close()` saves their logs and removes them."""

    def __init__(self, versions: Versions, images: Images, workdir: Path) -> None:
        self._versions = versions
        self._images = images
        self._shared = workdir / "shared"
        self._logs = workdir / "logs"
        self._containers: dict[str, DockerContainer] = {}

    def start(self) -> StackInfo:
        started = time.monotonic()
        self._shared.mkdir(parents=True, exist_ok=True)
        containers.reap_orphans()
        # All at once: ports handed out by separate calls could be handed out twice.
        ports = free_ports(12)
        proxy = ProxyPorts(*ports[8:12])
        with ThreadPoolExecutor(max_workers=4) as pool:
            kafka = pool.submit(_kafka, self._images.kafka, ports[0], ports[1], proxy)
            cassandra = pool.submit(_cassandra, self._images.cassandra, *ports[2:5])
            spark = pool.submit(_spark, self._images.spark, self._shared, *ports[5:8])
            toxiproxy = pool.submit(_toxiproxy, self._images.toxiproxy, proxy, ports[2])
            try:
                kafka_container, bootstrap = kafka.result()
                self._containers["kafka"] = kafka_container
                cassandra_container, cassandra_port = cassandra.result()
                self._containers["cassandra"] = cassandra_container
                master, worker, master_url = spark.result()
                self._containers.update({"spark-master": master, "spark-worker": worker})
                self._containers["toxiproxy"], toxiproxy_api = toxiproxy.result()
            except BaseException:
                containers.remove_all()
                raise
        info = StackInfo(
            versions=self._versions,
            images=self._images,
            bootstrap_servers=bootstrap,
            cassandra_host="127.0.0.1",
            cassandra_port=cassandra_port,
            spark_master=master_url,
            shared_dir=self._shared,
            logs_dir=self._logs,
            containers={role: c.get_wrapped_container().name for role, c in self._containers.items()},
            toxiproxy_api=toxiproxy_api,
            proxied_bootstrap_servers=f"127.0.0.1:{proxy.kafka}",
            proxied_cassandra_port=proxy.cassandra,
        )
        log.info(
            "%s up in %.1f s: kafka %s, cassandra 127.0.0.1:%d, spark %s, toxiproxy %s "
            "(proxies: kafka :%d, cassandra :%d)",
            self._versions.label(),
            time.monotonic() - started,
            bootstrap,
            cassandra_port,
            master_url,
            toxiproxy_api,
            proxy.kafka,
            proxy.cassandra,
        )
        return info

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
