"""Snoozing from the keyboard: Enter in the date field snoozes until that date and time (in
the organization's time zone), not for the first of the preset buttons beside it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from socialdesk.accounts.models import Role
from socialdesk.conversations.models import Conversation
from tests.browser.chromium import chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    with one_question(tmp_path, (("priya@example.org", "Priya Shah", Role.AGENT),)) as desk:
        yield desk


def test_enter_in_the_date_field_snoozes_until_that_date(desk: tuple[LiveDesk, int]) -> None:
    live, conversation_id = desk
    with chromium(live) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(page, live.base_url, "priya@example.org")
        page.goto(f"{live.base_url}/conversations/{conversation_id}")
        page.locator("#snooze-until").fill("2099-07-01T10:00")
        page.locator("#snooze-until").press("Enter")
        expect(page.locator("#conv-state")).to_contain_text("snoozed")
        expect(page.locator("#side")).to_contain_text("01 Jul 2099, 10:00")

    with live.sessions() as session:
        conversation = session.get_one(Conversation, conversation_id)
        # 10:00 in Amsterdam's summer time.
        assert conversation.snoozed_until == datetime(2099, 7, 1, 8, 0, tzinfo=UTC)
