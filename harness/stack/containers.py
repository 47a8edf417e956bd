"""Labelled containers on the host network, and the cleanup that removes every one of ours.

Ryuk (testcontainers' reaper) cannot be pulled here, so Tally reaps its own: each container carries
the label `tally.owner=<pid>`; `remove_all()` runs at exit, and `reap_orphans()` removes containers
whose owning process is gone (a run killed with SIGKILL).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path

import docker
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

LABEL = "tally.owner"
_started: list[DockerContainer] = []


def _client() -> docker.DockerClient:
    return docker.from_env()


def labelled(image: str, name: str, command: list[str] | None = None) -> DockerContainer:
    """A container on the host network (services listen on 127.0.0.1 ports chosen by the harness)."""
    testcontainers_config.ryuk_disabled = True
    container = DockerContainer(image, name=f"tally-{name}-{os.getpid()}")
    if command:
        container.with_command(command)
    # init: tini as PID 1 forwards SIGTERM to the process, and a process that is not PID 1 can be
    # killed by its own SIGKILL (the kernel ignores unhandled signals sent to init from inside).
    return container.with_kwargs(network_mode="host", init=True, labels={LABEL: str(os.getpid())})


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
    into.mkdir(parents=True, exist_ok=True)
    wrapped = container.get_wrapped_container()
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
    with contextlib.suppress(docker.errors.NotFound):
        container.stop(force=True)


def remove_all() -> None:
    while _started:
        remove(_started[-1])


def reap_orphans() -> list[str]:
    """Remove containers left by Tally runs whose process no longer exists."""
    removed = []
    for container in _client().containers.list(all=True, filters={"label": LABEL}):
        owner = int(container.labels.get(LABEL, "0"))
        if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
            container.remove(force=True)
            removed.append(container.name)
    return removed


atexit.register(remove_all)
