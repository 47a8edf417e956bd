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
