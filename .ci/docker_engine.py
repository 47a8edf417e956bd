"""Makes sure a Docker engine answers: installs and starts one on Debian as root, or says how to get one.

Set-up, not part of the harness: standard library only, so `.ci/run` (and tox, before each
environment that needs Docker) can call it before any dependency is installed:
`python3 .ci/docker_engine.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCKERD_LOG = Path("/var/log/tally-dockerd.log")


class DockerEngineError(RuntimeError):
    pass


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def _can_install() -> bool:
    return sys.platform == "linux" and os.geteuid() == 0 and Path("/etc/debian_version").exists()


def ensure_engine(timeout_s: float = 90.0) -> None:
    """Idempotent: returns at once when `docker info` answers."""
    if engine_answers():
        return
    if not _can_install():
        raise DockerEngineError(
            "no Docker engine answers `docker info`. Start one (e.g. `sudo systemctl start docker`), "
            "or run this as root on Debian so Tally can `apt-get install docker.io` and start dockerd."
        )
    if shutil.which("dockerd") is None:
        print("[docker] installing docker.io and debootstrap with apt-get", file=sys.stderr, flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io", "debootstrap"], check=True, env=env)
    print(f"[docker] starting dockerd (log: {DOCKERD_LOG})", file=sys.stderr, flush=True)
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if engine_answers():
            print("[docker] engine is up", file=sys.stderr, flush=True)
            return
        time.sleep(0.5)
    tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-20:]
    raise DockerEngineError(
        f"dockerd did not answer within {timeout_s:.0f} s; its log ends:\n" + "\n".join(tail)
    )


if __name__ == "__main__":
    try:
        ensure_engine()
    except (DockerEngineError, subprocess.CalledProcessError) as error:
        print(f"[docker] {error}", file=sys.stderr)
        sys.exit(1)
