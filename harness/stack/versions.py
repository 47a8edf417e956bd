"""The one place where component versions are declared; everything else asks this module."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

ENV_PREFIX = "TALLY_"


@dataclass(frozen=True)
class Versions:
    """A version set of the stack. Override any field with TALLY_<FIELD> or --<field> options."""

    spark: str = "4.0.0"
    kafka: str = "4.1.1"
    cassandra: str = "5.0.6"
    # Empty means "the same as spark", which is what a real deployment uses.
    connector: str = ""
    cassandra_driver: str = "3.30.1"

    @property
    def spark_kafka_connector(self) -> str:
        return self.connector or self.spark

    def label(self) -> str:
        return f"spark-{self.spark} kafka-{self.kafka} cassandra-{self.cassandra}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Versions:
        overrides = {
            f.name: environ[ENV_PREFIX + f.name.upper()]
            for f in fields(cls)
            if environ.get(ENV_PREFIX + f.name.upper())
        }
        return cls(**overrides)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for f in fields(cls):
            parser.add_argument(
                f"--{f.name.replace('_', '-')}-version",
                dest=f"{f.name}_version",
                metavar="V",
                help=f"{f.name} version (default {f.default!r}; env {ENV_PREFIX}{f.name.upper()})",
            )

    def with_arguments(self, args: argparse.Namespace) -> Versions:
        chosen = {
            f.name: getattr(args, f"{f.name}_version")
            for f in fields(self)
            if getattr(args, f"{f.name}_version", None)
        }
        return replace(self, **chosen)


# The oldest release of each component the audit covers, the one a team upgrades from: the upgrade
# audit's paths (`audit --upgrade` without a value, and the deep profile) lead from these to the
# defaults, one component after another in this order.
OLDEST: Mapping[str, str] = {"kafka": "3.9.1", "cassandra": "4.1.10", "spark": "3.5.7"}


def upgrade_paths(to: Versions | None = None) -> tuple[str, ...]:
    """`COMPONENT=OLD:NEW` for each component, from its oldest release to `to`'s (the defaults)."""
    to = to or Versions()
    return tuple(f"{component}={old}:{getattr(to, component)}" for component, old in OLDEST.items())
