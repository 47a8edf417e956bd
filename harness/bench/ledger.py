"""What the generator knows was acknowledged, per (site, window), and how a sink's counts compare.

A 5-million-event benchmark cannot keep a line per send; per (site, window) counts are enough to
prove that every acknowledged event was counted once. Sends that ended in a delivery error are
indeterminate (the record may be in the log), so a row may hold anything in [acked, acked + failed]:
the checker's bound (`harness.checker.verdict.check_counts`), the same as the audit's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.checker.verdict import RowEvidence, check_counts
from harness.model.snapshot import RowKey

DIFF_LIMIT = 20


def record_key(site_id: str, window_start_ms: int) -> str:
    """The Kafka key the generator gives a record: its row, so a delivery report names the row."""
    return f"{site_id}|{window_start_ms}"


def row_of_key(key: bytes | str) -> RowKey:
    text = key.decode() if isinstance(key, bytes) else key
    site, _, window = text.rpartition("|")
    if not site or not window.lstrip("-").isdigit():
        raise ValueError(f"not a benchmark record key: {text!r}")
    return (site, int(window))


@dataclass
class Ledger:
    acked: Counter[RowKey] = field(default_factory=Counter)
    # Delivery errors: the record may or may not be in the log.
    failed: Counter[RowKey] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.acked.values())

    @property
    def indeterminate(self) -> int:
        return sum(self.failed.values())

    def add(self, other: Ledger) -> None:
        self.acked.update(other.acked)
        self.failed.update(other.failed)

    @classmethod
    def from_keys(cls, acked: Mapping[str, int], failed: Mapping[str, int] | None = None) -> Ledger:
        """From counts per record key, as the generator processes report them."""
        ledger = cls()
        for key, n in acked.items():
            ledger.acked[row_of_key(key)] += n
        for key, n in (failed or {}).items():
            ledger.failed[row_of_key(key)] += n
        return ledger


@dataclass(frozen=True)
class Exactness:
    """`exact` is True when every row is within its expected range and no other row exists."""

    exact: bool
    rows: int
    acknowledged: int
    counted: int
    lost: int
    duplicated: int
    unexpected: int
    differing: tuple[RowEvidence, ...] = ()  # the first DIFF_LIMIT of them

    def explain(self) -> str:
        head = (
            f"{'EXACT' if self.exact else 'NOT EXACT'}: counted {self.counted:,} of {self.acknowledged:,} "
            f"acknowledged over {self.rows} rows (lost {self.lost}, duplicated {self.duplicated}, "
            f"unexpected {self.unexpected})"
        )
        lines = [head] + [
            f"  {d.site_id} @ {d.window_start_ms}: expected {d.expected_min}"
            + (f"..{d.expected_max}" if d.expected_max != d.expected_min else "")
            + f", counted {d.counted}"
            for d in self.differing
        ]
        return "\n".join(lines)


def compare(ledger: Ledger, counted: Mapping[RowKey, int], limit: int = DIFF_LIMIT) -> Exactness:
    """Judge a sink's counts against the ledger (pure)."""
    differing = check_counts(ledger.acked, ledger.failed, counted)
    lost = sum(d.lost for d in differing)
    duplicated = sum(d.duplicated for d in differing)
    unexpected = sum(d.unexpected for d in differing)
    return Exactness(
        exact=not (lost or duplicated or unexpected),
        rows=len(counted),
        acknowledged=ledger.total,
        counted=sum(counted.values()),
        lost=lost,
        duplicated=duplicated,
        unexpected=unexpected,
        differing=tuple(differing[:limit]),
    )
