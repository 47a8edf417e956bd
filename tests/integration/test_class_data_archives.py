"""The Spark image's class-data sharing archives are in use: a driver's JVM maps driver.jsa, and each
executor the worker launches for it maps executor.jsa.

A JVM whose class path or options no longer match its archive ignores it without a word, and every
driver start in the gate and the audit then takes seconds more (README, The gate's time); only this
test would notice.
"""

from __future__ import annotations

from collections.abc import Callable

import docker
import pytest

from harness.scenario.trial import Trial
from harness.stack.images import DRIVER_ARCHIVE, EXECUTOR_ARCHIVE
from harness.stack.services import StackInfo
from harness.workload.generator import WorkloadSpec

pytestmark = pytest.mark.integration


def mapped_archives(container_name: str, main_class: str, archive: str) -> dict[str, bool]:
    """Each JVM of `main_class` in the container -> whether it maps `archive`."""
    container = docker.from_env().containers.get(container_name)
    pids = container.exec_run(["pgrep", "-f", main_class]).output.decode().split()
    return {
        pid: container.exec_run(["grep", "-q", archive, f"/proc/{pid}/maps"]).exit_code == 0 for pid in pids
    }


def test_the_driver_and_its_executor_map_their_archives(
    trial: Callable[..., Trial], stack: StackInfo
) -> None:
    t = trial()
    t.produce(WorkloadSpec(seed=1, events=200))
    driver = t.start_driver()
    t.wait_consumed()
    drivers = mapped_archives(driver.container.get_wrapped_container().name, "SparkSubmit", DRIVER_ARCHIVE)
    executors = mapped_archives(
        stack.containers["spark-worker"], "CoarseGrainedExecutorBackend", EXECUTOR_ARCHIVE
    )
    assert driver.stop() == 0, driver.logs()[-3000:]
    assert list(drivers.values()) == [True], f"driver JVMs -> maps {DRIVER_ARCHIVE}: {drivers}"
    assert executors, "no executor JVM ran in the worker while the driver counted"
    assert all(executors.values()), f"executor JVMs -> maps {EXECUTOR_ARCHIVE}: {executors}"
