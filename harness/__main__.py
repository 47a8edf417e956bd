"""Command line of the harness: `images` builds the stack's images, `audit` runs the main job,
`audit compare OLD NEW` puts two audits side by side."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import subprocess
import sys
from pathlib import Path

from harness.logs import configure
from harness.stack.versions import Versions

log = logging.getLogger("harness")


def ensure_pyspark(versions: Versions) -> None:
    """Install the pinned pyspark into this interpreter if it has another (or none)."""
    try:
        installed = importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != versions.spark:
        log.info("pip install pyspark==%s (found %s)", versions.spark, installed)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", f"pyspark=={versions.spark}"], check=True
        )


def compare(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness audit compare", description="two audits side by side, changes flagged"
    )
    parser.add_argument("old", type=Path, help="an audit directory or its audit.json")
    parser.add_argument("new", type=Path, help="an audit directory or its audit.json")
    parser.add_argument("--out", type=Path, help="where compare.md/html go (default: beside NEW)")
    args = parser.parse_args(argv)
    from harness.audit.compare import main_compare

    return main_compare(args.old, args.new, args.out)


def main(argv: list[str] | None = None) -> int:
    configure()
    argv = sys.argv[1:] if argv is None else argv
    # A sub-command of `audit` whose options would clash with the audit's own.
    if argv[:2] == ["audit", "compare"]:
        return compare(argv[2:])
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    images = commands.add_parser("images", help="build the images of a version set (skips existing ones)")
    Versions.add_arguments(images)
    pyspark = commands.add_parser("pyspark", help="install the pinned pyspark here (unit tests, drivers)")
    Versions.add_arguments(pyspark)
    audit = commands.add_parser(
        "audit",
        help="run the scenario catalogue on version sets and write the report (`audit compare OLD NEW`)",
    )
    from harness.audit.run import add_arguments, options, run

    add_arguments(audit)
    args = parser.parse_args(argv)
    versions = Versions.from_env().with_arguments(args)
    if args.command == "images":
        from harness.stack.images import ensure_images

        ensure_images(versions)
        return 0
    if args.command == "pyspark":
        ensure_pyspark(versions)
        return 0
    try:
        opts = options(args)
    except ValueError as error:
        parser.error(str(error))
    return run(opts)


def audit_main() -> int:
    """The `tally-audit` console script: `python -m harness audit` with the same options."""
    return main(["audit", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
