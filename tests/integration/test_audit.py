"""The audit end to end, with the options a user gives it: a wrong sink (plus a version that cannot be
built) whose audit comes out invalid with exit 1. It runs on the session's stack, which has the
default versions: a stack of its own would cost a start and prove nothing more. The valid side, with
its report rendered, is the upgrade audit (test_upgrade.py), a process of its own on a stack of the
old versions; the oldest Kafka under both Sparks, side by side, is `tox -e versions`."""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import pytest

from harness.audit.model import AuditResult
from harness.audit.run import add_arguments, options, run
from harness.stack.services import Stack
from harness.stack.versions import Versions

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UNBUILDABLE_KAFKA = "0.0.1"  # not on Maven Central: the image cannot be built


@pytest.fixture
def out() -> Path:
    # Not pytest's tmp_path: the report and the failed scenarios' artifacts must outlive the run.
    return REPO / ".tally" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-audit"


def markdown(out: Path) -> str:
    """report.md with runs of spaces folded: table cells are padded to their column's width."""
    return re.sub(r" +", " ", (out / "report.md").read_text())


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def test_a_wrong_sink_and_an_unbuildable_version_make_the_audit_invalid(
    out: Path, running_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sink the checker once judged exact: it counts nothing and reports every event late."""
    default = Versions.from_env()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--out",
            str(out),
            "--events",
            "2000",
            "--sink",
            "harness.scenario.wrong_sinks:AllLateSink",
            "--matrix",
            f"kafka={default.kafka},{UNBUILDABLE_KAFKA}",
            "--scenarios",
            "normal-flow",
        ]
    )
    code = run(options(args), running=running_stack)
    log = capsys.readouterr().err
    assert code == 1, tail(log)
    failed = [line for line in log.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 2, tail(log)

    result = AuditResult.load(out)
    assert not result.valid
    wrong, unbuildable = result.version_sets
    (normal,) = wrong.scenarios
    assert normal.valid is False
    assert normal.wrongly_late == normal.lost > 0, normal
    assert "wrongly late" in normal.failure_reason
    assert "wrongly_late" in normal.differing_rows
    assert normal.artifacts
    assert all((out / path).exists() for path in normal.artifacts)
    assert unbuildable.status == "build-failed"
    assert not unbuildable.scenarios
    assert UNBUILDABLE_KAFKA in (unbuildable.error or "")

    report = markdown(out)
    assert report.startswith("# Tally upgrade audit: INVALID")
    assert "| normal-flow | INVALID |" in report
    assert "status **build-failed**" in report
