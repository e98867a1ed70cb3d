"""The inbox's bar of changes in a real browser: an agent ticks two questions of a wave (one
with the keyboard), a new question arrives and the list refreshes live with the ticks kept,
and "Resolve" takes the two out of the open list while the newcomer stays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.channels.models import BrandAccount
from socialdesk.conversations.models import Conversation
from tests.browser.chromium import LIVE_TIMEOUT_MS, chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk
from tests.factories.conversations import inbound, ingest

pytestmark = pytest.mark.browser


def _website(session: Session, organization_id: int) -> BrandAccount:
    return session.scalars(
        select(BrandAccount).where(
            BrandAccount.organization_id == organization_id, BrandAccount.kind == "web"
        )
    ).one()


def _ask(session: Session, organization_id: int, who: str) -> None:
    ingest(
        session,
        _website(session, organization_id),
        inbound(text="Is tram 4 running?", author=who, thread_key=f"visitor:{who}"),
    )


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    people = (("priya@example.org", "Priya Shah", Role.AGENT),)
    with one_question(tmp_path, people, prepare=lambda s, org: _ask(s, org, "marek")) as desk:
        yield desk


def test_ticked_conversations_survive_a_live_refresh_and_are_resolved_together(
    desk: tuple[LiveDesk, int],
) -> None:
    live, first_id = desk
    with live.sessions() as session:
        organization_id = session.get_one(Conversation, first_id).organization_id
        second_id = session.scalars(
            select(Conversation.id).where(Conversation.id != first_id)
        ).one()
    with chromium(live) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(page, live.base_url, "priya@example.org")
        expect(page.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
        submit = page.locator("[data-batch-submit]")
        expect(submit).to_be_disabled()

        page.locator(f'.row-pick[value="{first_id}"]').check()
        # The keyboard, from nowhere in the list: j selects its first row (the newest), x
        # ticks it.
        page.locator("#inbox-title").click()
        page.locator("body").press("j")
        page.locator("body").press("x")
        expect(page.locator("[data-batch-count]")).to_have_text("2 selected")
        expect(submit).to_be_enabled()

        with live.sessions() as session:
            _ask(session, organization_id, "ines")
            session.commit()
        rows = page.locator(".conv-row")
        expect(rows).to_have_count(3, timeout=LIVE_TIMEOUT_MS)  # the live refresh came
        expect(page.locator(".row-pick:checked")).to_have_count(2)
        expect(page.locator("[data-batch-count]")).to_have_text("2 selected")

        page.select_option("#batch-change", "resolve")
        submit.click()
        page.wait_for_url(f"{live.base_url}/")
        expect(rows).to_have_count(1)
        expect(page.locator(".row-pick:checked")).to_have_count(0)
    with live.sessions() as session:
        statuses = {
            c.id: c.status
            for c in session.scalars(
                select(Conversation).where(Conversation.organization_id == organization_id)
            )
        }
    assert statuses[first_id] == statuses[second_id] == "resolved"
    assert sorted(statuses.values()) == ["open", "resolved", "resolved"]
