"""Debian's Chromium driven by Playwright against a live desk (tests/browser/server.py): what
every browser test needs to open a browser and log in.

Importing this module skips the importing test module where Chromium or Playwright is missing,
so a test module imports it before anything that drives a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser.desk_time import PASSWORD
from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, LiveDesk

if not CHROMIUM.exists():
    pytest.skip(
        f"Debian's Chromium is not installed at {CHROMIUM} "
        "(apt-get install chromium; CI's .ci/run installs it)",
        allow_module_level=True,
    )
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed in this environment"
)
expect = playwright_api.expect

SCREENSHOTS = Path("/tmp")
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
# Delivery goes through the worker's durable queue, which polls: allow it a while.
DELIVERY_TIMEOUT_MS = 30_000
LIVE_TIMEOUT_MS = 15_000


@contextmanager
def chromium(live: LiveDesk) -> Iterator[Any]:  # Any: Playwright's Browser
    """A launched Chromium, closed at the end. A failure inside carries what the desk's server
    and worker printed: the server's own account of what went wrong helps most."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        except Exception as exc:
            raise AssertionError(f"{exc}\n{live.logs()}") from exc
        finally:
            browser.close()


def log_in(  # type: ignore[no-untyped-def]  # Playwright's Page
    page, base: str, email: str, password: str = PASSWORD, *, wait_for_live: bool = False
) -> None:
    """Log in through the login form and land on the inbox. With ``wait_for_live``, also wait
    until the page's event stream is open: live updates reach only such a page."""
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/")
    if wait_for_live:
        expect(page.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)


def visitor_writes(  # type: ignore[no-untyped-def]  # Playwright's Browser and Page
    browser, base: str, public_key: str, text: str, *, errors: list[str]
):
    """Ana, a visitor on a phone, writes ``text`` on the website chat page (``public_key``'s)
    and sees it sent; returns her page. Script errors on it go to ``errors``."""
    visitor = browser.new_context(viewport=PHONE).new_page()
    visitor.on("pageerror", lambda exc: errors.append(f"visitor: {exc}"))
    visitor.goto(f"{base}/chat/{public_key}")
    visitor.get_by_label("Your name").fill("Ana Souza")
    visitor.get_by_label("Your message").fill(text)
    visitor.get_by_role("button", name="Send").click()
    expect(visitor.locator(".bubble.mine")).to_contain_text(text)
    return visitor
