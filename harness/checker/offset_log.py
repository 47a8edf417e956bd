"""Reads Spark's offset log from a checkpoint directory: what each micro-batch read, per partition.

`offsets/N` is written by Spark before batch N runs (line 1 the log version, line 2 the batch's
metadata, then one JSON line of end offsets per source); it is Spark's record, not the sink's, so
the checker can hold the sink's claims about batches against it. Spark keeps only the last
`minBatchesToRetain` (100) entries; older batches are simply absent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from harness.model.snapshot import BatchKey, TopicPartition


def _offsets(line: str) -> dict[TopicPartition, int]:
    source = json.loads(line) if line.strip() not in ("", "-") else None
    if not isinstance(source, dict):
        return {}
    return {(topic, int(p)): int(o) for topic, partitions in source.items() for p, o in partitions.items()}


def batch_end_offsets(checkpoint: Path) -> dict[int, dict[TopicPartition, int]]:
    """Batch id -> end offset per (topic, partition) of every entry still in the log."""
    log = checkpoint / "offsets"
    if not log.is_dir():
        return {}
    batches: dict[int, dict[TopicPartition, int]] = {}
    for entry in log.iterdir():
        # Spark writes each entry to a temporary file and renames it: only the numbered names count.
        if not entry.name.isdigit():
            continue
        ends: dict[TopicPartition, int] = {}
        for line in entry.read_text(encoding="utf-8").splitlines()[2:]:
            ends.update(_offsets(line))
        batches[int(entry.name)] = ends
    return batches


def start_offsets(checkpoint: Path) -> dict[TopicPartition, int]:
    """Where the query's first batch started reading, as the Kafka source recorded it (`sources/0/0`,
    a zero byte, the version line, the offsets); empty before the first batch was planned."""
    initial = checkpoint / "sources" / "0" / "0"
    if not initial.is_file():
        return {}
    lines = initial.read_text(encoding="utf-8").lstrip("\x00").splitlines()
    return _offsets(lines[1]) if len(lines) > 1 else {}


def generations_offsets(checkpoints: Mapping[int, Path]) -> dict[BatchKey, dict[TopicPartition, int]]:
    """(generation, batch) -> end offsets of every generation's checkpoint, and (generation, -1) ->
    where it started."""
    offsets: dict[BatchKey, dict[TopicPartition, int]] = {}
    for generation, checkpoint in checkpoints.items():
        offsets.update({(generation, b): ends for b, ends in batch_end_offsets(checkpoint).items()})
        started = start_offsets(checkpoint)
        if started:
            offsets[(generation, -1)] = started
    return offsets
