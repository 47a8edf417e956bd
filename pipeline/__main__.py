"""`python -m pipeline run ...`: the streaming job (see --help)."""

from __future__ import annotations

import sys

from pipeline.config import from_arguments, parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from pipeline.job import run

    return run(from_arguments(args))


if __name__ == "__main__":
    sys.exit(main())
