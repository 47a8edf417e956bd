"""Tally's pytest plugin: the real stack as fixtures, the markers, and a seed per run.

Installing the package registers it (entry point `pytest11`), in this repository's tiers and in any
other project: `stack` (one per session, on the versions of `harness/stack/versions.py` and their
TALLY_* overrides), `trial` (a factory: each test gets its own topic, keyspace, checkpoint and
history, so tests never see each other's data) and `seed` (fresh per run, printed, `--seed N` to
replay). Drivers run the pipeline from a source checkout installed with `pip install -e`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.scenario.trial import Trial
from harness.stack.engine import require_engine
from harness.stack.images import ensure_images
from harness.stack.services import Stack, StackInfo
from harness.stack.versions import Versions

log = logging.getLogger("harness.stack")

SEED_KEY = pytest.StashKey[int]()
SEED_HELP = "seed of the scenarios' workloads and kill points (default: $TALLY_SEED, else a fresh one)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--seed", type=int, default=None, help=SEED_HELP)


MARKERS = {
    "integration": "needs Docker and the real Kafka, Cassandra and Spark containers",
    "chaos": "fault-injection scenarios against the real stack",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    # Fresh by default, so that every CI run explores other workloads and schedules; printed in
    # the header and in every failure, so that any run can be replayed.
    seed = config.getoption("seed")
    if seed is None:
        seed = int(os.environ.get("TALLY_SEED") or random.SystemRandom().randrange(1, 2**31))
    config.stash[SEED_KEY] = seed


def pytest_report_header(config: pytest.Config) -> str:
    return f"tally seed: {config.stash[SEED_KEY]} (replay with --seed {config.stash[SEED_KEY]})"


@pytest.fixture(scope="session")
def seed(pytestconfig: pytest.Config) -> int:
    return pytestconfig.stash[SEED_KEY]


@pytest.fixture(scope="session")
def versions() -> Versions:
    return Versions.from_env()


@pytest.fixture(scope="session")
def running_stack(versions: Versions, pytestconfig: pytest.Config) -> Iterator[Stack]:
    """The session's one stack, for every test that does not need a fresh one (the audit runs on it)."""
    require_engine()
    # Not pytest's tmp_path: it keeps only the last few runs, and the logs must outlive them.
    workdir = pytestconfig.rootpath / ".tally" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    stack = Stack(versions, ensure_images(versions), workdir)
    try:
        started = time.monotonic()
        stack.start()
        log.info("%s up in %.1f s", versions.label(), time.monotonic() - started)
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session")
def stack(running_stack: Stack) -> StackInfo:
    return running_stack.info


@pytest.fixture
def trial(stack: StackInfo, request: pytest.FixtureRequest) -> Iterator[Callable[..., Trial]]:
    """Factory: `trial(**driver_spec_fields)` -> a Trial named after the test, closed at teardown."""
    made: list[Trial] = []

    def make(**spec: Any) -> Trial:
        # A parametrized test is named by its parameter id (a scenario name), others by the function;
        # topics allow only [a-zA-Z0-9._-].
        callspec = getattr(request.node, "callspec", None)
        label = callspec.id if callspec else request.node.name.removeprefix("test_")
        name = re.sub(r"[^a-z0-9]+", "-", label.lower())[:24].strip("-")
        made.append(Trial(stack, name, **spec))
        return made[-1]

    yield make
    for t in made:
        t.close()
