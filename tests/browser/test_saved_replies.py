"""A saved reply goes into the reply box in a real browser: typing "/" and part of a shortcut
in the empty box finds it, a click puts it in filled in for the customer and the agent in place
of what was typed, the box counts it like typing, and sending it delivers it to the visitor.
Only a browser runs the page's script, so only a browser can show this."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.saved_replies import service as saved_replies_service
from tests.browser.chromium import DELIVERY_TIMEOUT_MS, chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk

pytestmark = pytest.mark.browser

TEXT = "Hi {name}, replacement buses run every 10 minutes from the stop across the bridge. ^{agent}"


def _saved_replies(session: Session, organization_id: int) -> None:
    for shortcut, title, text in (
        ("replacement-bus", "Replacement buses", TEXT),
        ("lost-property", "Lost property", "Hi {name}, lost property is at Central."),
    ):
        saved_replies_service.create(
            session,
            organization_id=organization_id,
            draft=saved_replies_service.Draft(shortcut, title, text),
            actor=None,
        )


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    people = (("priya@example.org", "Priya Shah", Role.AGENT),)
    with one_question(tmp_path, people, prepare=_saved_replies) as desk:
        yield desk


def test_a_saved_reply_found_by_its_shortcut_goes_into_the_reply_box_and_out(
    desk: tuple[LiveDesk, int],
) -> None:
    live, conversation_id = desk
    base = live.base_url
    with chromium(live) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(page, base, "priya@example.org")
        page.goto(f"{base}/conversations/{conversation_id}")
        # The whole list, asked for as the box opens, is held back until the search's answer
        # is shown: answers can come back in any order, and a late one must not replace it.
        held: list[Any] = []  # Playwright's Route

        def hold(route: Any) -> None:
            held.append(route)

        page.route(f"**/conversations/{conversation_id}/saved-replies", hold)
        box = page.locator("#reply-text")
        box.click()
        page.keyboard.type("/repl")
        choices = page.locator("#saved-list .saved-choice")
        expect(choices).to_have_count(1)
        assert len(held) == 1, "the box's opening did not ask for the list"
        held[0].continue_()
        page.wait_for_timeout(500)
        expect(choices).to_have_count(1)
        expect(choices.first).to_contain_text("/replacement-bus")
        choices.first.click()
        wanted = (
            "Hi Lucia, replacement buses run every 10 minutes from the stop across the bridge. "
            "^Priya Shah"
        )
        expect(box).to_have_value(wanted)
        expect(box).to_be_focused()
        expect(page.locator("#saved-box")).not_to_have_attribute("open", "")
        # The box reacts as to typing: the code-of-conduct check has run on the new text.
        expect(page.locator("#reply-feedback")).to_contain_text("Fine to send")

        # With words already in the box, a saved reply goes in at the cursor.
        box.press("End")
        page.keyboard.type(" Also:")
        page.locator("#saved-box > summary").click()
        search = page.locator("#saved-search")
        search.fill("lost")
        expect(choices).to_have_count(1)
        search.press("Enter")  # the first entry, not the reply form
        expect(box).to_have_value(wanted + " Also: Hi Lucia, lost property is at Central.")

        page.get_by_role("button", name="Send reply").click()
        thread = page.locator("#thread")
        expect(thread).to_contain_text("lost property is at Central.", timeout=DELIVERY_TIMEOUT_MS)
        expect(thread.locator(".delivery").last).to_contain_text(
            "Sent", timeout=DELIVERY_TIMEOUT_MS
        )
