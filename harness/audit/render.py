"""The one renderer of the harness's tables and pages: tabulate for text and Markdown tables, jinja2
for HTML (one autoescaped base template and one style sheet, in `templates/`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from tabulate import tabulate

_PAGES = Environment(
    loader=PackageLoader("harness.audit"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def page(template: str, **context: Any) -> str:
    """A page from `templates/`: every value escaped, nothing outside the file it renders."""
    return _PAGES.get_template(template).render(**context)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """A Markdown (pipe) table: the first `left` columns aligned left, the rest right; a '|' in a
    cell is escaped and line breaks folded, so no cell can break the table."""
    cells = [[str(c).replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    align = ["left"] * left + ["right"] * (len(header) - left)
    return str(tabulate(cells, headers=list(header), tablefmt="pipe", colalign=align, disable_numparse=True))


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> list[str]:
    """A plain text table for a terminal or a log, one line per row (header first)."""
    text = tabulate([[str(c) for c in row] for row in rows], headers=list(header), tablefmt="plain")
    return [indent + line.rstrip() for line in str(text).splitlines()]
