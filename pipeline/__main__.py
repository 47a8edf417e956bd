"""`python -m pipeline run ...`: the streaming job (see --help)."""

from __future__ import annotations

import logging
import sys

from pipeline.config import from_arguments, parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The Cassandra driver says through `logging` when it loses a node and when it gets it back;
    # without a handler its warnings vanish, and a batch waiting on Cassandra would not say why.
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    from pipeline.job import run

    return run(from_arguments(args))


if __name__ == "__main__":
    sys.exit(main())
