"""Whether a Docker engine answers. Installing and starting one is set-up, not library code:
`.ci/docker_engine.py` does it (tox runs it before every environment that needs Docker)."""

from __future__ import annotations

import docker
from docker.errors import DockerException

SETUP = "python3 .ci/docker_engine.py"


class EngineMissing(RuntimeError):
    """No Docker engine answers: nothing of the stack can start."""


def require_engine() -> None:
    try:
        docker.from_env().ping()
    except DockerException as error:
        raise EngineMissing(
            f"no Docker engine answers ({error}). Start one; on Debian as root, `{SETUP}` from a Tally "
            "checkout installs docker.io and starts dockerd."
        ) from error
