"""report.html as a person sees it: parsed, and rendered by Debian's headless Chromium.

Shared by the unit tier (a fixed report) and the integration tier (the report of a live audit).
Chromium is a requirement of those tiers, not an option: without it a test fails with the fix.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

WIDTH, HEIGHT = 1280, 2000
INSTALL_HINT = "apt-get install -y chromium (bash .ci/run installs it when missing)"


def chromium(html: Path, *args: str) -> str:
    """Run headless Chromium on `html` with `args` (`--dump-dom`, `--screenshot=PATH`); its stdout."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(f"Debian's chromium is not on PATH: {INSTALL_HINT}", pytrace=False)
    # A throwaway profile: nothing read from or left in the user's, nothing heavy kept with the run.
    with tempfile.TemporaryDirectory(prefix="tally-chromium-") as profile:
        command = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            *args,
            html.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


class Page(HTMLParser):
    """The parts of an HTML page the tests look at: its tags with their attributes, and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def ids(self) -> set[str | None]:
        return {attrs.get("id") for _, attrs in self.tags if "id" in attrs}
