"""A mention in a browser: "@" and the start of a name in a note offers the colleague, the
keyboard takes it, the composer says whom the note tells, and the colleague's badge counts
the notification live, which leads to the note."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts.models import Role
from tests.browser.chromium import chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk

pytestmark = pytest.mark.browser

PEOPLE = (
    ("priya@example.org", "Priya Shah", Role.AGENT),
    ("jonas@example.org", "Jonas Berg", Role.AGENT),
    ("joanna@example.org", "Joanna Kim", Role.AGENT),
)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    with one_question(tmp_path, PEOPLE) as desk:
        yield desk


def test_a_colleague_is_picked_told_and_led_to_the_note(desk: tuple[LiveDesk, int]) -> None:
    live, conversation_id = desk
    with chromium(live) as browser:
        jonas = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        log_in(jonas, live.base_url, "jonas@example.org", wait_for_live=True)
        expect(jonas.locator("#notif-badge .notif-count")).to_have_count(0)

        page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        log_in(page, live.base_url, "priya@example.org")
        page.goto(f"{live.base_url}/conversations/{conversation_id}")
        page.keyboard.press("n")
        note = page.locator("#note-text")
        expect(note).to_be_focused()
        note.type("@jo")
        options = page.locator("#mention-list [role=option]")
        expect(options).to_have_text(["Joanna Kim", "Jonas Berg"])
        expect(note).to_have_attribute("aria-activedescendant", "mention-option-0")
        page.keyboard.press("ArrowUp")  # round to the last
        expect(note).to_have_attribute("aria-activedescendant", "mention-option-1")
        expect(page.locator("#mention-option-1")).to_have_attribute("aria-selected", "true")
        page.keyboard.press("Enter")  # takes the name; the note is not sent
        expect(page.locator("#mention-list")).to_have_count(0)
        expect(note).to_have_value("@Jonas Berg ")
        note.type("can you ask the depot about tram 4?")
        expect(page.locator(".note-mentions")).to_contain_text("Tells Jonas Berg")

        note.type(" @jo")
        expect(options).to_have_count(2)
        page.keyboard.press("Escape")  # closes the list and leaves the text as it is
        expect(page.locator("#mention-list")).to_have_count(0)
        expect(note).to_be_focused()
        note.type("!")
        expect(page.locator("#mention-list")).to_have_count(0)
        note.type(" @jo")
        expect(options).to_have_count(2)
        page.keyboard.press("Control+Enter")  # sends the note; the open list does not take it
        expect(page.locator(".msg-note .mention")).to_have_text("@Jonas Berg")
        expect(page.locator(".msg-note .msg-body")).to_contain_text("tram 4? @jo! @jo")

        expect(jonas.locator("#notif-badge .notif-count")).to_have_text("1")
        jonas.goto(f"{live.base_url}/notifications")
        jonas.locator("button", has_text="Priya Shah mentioned you in a note").click()
        jonas.wait_for_url(f"**/conversations/{conversation_id}#message-*")
        expect(jonas.locator(".msg-note .mention")).to_have_text("@Jonas Berg")
