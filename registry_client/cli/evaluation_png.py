"""``canaryline eval MODEL --png DIR``: the evaluation report's charts as PNG files, one per chart.

The charts are the ones ``--html`` writes (:func:`~registry_client.cli.evaluation_html.report_html`, the
console's own chart code): that page is opened in headless Chromium through Playwright and each chart
element that drew a canvas is screenshotted to ``DIR/<chart id>.png`` (``forest-plot``, ``coverage-chart``,
``latency-chart``, ``traffic-chart``, ``quality-time-chart``, ``agreement-chart``) at twice the CSS pixel
density. Drawing them again with matplotlib would be a second chart implementation that drifts from the
console, and would add about 40 MB of wheels (matplotlib, Pillow, fontTools, …) to a package that has no
plotting library; Playwright is the optional extra ``canaryline[png]`` (the browser tests use it already)
and needs no browser download: it drives the Chromium installed on the machine (``CANARYLINE_CHROMIUM``,
else Debian's ``chromium``). The page's Content-Security-Policy forbids every network request, and any
request is aborted as well, so rendering fetches nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from registry_client.errors import InputError

__all__ = ["CHART_SELECTOR", "write_pngs"]

#: The report's chart elements (each a ``div.chart`` with an id, holding uPlot's canvas once drawn).
CHART_SELECTOR = "div.chart[id]"
_DRAWN = "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


def write_pngs(page_html: str, folder: Path, *, chromium: Path | None) -> list[Path]:
    """Render ``page_html`` in headless Chromium and write each drawn chart to ``folder``; the files written.

    Raises :class:`~registry_client.errors.InputError` when Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise InputError("--png needs Playwright: pip install 'canaryline[png]'") from exc
    if chromium is None or not os.access(chromium, os.X_OK):
        where = "no chromium found" if chromium is None else f"{chromium} is not an executable"
        raise InputError(f"--png needs a Chromium: {where}; install Debian's chromium or set CANARYLINE_CHROMIUM")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    # Chromium's sandbox cannot start as root (containers); the page is our own report with no network.
    args = ["--disable-gpu", *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=args)
        try:
            context = browser.new_context(viewport={"width": 1000, "height": 900}, device_scale_factor=2)
            context.route("**/*", lambda route: route.abort())
            page = context.new_page()
            page.set_content(page_html, wait_until="load")
            page.evaluate(_DRAWN)
            for chart in page.locator(CHART_SELECTOR).all():
                if chart.locator("canvas").count() == 0:
                    continue  # nothing to draw (no outcomes, no shadow): the report says so in words
                path = folder / f"{chart.get_attribute('id')}.png"
                chart.screenshot(path=str(path))
                written.append(path)
        finally:
            browser.close()
    return written
