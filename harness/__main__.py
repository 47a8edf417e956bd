"""Command line of the harness: `images` builds the stack's images, `audit` runs the main job."""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys

from harness.versions import Versions


def ensure_pyspark(versions: Versions) -> None:
    """Install the pinned pyspark into this interpreter if it has another (or none)."""
    try:
        installed = importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != versions.spark:
        print(f"[harness] pip install pyspark=={versions.spark} (found {installed})", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", f"pyspark=={versions.spark}"], check=True
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    images = commands.add_parser("images", help="build the images of a version set (skips existing ones)")
    Versions.add_arguments(images)
    pyspark = commands.add_parser("pyspark", help="install the pinned pyspark here (unit tests, drivers)")
    Versions.add_arguments(pyspark)
    audit = commands.add_parser("audit", help="run the main job and print the verdict")
    from harness.audit import add_arguments, options, run

    add_arguments(audit)
    args = parser.parse_args(argv)
    versions = Versions.from_env().with_arguments(args)
    if args.command == "images":
        from harness.images import ensure_images

        ensure_images(versions)
        return 0
    if args.command == "pyspark":
        ensure_pyspark(versions)
        return 0
    return run(options(args))


if __name__ == "__main__":
    sys.exit(main())
