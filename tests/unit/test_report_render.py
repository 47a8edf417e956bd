"""A fixed report.html as a person sees it: Chromium shows the verdict table and draws the plots.
The screenshot is kept under .tally/runs/ to look at."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from audit_testkit import fixed_audit
from matplotlib import colors, image
from report_view import HEIGHT, WIDTH, Page, chromium

from harness.audit.plots import SET_COLOURS
from harness.audit.report import write_report


@pytest.fixture(scope="module")
def workdir(pytestconfig: pytest.Config) -> Path:
    """The report and its screenshot, kept: named like harness.pytest_plugin's run directories."""
    run = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path = pytestconfig.rootpath / ".tally" / "runs" / run / "report-render"
    write_report(fixed_audit(), path)
    return path


def test_the_dom_has_the_verdict_table_and_the_plots(workdir: Path) -> None:
    page = Page(chromium(workdir / "report.html", "--dump-dom"))
    assert [t.get("class") for t in page.all("table")].count("verdicts") == 1
    assert sum(1 for t in page.all("tr") if (t.get("class") or "").startswith("row-")) == 3
    images = [img for img in page.all("img") if (img.get("src") or "").startswith("data:image/png;base64,")]
    assert len(images) == 3 + 1


def test_the_screenshot_shows_a_page_with_its_plots(workdir: Path) -> None:
    screenshot = workdir / "screenshot.png"
    chromium(workdir / "report.html", f"--screenshot={screenshot}")
    assert screenshot.stat().st_size > 50_000, f"suspiciously small: {screenshot}"
    pixels = image.imread(screenshot)[..., :3]
    assert pixels.shape == (HEIGHT, WIDTH, 3), screenshot
    distinct = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert distinct > 100, f"{distinct} colours: a blank or broken page? {screenshot}"
    # The recovery chart's bars: present only if the browser decoded and drew the embedded PNG.
    bar = np.array(colors.to_rgb(SET_COLOURS[0]))
    bar_pixels = int(np.all(np.abs(pixels - bar) < 2 / 255, axis=-1).sum())
    assert bar_pixels > 1_000, f"the recovery chart's bars are not on screen: {screenshot}"
