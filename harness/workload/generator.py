"""Seeded workloads: the records a test sends, each labelled with what the pipeline should do."""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.model import events
from harness.model.events import Expected, PageView


@dataclass(frozen=True)
class WorkloadSpec:
    seed: int
    events: int
    sites: int = 10
    # Site i gets weight 1/(i+1)**zipf_s, so site-000 is the hottest key.
    zipf_s: float = 1.1
    start_ms: int = 1_700_000_000_000
    spread_ms: int = 5 * 60_000
    disorder_ms: int = 1_000
    malformed_fraction: float = 0.0
    extra_fields_fraction: float = 0.1
    max_event_bytes: int = 64 * 1024
    # An at-least-once producer after a timeout: this share of the records is sent once more,
    # byte for byte (same event_id, ts, payload), after 1..resend_delay_records later records.
    resend_fraction: float = 0.0
    resend_delay_records: int = 200
    # A clock gone wrong: this share of the events is dated decades ahead (a `future_ts` dead letter).
    future_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.events < 0 or self.sites < 1:
            raise ValueError(f"need events >= 0 and sites >= 1: {self}")
        if self.spread_ms < 0 or self.disorder_ms < 0:
            raise ValueError(f"spread_ms and disorder_ms must be >= 0: {self}")
        if self.resend_delay_records < 1:
            raise ValueError(f"resend_delay_records must be >= 1: {self}")
        for name in ("malformed_fraction", "extra_fields_fraction", "resend_fraction", "future_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]: {self}")


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    expected: Expected


def site_name(i: int) -> str:
    return f"site-{i:03d}"


def generate(spec: WorkloadSpec) -> Iterator[Record]:
    """Yield `spec.events` records, then the re-sent copies; the same spec always yields the same."""
    originals = _originals(spec)
    if spec.resend_fraction == 0:
        return originals
    return with_resends(originals, spec.resend_fraction, spec.resend_delay_records, spec.seed)


def with_resends(records: Iterable[Record], fraction: float, delay: int, seed: int) -> Iterator[Record]:
    """Each record, and for a seeded `fraction` of them a second copy 1..`delay` records later."""
    # Its own generator, so the originals stay those of the same spec without re-sends.
    rng = random.Random(f"resend-{seed}")
    due: list[tuple[int, int, Record]] = []  # (position to send at, tie-break, copy)
    position = 0
    for n, record in enumerate(records):
        while due and due[0][0] <= position:
            yield heapq.heappop(due)[2]
            position += 1
        yield record
        position += 1
        if rng.random() < fraction:
            heapq.heappush(due, (position + rng.randint(1, delay), n, record))
    while due:
        yield heapq.heappop(due)[2]


def _originals(spec: WorkloadSpec) -> Iterator[Record]:
    rng = random.Random(spec.seed)
    cumulative = list(itertools.accumulate(1.0 / (i + 1) ** spec.zipf_s for i in range(spec.sites)))
    malformations = _MalformationCycle(rng)
    for n in range(spec.events):
        site = site_name(min(bisect.bisect(cumulative, rng.random() * cumulative[-1]), spec.sites - 1))
        # Ascending base times with bounded backwards jitter: realistic, mostly ordered disorder.
        base = spec.start_ms + (n * spec.spread_ms) // max(spec.events, 1)
        view = PageView(
            event_id=f"{spec.seed}-{n}",
            site_id=site,
            page=f"/page/{rng.randrange(100)}",
            ts_ms=base - rng.randint(0, spec.disorder_ms),
        )
        if rng.random() < spec.malformed_fraction:
            yield malformations.next()(view, rng, spec)
        elif spec.future_fraction and rng.random() < spec.future_fraction:
            yield _ts_in_the_future(view, rng, spec)
        else:
            body = view.to_dict()
            if rng.random() < spec.extra_fields_fraction:
                # Unknown fields must be ignored, not rejected.
                body |= {"referrer": "https://example.com/", "ua": {"mobile": rng.random() < 0.5}}
            yield Record(site.encode(), _dumps(body), Expected.valid(view))


Malform = Callable[[PageView, random.Random, WorkloadSpec], Record]


class _MalformationCycle:
    """Each malformation once per seeded shuffled round, so enough bad records cover them all."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._round: list[Malform] = []

    def next(self) -> Malform:
        if not self._round:
            self._round = list(MALFORMATIONS)
            self._rng.shuffle(self._round)
        return self._round.pop()


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _dead(view: PageView, value: bytes | None, reason: str, *, keyed: bool = True) -> Record:
    key = view.site_id.encode() if keyed else None
    return Record(key, value, Expected.dead(reason, view.event_id))


def _empty(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    # None is a Kafka null value (a tombstone), b"" a zero-length one.
    return _dead(view, rng.choice([None, b""]), events.EMPTY_VALUE)


def _not_json(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    event = view.to_json_bytes()
    # Single quotes: lenient parsers (Spark's default allowSingleQuotes) would count this one.
    value = rng.choice([b"not json at all", event[: -rng.randint(1, 8)], event.replace(b'"', b"'")])
    return _dead(view, value, events.INVALID_JSON, keyed=False)


def _invalid_utf8(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    # The first variant is a well-formed event apart from its bytes: a decoder that
    # substitutes U+FFFD instead of rejecting would count it.
    bad_page = view.to_json_bytes().replace(view.page.encode(), view.page.encode() + b"\xff\xfe")
    value = rng.choice([bad_page, b"\xc3\x28", b'{"event_id":"\xed\xa0\x80"}'])
    return _dead(view, value, events.INVALID_UTF8, keyed=False)


def _not_object(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    # An array holding a valid event must not be unwrapped into a count.
    value = rng.choice([b"[1,2]", b'"x"', b"42", b"null", _dumps([view.to_dict()])])
    return _dead(view, value, events.INVALID_JSON, keyed=False)


def _without(view: PageView, field: str) -> dict[str, Any]:
    body = view.to_dict()
    del body[field]
    return body


def _missing_site_id(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    return _dead(view, _dumps(_without(view, "site_id")), events.MISSING_SITE_ID)


def _blank_site_id(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    body = view.to_dict() | {"site_id": rng.choice(["", "   ", None])}
    return _dead(view, _dumps(body), events.MISSING_SITE_ID)


def _missing_event_id(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    return _dead(view, _dumps(_without(view, "event_id")), events.MISSING_EVENT_ID)


def _ts_not_integer(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    body = view.to_dict() | {"ts": "yesterday"}
    return _dead(view, _dumps(body), events.INVALID_TS)


def _ts_missing(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    return _dead(view, _dumps(_without(view, "ts")), events.INVALID_TS)


# 2100-01-01T00:00:00Z: a clock gone wrong by decades, far past any batch's time plus the allowed skew.
FAR_FUTURE_MS = 4_102_444_800_000


def _ts_in_the_future(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    # Otherwise valid: counted, it would take the watermark to 2100 and every later event with it.
    body = view.to_dict() | {"ts": FAR_FUTURE_MS + rng.randrange(86_400_000)}
    return _dead(view, _dumps(body), events.FUTURE_TS)


def _oversized(view: PageView, rng: random.Random, spec: WorkloadSpec) -> Record:
    # Otherwise valid, so only the size limit keeps it out of the counts.
    padding = spec.max_event_bytes - len(view.to_json_bytes()) + 1 + rng.randrange(64)
    body = view.to_dict() | {"page": view.page + "x" * max(padding, 1)}
    return _dead(view, _dumps(body), events.OVERSIZED)


MALFORMATIONS: tuple[Malform, ...] = (
    _empty,
    _not_json,
    _invalid_utf8,
    _not_object,
    _missing_site_id,
    _blank_site_id,
    _missing_event_id,
    _ts_not_integer,
    _ts_missing,
    _ts_in_the_future,
    _oversized,
)
