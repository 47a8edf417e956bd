"""The audit end to end, as a user runs it: the oldest supported Kafka under two Sparks (the default
and the oldest supported), side by side in a report that says what happened, and a wrong sink (plus a
version that cannot be built) whose audit comes out invalid with exit 1. One stack per version set,
none of them the session's: the default versions run every scenario in the gate already."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_view import Page, chromium

from harness.audit.model import AuditResult
from harness.stack.versions import Versions

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SECOND_KAFKA = "3.9.1"
# The oldest Spark supported: its SQL functions differ (no is_valid_utf8) and its connector is Scala 2.12.
SECOND_SPARK = "3.5.7"
UNBUILDABLE_KAFKA = "0.0.1"  # not on Maven Central: the image cannot be built
SCENARIOS = ("crash-after_write", "bad-input", "late-events")


def audit(out: Path, *args: str) -> tuple[int, str]:
    """`python -m harness audit` in a subprocess, as tox runs it; returns the exit code and stderr."""
    command = [sys.executable, "-m", "harness", "audit", "--out", str(out), "--events", "2000", *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False, timeout=900)
    log = out / "audit.log"
    out.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    return result.returncode, result.stderr


@pytest.fixture
def out() -> Path:
    # Not pytest's tmp_path: the report and the failed scenarios' artifacts must outlive the run.
    return REPO / ".tally" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-audit"


def markdown(out: Path) -> str:
    """report.md with runs of spaces folded: table cells are padded to their column's width."""
    return re.sub(r" +", " ", (out / "report.md").read_text())


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def test_an_audit_of_the_oldest_kafka_on_two_sparks_reports_every_verdict(out: Path) -> None:
    """Two version sets side by side, neither the session's: the oldest Kafka supported under the
    default Spark and under the oldest Spark. A fault with its recovery, malformed input (the UTF-8
    check differs by Spark version) and late events (the watermark), on the same seed and events."""
    default = Versions.from_env()
    sparks = [default.spark, SECOND_SPARK]
    code, log = audit(
        out,
        "--kafka-version",
        SECOND_KAFKA,
        "--matrix",
        f"spark={','.join(sparks)}",
        "--scenarios",
        ",".join(SCENARIOS),
    )
    assert code == 0, tail(log)
    for name in ("report.md", "report.html", "junit.xml", "audit.json", "plots/recovery.png"):
        assert (out / name).is_file(), name

    result = AuditResult.load(out)
    assert result.valid
    assert result.profile == "quick"
    assert result.events == 2000
    assert [vs.versions["kafka"] for vs in result.version_sets] == [SECOND_KAFKA] * 2
    assert [vs.versions["spark"] for vs in result.version_sets] == sparks
    assert [vs.versions["connector"] for vs in result.version_sets] == sparks
    per_spark = []
    for vs in result.version_sets:
        assert vs.status == "ran", vs.error
        assert [s.name for s in vs.scenarios] == list(SCENARIOS)
        for s in vs.scenarios:
            assert s.valid is True, s.failure_reason
            assert s.lost == s.duplicated == s.unexpected == 0
            assert s.acknowledged == s.attempted >= 2000
            assert s.counted + s.dead_lettered + s.late == s.acknowledged
            assert s.timeline, "no sample taken"
            assert s.timeline[-1].counted == s.acknowledged, "the plot ends where the run did"
            assert s.throughput_eps > 0
            assert s.duration_s > 0
        crash, bad, late = vs.scenarios
        assert bad.fault is None
        assert bad.recovery_s is None
        assert bad.dead_lettered > 0
        assert late.late > 0
        assert crash.fault == "crash at sink.after_write"
        assert crash.fault_at_s is not None
        assert crash.heal_at_s is not None
        assert crash.fault_at_s < crash.heal_at_s < crash.duration_s
        assert crash.recovery_s is not None
        assert crash.recovery_s >= 0
        per_spark.append([(s.counted, s.dead_lettered, s.late) for s in (bad, late)])
    # Same seed, same events: both Sparks must make the same call on every record.
    assert per_spark[0] == per_spark[1]

    report = markdown(out)
    assert report.startswith("# Tally upgrade audit: VALID")
    assert "## Version sets side by side" in report
    assert f"connector {SECOND_SPARK}" in report
    for vs in result.version_sets:
        assert f"### {vs.label}" in report
    for name in SCENARIOS:
        assert f"| {name} | valid |" in report
    suites = ET.parse(out / "junit.xml").getroot()
    runs = str(len(sparks) * len(SCENARIOS))
    assert (suites.get("tests"), suites.get("failures"), suites.get("errors")) == (runs, "0", "0")

    # What a reviewer opens: the live report, rendered; the screenshot stays with the run.
    page = Page(chromium(out / "report.html", "--dump-dom"))
    assert [t.get("class") for t in page.all("table")].count("verdicts") == len(sparks)
    assert [t.get("class") for t in page.all("tr")].count("row-valid") == len(sparks) * len(SCENARIOS)
    plots = [i for i in page.all("img") if (i.get("src") or "").startswith("data:image/png;base64,")]
    assert len(plots) == len(sparks) * len(SCENARIOS) + 1, "timelines + recovery"
    chromium(out / "report.html", f"--screenshot={out / 'screenshot.png'}")
    assert (out / "screenshot.png").stat().st_size > 50_000

    compared = subprocess.run(
        [sys.executable, "-m", "harness", "audit", "compare", str(out), str(out), "--out", str(out / "cmp")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert compared.returncode == 0, compared.stderr
    assert "Nothing changed" in compared.stdout
    assert (out / "cmp" / "compare.html").is_file()


def test_a_wrong_sink_and_an_unbuildable_version_make_the_audit_invalid(out: Path) -> None:
    """The sink the checker once judged exact: it counts nothing and reports every event late."""
    default = Versions.from_env()
    code, log = audit(
        out,
        "--sink",
        "harness.scenario.wrong_sinks:AllLateSink",
        "--matrix",
        f"kafka={default.kafka},{UNBUILDABLE_KAFKA}",
        "--scenarios",
        "normal-flow",
    )
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
