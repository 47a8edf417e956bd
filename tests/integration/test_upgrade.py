"""Upgrades in place, end to end as a user runs them: `audit --upgrade kafka=3.9.1:4.1.1 --upgrade
spark=3.5.7:4.0.0` on one stack started on the old versions. Kafka's broker moves on its own log
under load and is finalized, Spark's master, worker and driver move on the same checkpoint, a crash
follows on the new versions: exact. Kafka's rollback before finalizing is exact too, the one after
it is refused as Kafka documents (the metadata downgrade, then the old broker on the finalized log)
and the counts stay exact; Spark 3.5.7 reads the checkpoint 4.0.0 wrote; and a broker that comes
back on empty storage is caught (lost)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from test_audit import audit, markdown, tail

from harness.audit.model import AuditResult

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KAFKA = ("3.9.1", "4.1.1")
SPARK = ("3.5.7", "4.0.0")


@pytest.fixture
def out() -> Path:
    # Not pytest's tmp_path: the report and the failed scenarios' artifacts must outlive the run.
    return REPO / ".tally" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-upgrade"


def test_kafka_and_spark_upgrades_in_place_under_load_are_exact(out: Path) -> None:
    started = time.monotonic()
    code, log = audit(
        out, "--upgrade", "kafka={}:{}".format(*KAFKA), "--upgrade", "spark={}:{}".format(*SPARK)
    )
    assert code == 0, tail(log)
    result = AuditResult.load(out)
    (vs,) = result.version_sets
    assert vs.status == "ran", vs.error
    assert (vs.versions["kafka"], vs.versions["spark"]) == (KAFKA[0], SPARK[0]), "starts on the old versions"
    before, upgrade, after, spark_back = vs.scenarios
    for s in vs.scenarios:
        assert s.valid is True, s.failure_reason
        assert s.lost == s.duplicated == s.unexpected == 0
        assert s.acknowledged <= s.attempted
        assert s.fault_at_s is not None
        assert s.heal_at_s is not None
        assert s.fault_at_s < s.heal_at_s < s.duration_s, "the move is on the timeline"
        assert any("sent while moving" in line for line in s.moves), s.moves

    moves = "\n".join(upgrade.moves)
    assert f"upgrade kafka {KAFKA[0]} -> {KAFKA[1]} in place: done" in moves
    assert "finalize kafka: kafka-features upgrade --release-version 4.1: " in moves
    assert "FinalizedVersionLevel: 4.1" in moves
    assert f"upgrade spark {SPARK[0]} -> {SPARK[1]} in place: done" in moves
    assert [line.split(":")[0] for line in before.moves if "in place" in line] == [
        f"upgrade kafka {KAFKA[0]} -> {KAFKA[1]} in place",
        f"upgrade kafka {KAFKA[1]} -> {KAFKA[0]} in place",
    ]
    refused = "\n".join(after.moves)
    assert "metadata downgrade to 3.9: refused" in refused, refused
    assert f"roll back kafka {KAFKA[1]} -> {KAFKA[0]} in place: refused" in refused, refused
    assert f"{KAFKA[1]} started again on the same data" in refused, refused
    assert "the older Spark runs on the newer checkpoint" in "\n".join(spark_back.moves), spark_back.moves

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
    print(
        f"upgrade audit: {time.monotonic() - started:.0f} s wall, scenarios "
        + ", ".join(f"{s.name} {s.duration_s:.0f} s" for s in (*vs.mutants, *vs.scenarios))
    )
