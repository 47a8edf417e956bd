"""The pytest plugin seen from a project outside this repository: a test file in an empty directory,
no conftest, gets the fixtures, the markers and the seed from the installed package alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAMPLE = """
import pytest


def test_the_seed_is_given_and_printed(seed):
    assert seed == 4242


@pytest.mark.integration
def test_a_job_on_the_real_stack(trial):
    t = trial(max_offsets_per_trigger=500)
    t.start_driver()
"""


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers", *args]
    return subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False, timeout=120)


def test_a_sample_project_uses_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_my_job.py").write_text(SAMPLE)
    ran = pytest_in(tmp_path, "-m", "not integration", "--seed", "4242")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed, 1 deselected" in ran.stdout
    assert "tally seed: 4242 (replay with --seed 4242)" in ran.stdout
    fixtures = pytest_in(tmp_path, "--fixtures")
    for name in ("stack", "running_stack", "trial", "seed", "versions"):
        assert f"\n{name} " in fixtures.stdout or f"\n{name}\n" in fixtures.stdout, name
    markers = pytest_in(tmp_path, "--markers")
    assert "@pytest.mark.integration: needs Docker" in markers.stdout
