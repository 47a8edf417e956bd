"""report.html as a person sees it: Debian's headless Chromium renders it, shows the verdict table and
draws the plots. The screenshot is kept under .tally/runs/ to look at.

Chromium is a requirement of this tier, not an option: without it the test fails with the fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from audit_testkit import Page, fixed_audit
from matplotlib import colors, image

from harness.report import write_report
from harness.report_plots import SET_COLOURS

WIDTH, HEIGHT = 1280, 2000
INSTALL_HINT = "apt-get install -y chromium (bash .ci/run installs it when missing)"


@pytest.fixture(scope="module")
def workdir(pytestconfig: pytest.Config) -> Path:
    """The report and its screenshot, kept: named like harness.pytest_stack's run directories."""
    run = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path = pytestconfig.rootpath / ".tally" / "runs" / run / "report-render"
    write_report(fixed_audit(), path)
    return path


def chromium(workdir: Path, *args: str) -> str:
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
            (workdir / "report.html").as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_dom_has_the_verdict_table_and_the_plots(workdir: Path) -> None:
    page = Page(chromium(workdir, "--dump-dom"))
    assert [t.get("class") for t in page.all("table")].count("verdicts") == 1
    assert sum(1 for t in page.all("tr") if (t.get("class") or "").startswith("row-")) == 3
    images = [img for img in page.all("img") if (img.get("src") or "").startswith("data:image/png;base64,")]
    assert len(images) == 3 + 1


def test_the_screenshot_shows_a_page_with_its_plots(workdir: Path) -> None:
    screenshot = workdir / "screenshot.png"
    chromium(workdir, f"--screenshot={screenshot}")
    assert screenshot.stat().st_size > 50_000, f"suspiciously small: {screenshot}"
    pixels = image.imread(screenshot)[..., :3]
    assert pixels.shape == (HEIGHT, WIDTH, 3), screenshot
    distinct = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert distinct > 100, f"{distinct} colours: a blank or broken page? {screenshot}"
    # The recovery chart's bars: present only if the browser decoded and drew the embedded PNG.
    bar = np.array(colors.to_rgb(SET_COLOURS[0]))
    bar_pixels = int(np.all(np.abs(pixels - bar) < 2 / 255, axis=-1).sum())
    assert bar_pixels > 1_000, f"the recovery chart's bars are not on screen: {screenshot}"
