"""Two agents on one conversation, in two browsers: each sees the other has it open, sees live
(on the conversation and on its inbox row) when the other starts writing a reply and when they
have sent it, and sees them go when they leave, so the customer is answered once. The
announcements travel through the desk's event log, as between processes on several machines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts.models import Role
from tests.browser.chromium import LIVE_TIMEOUT_MS, chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    people = (
        ("priya@example.org", "Priya Shah", Role.AGENT),
        ("tomas@example.org", "Tomás Reyes", Role.AGENT),
    )
    with one_question(tmp_path, people) as desk:
        yield desk


def test_agents_on_one_conversation_see_each_other_and_who_is_replying(
    desk: tuple[LiveDesk, int],
) -> None:
    live, conversation_id = desk
    base = live.base_url
    url = f"{base}/conversations/{conversation_id}"
    with chromium(live) as browser:
        priya = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        tomas = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        log_in(priya, base, "priya@example.org")
        log_in(tomas, base, "tomas@example.org")
        tomas.goto(url)
        live_state = tomas.locator("#live")
        expect(live_state).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
        presence = tomas.locator("#presence")
        expect(presence).to_be_empty()

        # Priya opens it: Tomás's page says so without a reload, and hers names him.
        priya.goto(url)
        expect(presence).to_have_text("Priya Shah has this open", timeout=LIVE_TIMEOUT_MS)
        expect(priya.locator("#presence")).to_have_text("Tomás Reyes has this open")

        # Tomás's inbox, in another tab, shows it on the conversation's row.
        inbox = tomas.context.new_page()
        inbox.goto(f"{base}/")
        row = inbox.locator(f'[data-presence-for="{conversation_id}"]')
        expect(row).to_have_text("Priya Shah viewing")
        expect(inbox.locator("#live")).to_have_attribute(
            "data-state", "on", timeout=LIVE_TIMEOUT_MS
        )

        # She starts writing a reply: Tomás sees it before he writes one himself, on the
        # conversation and in the inbox.
        priya.locator("#reply-text").click()
        priya.keyboard.type("Tram 4 runs again from 14:00.")
        replying = presence.locator(".presence-replying")
        expect(replying).to_have_text("Priya Shah is writing a reply", timeout=LIVE_TIMEOUT_MS)
        expect(row).to_have_text("Priya Shah replying", timeout=LIVE_TIMEOUT_MS)

        # Sent: she is back to having it open.
        priya.keyboard.press("Control+Enter")
        expect(priya.locator(".msg-outbound", has_text="runs again")).to_be_visible()
        expect(presence).to_have_text("Priya Shah has this open", timeout=LIVE_TIMEOUT_MS)

        # She goes back to the inbox: gone from his page at once, not after the hold.
        priya.goto(f"{base}/")
        expect(presence).to_be_empty(timeout=LIVE_TIMEOUT_MS)
        expect(row).to_be_empty(timeout=LIVE_TIMEOUT_MS)
