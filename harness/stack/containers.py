"""Labelled containers, on the host network or at an address of a network of ours, and the cleanup
that removes every one of them.

Ryuk (testcontainers' reaper) cannot be pulled here, so Tally reaps its own: each container and
network carries the label `tally.owner=<pid>`; `remove_all()` runs at exit, and `reap_orphans()`
removes those whose owning process is gone (a run killed with SIGKILL).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.types import EndpointConfig
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

LABEL = "tally.owner"
_started: list[DockerContainer] = []
_networks: list[str] = []


def _client() -> docker.DockerClient:
    return docker.from_env()


@dataclass(frozen=True)
class Address:
    """A fixed address on a network of ours: a node restarted, or cut off and healed, keeps it."""

    network: str
    ip: str


def labelled(
    image: str, name: str, command: list[str] | None = None, address: Address | None = None
) -> DockerContainer:
    """A container on the host network (services listen on 127.0.0.1 ports chosen by the harness),
    or at `address`, with a network namespace of its own that a fault can cut."""
    testcontainers_config.ryuk_disabled = True
    container = DockerContainer(image, name=f"tally-{name}-{os.getpid()}")
    if command:
        container.with_command(command)
    if address is None:
        network: dict[str, object] = {"network_mode": "host"}
    else:
        endpoint = EndpointConfig(_client().api.api_version, ipv4_address=address.ip)
        network = {"network": address.network, "networking_config": {address.network: endpoint}}
    # init: tini as PID 1 forwards SIGTERM to the process, and a process that is not PID 1 can be
    # killed by its own SIGKILL (the kernel ignores unhandled signals sent to init from inside).
    return container.with_kwargs(**network, init=True, labels={LABEL: str(os.getpid())})


def create_network(name: str, candidates: Iterable[str]) -> tuple[str, str]:
    """A bridge network of ours on the first free /24 of `candidates` (other networks of this
    machine may hold some): (its name, its subnet)."""
    full = f"tally-{name}-{os.getpid()}"
    refused = []
    for subnet in candidates:
        pool = docker.types.IPAMPool(subnet=subnet)
        try:
            _client().networks.create(
                full,
                driver="bridge",
                ipam=docker.types.IPAMConfig(pool_configs=[pool]),
                labels={LABEL: str(os.getpid())},
            )
        except docker.errors.APIError as error:
            refused.append(f"{subnet}: {error.explanation}")
            continue
        _networks.append(full)
        return full, subnet
    raise RuntimeError("no subnet free for a network of ours:\n  " + "\n  ".join(refused[-3:]))


def remove_network(name: str) -> None:
    if name in _networks:
        _networks.remove(name)
    with contextlib.suppress(docker.errors.NotFound):
        _client().networks.get(name).remove()


class ContainerStartError(RuntimeError):
    pass


def start(container: DockerContainer, ready_line: str | None, timeout_s: float) -> DockerContainer:
    """Start and wait for `ready_line` in the logs (None: return once it runs); a failure carries the
    container's last log lines."""
    _started.append(container)
    if ready_line is not None:
        # Polled every 0.2 s, not testcontainers' 1 s: a gate starts about seventy drivers, each
        # ready in seconds, and would wait half a second more each on average.
        container.waiting_for(
            LogMessageWaitStrategy(ready_line).with_startup_timeout(int(timeout_s)).with_poll_interval(0.2)
        )
    try:
        return container.start()
    except Exception as error:
        raise ContainerStartError(
            f"{container.image} did not log {ready_line!r}: {str(error).splitlines()[0]}\n"
            f"--- last log lines ---\n{_tail(container)}"
        ) from error


def _tail(container: DockerContainer, lines: int = 40) -> str:
    try:
        logs = container.get_wrapped_container().logs().decode(errors="replace")
    except Exception as error:  # the container may be gone already
        return f"<no logs: {error}>"
    return "\n".join(logs.splitlines()[-lines:])


def save_logs(container: DockerContainer, into: Path) -> Path | None:
    """Write the container's stdout and stderr to `into/<name>.log`, each line after the time Docker
    received it (a driver's own lines carry none: this is how its retries line up with a fault's
    heal); None if the container is already gone."""
    wrapped = container.get_wrapped_container()
    if wrapped is None:  # Docker refused to create it: there is no log
        return None
    into.mkdir(parents=True, exist_ok=True)
    path = into / f"{wrapped.name}.log"
    try:
        path.write_bytes(wrapped.logs(stdout=True, stderr=True, timestamps=True))
    except docker.errors.NotFound:
        return None
    return path


def remove(container: DockerContainer) -> None:
    """Idempotent: an interrupted start or a second teardown may find the container gone."""
    if container in _started:
        _started.remove(container)
    if container.get_wrapped_container() is None:  # never created
        return
    with contextlib.suppress(docker.errors.NotFound):
        container.stop(force=True)


def remove_all() -> None:
    while _started:
        remove(_started[-1])
    while _networks:
        remove_network(_networks[-1])


def _orphaned(labels: dict[str, str]) -> bool:
    owner = int(labels.get(LABEL, "0"))
    return owner != os.getpid() and not Path(f"/proc/{owner}").exists()


def reap_orphans() -> list[str]:
    """Remove containers, then networks, left by Tally runs whose process no longer exists."""
    removed = []
    client = _client()
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        if _orphaned(container.labels):
            container.remove(force=True)
            removed.append(container.name)
    for network in client.networks.list(filters={"label": LABEL}):
        if _orphaned(network.attrs.get("Labels") or {}):
            network.remove()
            removed.append(network.name)
    return removed


atexit.register(remove_all)
