"""What an upgrade audit found, as frozen data: the audit runner fills it, the report and compare read it.

`audit.json` is `AuditResult.to_json()`; `AuditResult.from_json` gives back an equal object, so two
audits can be compared long after their stacks are gone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from harness.scenario.profiles import PROFILES, Profile

# Bumped when a field changes meaning: an old audit.json must fail loudly, not compare wrongly.
SCHEMA = 1

Status = Literal["ran", "build-failed", "start-failed"]
# One cell of the kill matrix: what a scenario made of a mutant.
Outcome = Literal["killed", "survived", "not exercised", "unknown"]
STATUSES: tuple[Status, ...] = ("ran", "build-failed", "start-failed")


def evidence(lost: int, duplicated: int, unexpected: int, wrongly_late: int, noun: str = "") -> list[str]:
    """'N lost', 'N duplicated', ... for each kind of evidence there is ('N events lost' with a noun)."""
    kinds = (
        ("lost", lost),
        ("duplicated", duplicated),
        ("unexpected", unexpected),
        ("wrongly late", wrongly_late),
    )
    return [f"{n} {noun}{what}" for what, n in kinds if n]


def _known_fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` as constructor arguments; unknown keys are an error, as a typo would silently drop data."""
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    return dict(data)


@dataclass(frozen=True)
class Sample:
    """One point of a scenario's timeline, taken by the runner while the stream runs."""

    t_s: float  # seconds since the scenario started
    acknowledged: int  # cumulative events the producer has had acknowledged
    counted: int  # events Cassandra accounts for at that moment: counted + dead-lettered + late


@dataclass(frozen=True)
class InFlight:
    """The events an upgrade scenario sent while its components moved, judged on their own by the
    scenario's checker: their sends, and the rows of their windows (harness/audit/in_flight.py).

    `valid` is True, False, or None when the checker could not judge them (see `error`)."""

    valid: bool | None
    attempted: int = 0
    acknowledged: int = 0
    failed: int = 0
    unknown: int = 0  # sends that ended info: they may or may not be in Kafka
    counted: int = 0
    dead_lettered: int = 0
    late: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    misclassified: int = 0  # dead-lettered with another reason than the record's: a parser that changed
    wrongly_late: int = 0
    error: str = ""

    @property
    def verdict(self) -> str:
        return {True: "valid", False: "INVALID", None: "unknown"}[self.valid]


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario on one version set: the verdict, its evidence, and how the stack behaved.

    `valid` is True, False, or None when the checker could not judge. Sequences are stored as tuples
    so the result stays immutable and compares equal after a JSON round trip; lists are accepted.
    """

    name: str
    versions: str  # the version set's label, as the scenario started
    valid: bool | None
    description: str = ""  # the scenario's printed steps
    reason: str = ""  # one line, for a failure
    attempted: int = 0
    acknowledged: int = 0
    counted: int = 0
    dead_lettered: int = 0
    late: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    wrongly_late: int = 0  # late reports the history cannot justify (their events count as lost)
    fault: str | None = None  # e.g. "kill kafka"
    fault_at_s: float | None = None
    heal_at_s: float | None = None
    recovery_s: float | None = None  # from the heal until the counts matched the acknowledged total
    duration_s: float = 0.0
    throughput_eps: float = 0.0  # events counted per second
    differing_rows: str = ""  # the checker's table; empty when valid
    artifacts: Sequence[str] = ()  # saved history and logs
    timeline: Sequence[Sample] = ()
    mutant: str | None = None  # the mutant the scenario ran (harness/scenario/mutants.py), not the pipeline
    # What an upgrade's moves did, in order: each move's time, a refusal with its error.
    moves: Sequence[str] = ()
    # The version set's label the moves left the stack on; empty for a scenario that moved nothing.
    versions_after: str = ""
    # The longest stall around the fault (harness/audit/timeline.py:unable_to_write_s): seconds during
    # which acknowledged events waited and Cassandra accounted for none; None without a fault.
    unable_to_write_s: float | None = None
    # What became of the events sent while an upgrade's components moved; None for other scenarios.
    in_flight: InFlight | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "artifacts", tuple(self.artifacts))
        object.__setattr__(self, "moves", tuple(self.moves))
        object.__setattr__(self, "timeline", tuple(self.timeline))
        # Checked here, not when audit.json is written: the runner sees its bug where it made it.
        for name in (
            "fault_at_s",
            "heal_at_s",
            "recovery_s",
            "duration_s",
            "throughput_eps",
            "unable_to_write_s",
        ):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{self.name}: {name} must be finite, got {value}")

    @property
    def verdict(self) -> str:
        return {True: "valid", False: "INVALID", None: "unknown"}[self.valid]

    @property
    def failure_reason(self) -> str:
        """The runner's one-line reason, or one made from the evidence when it gave none."""
        if self.reason:
            return self.reason
        if self.valid is None:
            return "unknown: the checker could not judge this run"
        return ", ".join(self.evidence("events ")) or "invalid"

    def evidence(self, noun: str = "") -> list[str]:
        return evidence(self.lost, self.duplicated, self.unexpected, self.wrongly_late, noun)

    @property
    def moved(self) -> bool:
        """An upgrade in place (its fault is a move of versions), not a fault with a heal: only a
        move step sets `versions_after`; `moves` may also hold what a fault's steps saw."""
        return bool(self.versions_after)

    @property
    def outcome(self) -> Outcome:
        """For a mutant's run: killed by any invalid verdict, unless the fault never landed (which a
        control that can lose its race says also of an exact verdict)."""
        if "did not land" in self.reason:
            return "not exercised"
        if self.valid is True:
            return "survived"
        if self.valid is None:
            return "unknown"
        return "killed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        args = _known_fields(cls, data)
        args["timeline"] = [Sample(**_known_fields(Sample, s)) for s in args.get("timeline", ())]
        if args.get("in_flight") is not None:
            args["in_flight"] = InFlight(**_known_fields(InFlight, args["in_flight"]))
        return cls(**args)


@dataclass(frozen=True)
class VersionSetResult:
    """The scenarios run on one version set, or why none ran (an image that did not build or start)."""

    versions: Mapping[str, str]  # component -> version
    label: str
    status: Status = "ran"
    error: str | None = None  # the build or start error, reported instead of crashing the audit
    scenarios: Sequence[ScenarioResult] = ()
    mutants: Sequence[ScenarioResult] = ()  # the mutation suite's runs, one per (mutant, scenario)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        object.__setattr__(self, "versions", dict(self.versions))
        object.__setattr__(self, "scenarios", tuple(self.scenarios))
        object.__setattr__(self, "mutants", tuple(self.mutants))

    def kill_matrix(self) -> dict[str, dict[str, ScenarioResult]]:
        """mutant -> scenario -> its run, in the order run."""
        matrix: dict[str, dict[str, ScenarioResult]] = {}
        for run in self.mutants:
            matrix.setdefault(run.mutant or "?", {})[run.name] = run
        return matrix

    @property
    def error_line(self) -> str:
        """The error's first non-blank line: build logs end with the cause but start with the command."""
        lines = [line.strip() for line in (self.error or "").splitlines() if line.strip()]
        return lines[0] if lines else "no error recorded"

    def failures(self) -> list[str]:
        if self.status != "ran":
            return [f"{self.label}: {self.status}: {self.error_line}"]
        if not self.scenarios and not self.mutants:
            return [f"{self.label}: no scenario ran"]
        failed = [
            f"{self.label}: {s.name}: {s.failure_reason}" for s in self.scenarios if s.valid is not True
        ]
        for mutant, runs in self.kill_matrix().items():
            if all(run.outcome != "killed" for run in runs.values()):
                seen = ", ".join(f"{name} {run.outcome}" for name, run in runs.items())
                failed.append(f"{self.label}: mutant {mutant} survived every scenario ({seen})")
        return failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionSetResult:
        args = _known_fields(cls, data)
        args["scenarios"] = [ScenarioResult.from_dict(s) for s in args.get("scenarios", ())]
        args["mutants"] = [ScenarioResult.from_dict(s) for s in args.get("mutants", ())]
        return cls(**args)


@dataclass(frozen=True)
class AuditResult:
    """A whole audit: one version set, or a matrix of them, each with its scenarios."""

    started_at: str  # ISO 8601
    duration_s: float
    seed: int
    profile: Profile
    events: int  # workload size per scenario
    version_sets: Sequence[VersionSetResult] = field(default_factory=tuple)
    # `harness.stack.topology.describe` of the stack the scenarios ran on.
    topology: str = "single"

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        object.__setattr__(self, "version_sets", tuple(self.version_sets))

    @property
    def valid(self) -> bool:
        """True only when every version set ran and every scenario is valid: nothing judged is no pass."""
        return not self.failures()

    def failures(self) -> list[str]:
        """One line per failure, for the exit message and the report's summary."""
        if not self.version_sets:
            return ["no version set was audited"]
        return [line for vs in self.version_sets for line in vs.failures()]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditResult:
        args = dict(data)
        schema = args.pop("schema", None)
        if schema != SCHEMA:
            raise ValueError(f"audit.json schema {schema!r}, this Tally reads schema {SCHEMA}")
        args = _known_fields(cls, args)
        args["version_sets"] = [VersionSetResult.from_dict(v) for v in args.get("version_sets", ())]
        return cls(**args)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> AuditResult:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: Path) -> AuditResult:
        """From an audit.json file, or from an audit's output directory holding one."""
        return cls.from_json((path / "audit.json" if path.is_dir() else path).read_text(encoding="utf-8"))
