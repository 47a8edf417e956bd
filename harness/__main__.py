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


def main(argv: list[str] | None = None) -> int:
    configure()
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    images = commands.add_parser("images", help="build the images of a version set (skips existing ones)")
    Versions.add_arguments(images)
    pyspark = commands.add_parser("pyspark", help="install the pinned pyspark here (unit tests, drivers)")
    Versions.add_arguments(pyspark)
    audit = commands.add_parser(
        "audit",
        help="run the scenario catalogue (or the mutation suite) on version sets and write the report; "
        "`audit compare OLD NEW` puts two audits side by side",
        description="Run the scenario catalogue, or with --mutants the mutation suite, on one version "
        "set or a matrix of them, and write report.md, report.html, junit.xml and audit.json.",
    )
    from harness.audit.run import add_arguments, options, run

    add_arguments(audit)
    then = audit.add_subparsers(dest="audit_command", metavar="{compare}")
    compare = then.add_parser("compare", help="two audits side by side, changes flagged")
    compare.add_argument("old", type=Path, help="an audit directory or its audit.json")
    compare.add_argument("new", type=Path, help="an audit directory or its audit.json")
    compare.add_argument(
        "--out", dest="compare_out", type=Path, help="where compare.md/html go (default: beside NEW)"
    )
    args = parser.parse_args(argv)
    if args.command == "audit" and args.audit_command == "compare":
        from harness.audit.compare import main_compare

        return main_compare(args.old, args.new, args.compare_out)
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
