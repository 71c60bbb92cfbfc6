"""Headless Chromium from Debian's `chromium` package, driven by Playwright (`make test-tools` installs it;
Playwright's own browser builds are never downloaded: they cannot be fetched here).

Under CI=true a missing chromium fails the test that needs it; elsewhere that test is skipped, saying why.
Signing in to the console and opening one of its pages is here too, for every browser test of the console.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.support.tokens import READ_TOKEN

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Where Debian puts it; PATH is the fallback.
CHROMIUM = "/usr/bin/chromium"
PHONE: ViewportSize = {"width": 390, "height": 844}


def chromium_path() -> str:
    """Debian's chromium; fails under CI=true when it is missing, else skips."""
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if path is None:
        reason = "chromium is not installed: it comes with Debian's `chromium` package (`make test-tools`)"
        if IN_CI:
            pytest.fail(f"{reason}; it is required under CI=true")
        pytest.skip(reason)
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed on exit."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def no_horizontal_scroll(page: Page) -> bool:
    """Whether the page fits its viewport's width (nothing to scroll sideways)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def sign_in(page: Page, ui: str, token: str = READ_TOKEN) -> None:
    """Open the console at ``ui`` (``…/ui/``) and send ``token`` from its login form; the caller checks what
    follows (the models page, or the refusal)."""
    page.goto(ui)
    page.fill("#token", token)
    page.click("#login button[type=submit]")


def open_page(page: Page, ui: str, route: str) -> None:
    """Sign in with the read token, wait for the models page, then open the console's ``#/route``
    (``models/M``, ``models/M/rollout``)."""
    sign_in(page, ui)
    expect(page.locator("#models")).to_be_visible()
    page.goto(f"{ui}#/{route}")
