"""Saved inbox views in a browser: a filter changed on screen (htmx, no reload) is what the
"Save these filters" form saves, and the saved view opens the inbox filtered so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts.models import Role
from tests.browser.chromium import chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    with one_question(tmp_path, (("priya@example.org", "Priya Shah", Role.AGENT),)) as desk:
        yield desk


def test_the_filters_on_screen_are_saved_and_opened_again(desk: tuple[LiveDesk, int]) -> None:
    live, _conversation_id = desk
    with chromium(live) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(page, live.base_url, "priya@example.org")
        page.goto(f"{live.base_url}/")
        page.locator("label.pill", has_text="Pending").click()
        # The list and the form to save follow the filter without a reload.
        expect(page.locator("#save-view-query")).to_have_attribute("value", "status=pending")
        page.locator("summary", has_text="Save these filters").click()
        page.fill("#view-name", "Waiting on others")
        page.locator("button", has_text="Save view").click()
        page.wait_for_url(f"{live.base_url}/?status=pending")

        page.goto(f"{live.base_url}/")
        expect(page.locator("#inbox-title")).to_have_text("Open conversations")
        page.locator("#saved-views-list a", has_text="Waiting on others").click()
        page.wait_for_url(f"{live.base_url}/?status=pending")
        expect(page.locator("#inbox-title")).to_have_text("Pending conversations")
        expect(page.locator("#saved-views-list a[aria-current=page]")).to_have_text(
            "Waiting on others"
        )
