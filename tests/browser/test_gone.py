"""A conversation that goes away while an agent has it open: erased with its customer, the
page says so at once instead of failing on the next click; folded into another (a reply that
joins two threads), the page goes to the one kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from socialdesk.accounts.models import Member, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.contacts import privacy
from socialdesk.conversations.models import Conversation, Message
from tests.browser.chromium import LIVE_TIMEOUT_MS, chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk
from tests.factories.conversations import inbound, ingest

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    people = (
        ("priya@example.org", "Priya Shah", Role.AGENT),
        ("maren@example.org", "Maren Holt", Role.OWNER),
    )
    with one_question(tmp_path, people) as desk:
        yield desk


def test_an_open_conversation_says_when_its_customer_was_erased(
    desk: tuple[LiveDesk, int],
) -> None:
    live, conversation_id = desk
    with chromium(live) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(page, live.base_url, "priya@example.org")
        page.goto(f"{live.base_url}/conversations/{conversation_id}")
        expect(page.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
        expect(page.locator("#flash")).to_be_hidden()

        with live.sessions() as session:
            conversation = session.get_one(Conversation, conversation_id)
            owner = session.scalars(select(Member).where(Member.role == Role.OWNER.value)).one()
            assert conversation.contact_id is not None
            privacy.erase(
                session,
                organization_id=conversation.organization_id,
                contact_id=conversation.contact_id,
                actor=owner,
            )
            session.commit()

        flash = page.locator("#flash")
        expect(flash).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(flash).to_have_text(
            "This conversation no longer exists: its customer's data was erased. "
            "Back to the inbox with u."
        )
        # What the page showed of it, the customer's words included, is gone from the page,
        # and nothing is left to reply with.
        notice = page.locator(".gone-notice")
        expect(notice).to_contain_text("This conversation no longer exists")
        expect(page.locator(".thread")).to_have_count(0)
        expect(page.locator("#reply-text")).to_have_count(0)
        expect(notice.get_by_role("link", name="Back to the inbox")).to_have_attribute("href", "/")


def test_an_open_conversation_folded_into_another_goes_there(
    desk: tuple[LiveDesk, int],
) -> None:
    live, kept_id = desk
    with live.sessions() as session:
        web = session.scalars(select(BrandAccount)).one()
        first = session.scalars(select(Conversation.id)).one()
        assert first == kept_id
        # A reply to a message not seen yet: a conversation of its own, for now.
        folded_id = ingest(
            session,
            web,
            inbound(native_id="later", reply_to="missing", author="lucia", text="And line 9?"),
        ).conversation.id
        kept_native = session.scalars(
            select(Message.native_id).where(Message.conversation_id == kept_id)
        ).one()
        session.commit()
    assert folded_id != kept_id
    with chromium(live) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(page, live.base_url, "priya@example.org")
        page.goto(f"{live.base_url}/conversations/{folded_id}")
        expect(page.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)

        with live.sessions() as session:
            web = session.scalars(select(BrandAccount)).one()
            # The missing message arrives, answering the first question: one thread.
            ingest(
                session,
                web,
                inbound(native_id="missing", reply_to=kept_native, author="lucia", text="Also"),
            )
            session.commit()

        expect(page.locator("#flash")).to_have_text(
            f"This conversation was merged into #{kept_id}: opening it.",
            timeout=LIVE_TIMEOUT_MS,
        )
        page.wait_for_url(f"{live.base_url}/conversations/{kept_id}", timeout=LIVE_TIMEOUT_MS)
