"""Shared by the report, compare and render tests: one fixed audit (the golden report's input) and a
Hypothesis strategy for any audit the model allows."""

from __future__ import annotations

from hypothesis import strategies as st

from harness.audit.model import AuditResult, InFlight, Sample, ScenarioResult, VersionSetResult

DEFAULT_LABEL = "spark-4.0.0 kafka-4.1.1 cassandra-5.0.6"
OLD_SPARK_LABEL = "spark-3.5.3 kafka-4.1.1 cassandra-5.0.6"

DIFFERING_ROWS = """\
site_id   window_start          acknowledged  counted  lost  duplicated
site-003  2026-01-01T00:01:00Z  41            35       6     0      <-
site-017  2026-01-01T00:02:00Z  12            6        6     0      <-"""

KAFKA_KILLED_STEPS = """\
scenario kafka-killed (seed 7):
    1. produce 2000 events, 20 sites, seed 7, malformed 0.02
    2. start a driver from the checkpoint
    3. wait until the stream has committed some input
=>  4. inject: kill kafka
    5. heal: kill kafka
    6. check Cassandra against the ledger: expect exact"""


def ramp(
    acknowledged: int, lag_s: float, until_s: float, stall: tuple[float, float] | None = None, lost: int = 0
) -> list[Sample]:
    """A timeline where counting follows acknowledging `lag_s` behind, flat during `stall`, `lost` short."""
    samples = []
    for step in range(int(until_s) + 1):
        t = float(step)
        acked = min(acknowledged, int(acknowledged * t / (until_s * 0.6)))
        counted_t = t - lag_s
        if stall and stall[0] <= counted_t <= stall[1]:
            counted_t = stall[0]
        counted = max(0, min(acked, int(acknowledged * counted_t / (until_s * 0.6)), acknowledged - lost))
        samples.append(Sample(t, acked, counted))
    return samples


def fixed_audit() -> AuditResult:
    """A valid scenario, a valid one with a fault, an invalid one with differing rows, and a version
    set whose images did not build: everything the report has to show."""
    normal = ScenarioResult(
        name="normal-flow",
        versions=DEFAULT_LABEL,
        valid=True,
        description="scenario normal-flow (seed 7):\n    1. produce 2000 events\n    2. check",
        attempted=2000,
        acknowledged=2000,
        counted=1940,
        dead_lettered=40,
        late=20,
        duration_s=31.5,
        throughput_eps=61.6,
        timeline=ramp(2000, 2, 30),
    )
    paused = ScenarioResult(
        name="cassandra-paused",
        versions=DEFAULT_LABEL,
        valid=True,
        attempted=2000,
        acknowledged=2000,
        counted=1960,
        dead_lettered=40,
        fault="pause cassandra",
        fault_at_s=10.0,
        heal_at_s=18.0,
        recovery_s=4.5,
        unable_to_write_s=9.0,
        duration_s=40.0,
        throughput_eps=49.0,
        artifacts=[".tally/audit/x/cassandra-paused/history.jsonl"],
        timeline=ramp(2000, 2, 40, stall=(10, 18)),
    )
    killed = ScenarioResult(
        name="kafka-killed",
        versions=DEFAULT_LABEL,
        valid=False,
        reason="12 events lost",
        description=KAFKA_KILLED_STEPS,
        attempted=2000,
        acknowledged=2000,
        counted=1948,
        dead_lettered=40,
        lost=12,
        fault="kill kafka",
        fault_at_s=12.0,
        heal_at_s=27.5,
        unable_to_write_s=19.0,
        duration_s=55.25,
        throughput_eps=35.3,
        differing_rows=DIFFERING_ROWS,
        artifacts=[
            ".tally/audit/x/kafka-killed/history.jsonl",
            ".tally/audit/x/kafka-killed/driver-1.log",
        ],
        timeline=ramp(2000, 3, 55, stall=(12, 27.5), lost=60),
    )
    return AuditResult(
        started_at="2026-01-01T00:00:00+00:00",
        duration_s=412.5,
        seed=7,
        profile="quick",
        events=2000,
        version_sets=[
            VersionSetResult(
                versions={"spark": "4.0.0", "kafka": "4.1.1", "cassandra": "5.0.6", "connector": "4.0.0"},
                label=DEFAULT_LABEL,
                scenarios=[normal, paused, killed],
            ),
            VersionSetResult(
                versions={"spark": "3.5.3", "kafka": "4.1.1", "cassandra": "5.0.6", "connector": "3.5.3"},
                label=OLD_SPARK_LABEL,
                status="build-failed",
                error="docker build tally/spark:3.5.3 failed\n"
                "ERROR: no matching distribution for pyspark==3.5.3",
            ),
        ],
    )


UPGRADE_LABEL = "spark-3.5.7 kafka-3.9.1 cassandra-5.0.6"
UPGRADED_LABEL = "spark-4.0.0 kafka-4.1.1 cassandra-5.0.6"
UPGRADE = "upgrade-kafka-3.9.1-4.1.1-spark-3.5.7-4.0.0"

UPGRADE_STEPS = """\
scenario upgrade-kafka-3.9.1-4.1.1-spark-3.5.7-4.0.0 (seed 7):
    1. produce 2000 events, 50 sites, seed 7, malformed 0.01
    2. start a driver from the checkpoint
    3. wait until the stream has consumed every offset
    4. keep producing in the background (100 events/s, event time from minute 4)
=>  5. upgrade kafka 3.9.1 -> 4.1.1 in place
    6. ensure a driver runs
    7. finalize kafka: kafka-features upgrade --release-version 4.1
    8. stop the driver
    9. upgrade spark 3.5.7 -> 4.0.0 in place
   10. start a driver from the checkpoint
   11. stop the background producer (every send it made is in the history: ok, fail or info)
   12. check Cassandra against the ledger: expect exact"""

UPGRADE_MOVES = (
    "upgrade kafka 3.9.1 -> 4.1.1 in place: done in 4.2 s",
    "finalize kafka: kafka-features upgrade --release-version 4.1: Feature: metadata.version "
    "SupportedMinVersion: 3.3-IV3 SupportedMaxVersion: 4.1-IV1 FinalizedVersionLevel: 4.1-IV1",
    "upgrade spark 3.5.7 -> 4.0.0 in place: done in 5.1 s",
    "2370 sent while moving: 2370 acknowledged, 0 failed, 0 unknown",
)


def upgrade_scenario() -> ScenarioResult:
    """An upgrade under load: Kafka, then Spark, moved in place between 34 and 58 s, with the events
    sent meanwhile judged on their own."""
    return ScenarioResult(
        name=UPGRADE,
        versions=UPGRADE_LABEL,
        valid=True,
        description=UPGRADE_STEPS,
        attempted=5370,
        acknowledged=5370,
        counted=5310,
        dead_lettered=60,
        fault="upgrade kafka 3.9.1 -> 4.1.1, then spark 3.5.7 -> 4.0.0 in place",
        fault_at_s=34.0,
        heal_at_s=58.0,
        recovery_s=3.5,
        unable_to_write_s=10.0,
        duration_s=104.0,
        throughput_eps=51.1,
        timeline=ramp(5370, 2, 100, stall=(36, 45)),
        moves=UPGRADE_MOVES,
        versions_after=UPGRADED_LABEL,
        in_flight=InFlight(
            valid=True,
            attempted=2370,
            acknowledged=2370,
            counted=2346,
            dead_lettered=24,
        ),
    )


def upgrade_audit(scenario: ScenarioResult | None = None) -> AuditResult:
    """An audit of one upgrade scenario (by default `upgrade_scenario()`), on the version set it
    started from: the golden transition report's input."""
    return AuditResult(
        started_at="2026-12-01T00:00:00+00:00",
        duration_s=282.0,
        seed=7,
        profile="quick",
        events=2000,
        version_sets=[
            VersionSetResult(
                versions={"spark": "3.5.7", "kafka": "3.9.1", "cassandra": "5.0.6", "connector": "3.5.7"},
                label=UPGRADE_LABEL,
                scenarios=[scenario or upgrade_scenario()],
            )
        ],
    )


texts = st.text(max_size=20)
counts = st.integers(0, 10**9)
finite = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
samples = st.builds(Sample, t_s=finite, acknowledged=counts, counted=counts)
in_flights = st.builds(
    InFlight,
    valid=st.sampled_from([True, False, None]),
    attempted=counts,
    acknowledged=counts,
    failed=counts,
    unknown=counts,
    counted=counts,
    dead_lettered=counts,
    late=counts,
    lost=counts,
    duplicated=counts,
    unexpected=counts,
    misclassified=counts,
    wrongly_late=counts,
    error=texts,
)
scenarios = st.builds(
    ScenarioResult,
    name=texts,
    versions=texts,
    valid=st.sampled_from([True, False, None]),
    description=texts,
    reason=texts,
    attempted=counts,
    acknowledged=counts,
    counted=counts,
    dead_lettered=counts,
    late=counts,
    lost=counts,
    duplicated=counts,
    unexpected=counts,
    fault=st.none() | texts,
    fault_at_s=st.none() | finite,
    heal_at_s=st.none() | finite,
    recovery_s=st.none() | finite,
    duration_s=finite,
    throughput_eps=finite,
    differing_rows=texts,
    artifacts=st.lists(texts, max_size=3),
    timeline=st.lists(samples, max_size=5),
    moves=st.lists(texts, max_size=3),
    versions_after=texts,
    unable_to_write_s=st.none() | finite,
    in_flight=st.none() | in_flights,
)
version_sets = st.builds(
    VersionSetResult,
    versions=st.dictionaries(texts, texts, max_size=4),
    label=texts,
    status=st.sampled_from(["ran", "build-failed", "start-failed"]),
    error=st.none() | texts,
    scenarios=st.lists(scenarios, max_size=3),
)
audits = st.builds(
    AuditResult,
    started_at=texts,
    duration_s=finite,
    seed=st.integers(-(2**63), 2**63),
    profile=st.sampled_from(["quick", "deep"]),
    events=counts,
    version_sets=st.lists(version_sets, max_size=3),
)
