"""Upgrades in place, end to end as a user runs them: `audit --profile gate --upgrade
kafka=3.9.1:4.1.1 --upgrade spark=3.5.7:4.0.0` on one stack started on the old versions. Kafka's
broker moves on its own log under load and is finalized, Spark's master, worker and driver move on
the same checkpoint, a crash follows on the new versions: exact; and a broker that comes back on
empty storage is caught (lost). The rollbacks (Kafka's before and after finalizing, Spark's) run in
`tox -e upgrade`, the same audit in its quick profile."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from report_view import Page, chromium
from test_audit import markdown, tail

from harness.audit.model import AuditResult

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KAFKA = ("3.9.1", "4.1.1")
SPARK = ("3.5.7", "4.0.0")


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
    return REPO / ".tally" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-upgrade"


def test_kafka_and_spark_upgrades_in_place_under_load_are_exact(out: Path) -> None:
    """The gate's share of the upgrade audit: the control and the upgrade (`--profile gate`); the
    rollbacks run in `tox -e upgrade`. Also the report a reviewer opens, rendered."""
    started = time.monotonic()
    code, log = audit(
        out,
        "--profile",
        "gate",
        "--upgrade",
        "kafka={}:{}".format(*KAFKA),
        "--upgrade",
        "spark={}:{}".format(*SPARK),
    )
    assert code == 0, tail(log)
    for name in ("report.md", "report.html", "junit.xml", "audit.json", "plots/recovery.png"):
        assert (out / name).is_file(), name
    result = AuditResult.load(out)
    (vs,) = result.version_sets
    assert vs.status == "ran", vs.error
    assert (vs.versions["kafka"], vs.versions["spark"]) == (KAFKA[0], SPARK[0]), "starts on the old versions"
    (upgrade,) = vs.scenarios
    assert upgrade.valid is True, upgrade.failure_reason
    assert upgrade.lost == upgrade.duplicated == upgrade.unexpected == 0
    assert upgrade.acknowledged <= upgrade.attempted
    # Malformed input classified by the old Spark, then the new one: every reason checked per record.
    assert upgrade.dead_lettered > 0
    assert upgrade.fault_at_s is not None
    assert upgrade.heal_at_s is not None
    assert upgrade.fault_at_s < upgrade.heal_at_s < upgrade.duration_s, "the move is on the timeline"
    assert upgrade.recovery_s is not None
    assert upgrade.timeline, "no sample taken"
    assert upgrade.timeline[-1].counted == upgrade.acknowledged, "the plot ends where the run did"
    moves = "\n".join(upgrade.moves)
    assert any("sent while moving" in line for line in upgrade.moves), moves
    assert f"upgrade kafka {KAFKA[0]} -> {KAFKA[1]} in place: done" in moves
    assert "finalize kafka: kafka-features upgrade --release-version 4.1: " in moves
    assert "FinalizedVersionLevel: 4.1" in moves
    assert f"upgrade spark {SPARK[0]} -> {SPARK[1]} in place: done" in moves
    # The events sent while moving, judged on their own: every one accounted for.
    assert upgrade.in_flight is not None
    assert upgrade.in_flight.valid is True, upgrade.in_flight
    assert upgrade.in_flight.lost == upgrade.in_flight.duplicated == 0
    assert upgrade.in_flight.acknowledged > 0
    assert upgrade.unable_to_write_s is not None

    (control,) = vs.mutants
    assert control.mutant == "upgrade-loses-kafka-log"
    assert control.outcome == "killed", control.failure_reason
    assert control.lost > 0
    assert re.search(r"\blost\b", control.differing_rows), control.differing_rows

    report = markdown(out)
    assert report.startswith("# Tally upgrade audit: VALID")
    assert (
        f"move: upgrade kafka {KAFKA[0]} -> {KAFKA[1]}, then spark {SPARK[0]} -> {SPARK[1]} in place"
        in report
    )
    assert f"| {upgrade.name} | valid |" in report
    assert "| upgrade-loses-kafka-log |" in report

    # What a reviewer opens: the live report, rendered; the screenshot stays with the run.
    page = Page(chromium(out / "report.html", "--dump-dom"))
    assert [t.get("class") for t in page.all("table")].count("verdicts") == 1
    assert [t.get("class") for t in page.all("tr")].count("row-valid") == 1
    plots = [i for i in page.all("img") if (i.get("src") or "").startswith("data:image/png;base64,")]
    assert len(plots) >= 2, "the timeline and the recovery"
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
    print(
        f"upgrade audit: {time.monotonic() - started:.0f} s wall, scenarios "
        + ", ".join(f"{s.name} {s.duration_s:.0f} s" for s in (*vs.mutants, *vs.scenarios))
    )
