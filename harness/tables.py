"""Tables from one renderer (tabulate), for every part of the harness: plain text for a terminal or
a log, Markdown for the reports."""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """A Markdown (pipe) table: the first `left` columns aligned left, the rest right; a '|' in a
    cell is escaped and line breaks folded, so no cell can break the table."""
    cells = [[str(c).replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    align = ["left"] * left + ["right"] * (len(header) - left)
    return str(tabulate(cells, headers=list(header), tablefmt="pipe", colalign=align, disable_numparse=True))


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1, indent: str = "  "
) -> list[str]:
    """A plain text table for a terminal or a log, one line per row after the header and its rule:
    the first `left` columns aligned left, the rest right."""
    align = ["left"] * left + ["right"] * (len(header) - left)
    text = tabulate(
        [[str(c) for c in row] for row in rows],
        headers=list(header),
        tablefmt="simple",
        colalign=align,
        disable_numparse=True,
    )
    return [indent + line.rstrip() for line in str(text).splitlines()]
