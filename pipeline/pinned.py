"""Settings that change results are pinned to the checkpoint: a start with another value is refused.

Spark accepts a checkpoint under a new window, lateness or byte limit and carries on: the window
counts kept with it would then mix two definitions (1-minute rows overwritten by 5-minute ones
sharing a start), and a batch replayed under a new limit classifies a record both ways. Tally
writes these settings into the checkpoint at its first start and compares them at every later one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from pyspark.sql import SparkSession

from pipeline.checkpoint import create_text, read_text
from pipeline.config import PipelineConfig

FILE = "tally-settings.json"
# Every setting that changes which rows are written; option name -> its value in the config.
PINNED: dict[str, Callable[[PipelineConfig], object]] = {
    "--job": lambda c: c.job,
    "--topic": lambda c: c.topic,
    "--window": lambda c: c.window,
    "--allowed-lateness": lambda c: c.allowed_lateness,
    "--dedup": lambda c: c.dedup,
    "--max-event-bytes": lambda c: c.max_event_bytes,
    "--dead-letter-copy-bytes": lambda c: c.dead_letter_copy_bytes,
    "--max-event-time-ahead": lambda c: c.max_event_time_ahead,
    "--kafka-isolation-level": lambda c: c.kafka_isolation_level,
}


class SettingsChanged(ValueError):
    """A pinned setting differs from the one the checkpoint was built with."""


def pinned(config: PipelineConfig) -> dict[str, object]:
    return {option: value(config) for option, value in PINNED.items()}


def compare(recorded: Mapping[str, object], config: PipelineConfig) -> None:
    """Raise naming each setting that changed, its old and new value, and the two ways out."""
    now = pinned(config)
    changed = [
        f"{option}: the checkpoint was built with {recorded[option]!r}, this start asks for {now[option]!r}"
        for option in PINNED
        if option in recorded and recorded[option] != now[option]
    ]
    if changed:
        raise SettingsChanged(
            f"settings pinned to checkpoint {config.checkpoint} changed:\n  "
            + "\n  ".join(changed)
            + "\nRun with the recorded values: changing them needs a new checkpoint."
        )


def encode(config: PipelineConfig) -> str:
    return json.dumps(pinned(config), indent=1, sort_keys=True) + "\n"


def decode(text: str) -> dict[str, object]:
    recorded = json.loads(text)
    if not isinstance(recorded, dict):
        raise ValueError(f"{FILE} holds {type(recorded).__name__}, not an object of settings")
    return recorded


def pin(spark: SparkSession, config: PipelineConfig) -> None:
    """Record the settings at a checkpoint's first start; at any later start, refuse changed ones."""
    recorded = read_text(spark, config.checkpoint, FILE)
    if recorded is None:
        try:
            create_text(spark, config.checkpoint, FILE, encode(config))
            return
        except Exception:  # another driver created it first: compare with what it recorded
            recorded = read_text(spark, config.checkpoint, FILE)
            if recorded is None:
                raise
    compare(decode(recorded), config)
