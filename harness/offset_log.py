"""Reads Spark's offset log from a checkpoint directory: what each micro-batch read, per partition.

`offsets/N` is written by Spark before batch N runs (line 1 the log version, line 2 the batch's
metadata, then one JSON line of end offsets per source); it is Spark's record, not the sink's, so
the checker can hold the sink's claims about batches against it. Spark keeps only the last
`minBatchesToRetain` (100) entries; older batches are simply absent.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.snapshot import TopicPartition


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
            source = json.loads(line) if line.strip() not in ("", "-") else None
            if isinstance(source, dict):
                for topic, partitions in source.items():
                    ends.update({(topic, int(p)): int(o) for p, o in partitions.items()})
        batches[int(entry.name)] = ends
    return batches
