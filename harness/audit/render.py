"""The audit's pages: jinja2 templates in `templates/`, one autoescaped base and one style sheet
(tables in text and Markdown come from `harness.tables`)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

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
