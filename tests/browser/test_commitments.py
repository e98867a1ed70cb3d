"""A promise made in a reply, end to end in a real browser (Debian's Chromium via Playwright, a
real server and job worker, as in test_desk_flow).

The agent writes "A technician will call you tomorrow between 9 and 11", sees the preview say
which promise the reply creates and when it is due, keeps it, sends, finds it in the
conversation's promises panel and in "my promises", and marks it kept with a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.commitments.models import Commitment
from socialdesk.conversations import flows
from tests.browser.chromium import LAPTOP, LIVE_TIMEOUT_MS, SCREENSHOTS, chromium, expect, log_in
from tests.browser.desk_time import add_members, add_website
from tests.browser.server import LiveDesk, live_desk
from tests.factories.conversations import inbound

pytestmark = pytest.mark.browser

ZONE = ZoneInfo("Europe/Amsterdam")
PROMISE = "A technician will call you tomorrow between 9 and 11"


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    with live_desk(tmp_path) as live:
        with live.sessions() as session:
            org = accounts_service.create_organization(
                session, name="Acme Care", timezone="Europe/Amsterdam"
            )
            add_members(session, org.id, (("olivia@example.org", "Olivia Owner", Role.OWNER),))
            web = add_website(session, org.id)
            result = flows.ingest_message(
                session,
                account=web,
                message=inbound(
                    text="My internet has been down since this morning",
                    author="ana",
                    thread_key="visitor:ana",
                ),
            )
            session.commit()
            conversation_id = result.conversation.id
        yield live, conversation_id


def test_a_promise_in_a_reply_is_previewed_kept_and_listed(
    office: tuple[LiveDesk, int],
) -> None:
    live, conversation_id = office
    with chromium(live) as browser:
        _flow(browser, live, conversation_id)


def _flow(browser, live: LiveDesk, conversation_id: int) -> None:  # type: ignore[no-untyped-def]  # Playwright's Browser
    base = live.base_url
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))

    log_in(page, base, "olivia@example.org")
    page.goto(f"{base}/conversations/{conversation_id}")
    expect(page.locator("#panel-commitments")).to_contain_text("No promises in this conversation")

    # -- writing: the preview names the promise and its due time --------------------------
    # The wall clock of the organization's zone, as the server reads "tomorrow".
    tomorrow = datetime.now(ZONE) + timedelta(days=1)
    due_label = f"{tomorrow.strftime('%a')} 11:00"
    page.locator("#reply-text").click()
    page.keyboard.type(f"Sorry for the trouble, Ana. {PROMISE}.")
    card = page.locator("#reply-promises .promise-card")
    expect(card).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(card.locator("legend")).to_contain_text(f"This creates a promise due {due_label}")
    expect(card.locator(".promise-quote")).to_contain_text(PROMISE)
    # Drop, then change our mind and keep it: the legend follows the choice.
    card.get_by_label("Drop").check()
    expect(card.locator(".when-dropped")).to_be_visible()
    card.get_by_label("Keep").check()
    expect(card.locator(".when-kept")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "socialdesk-promise-preview.png"), full_page=True)

    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".msg-outbound", has_text="technician")).to_be_visible()
    expect(page.locator("#reply-text")).to_have_value("")
    expect(page.locator("#reply-promises .promise-card")).to_have_count(0)

    # -- the panel shows it, with owner and due time --------------------------------------
    panel = page.locator("#panel-commitments")
    item = panel.locator(".commitment", has_text="technician will call you")
    expect(item).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(item).to_contain_text(f"due {due_label}")
    expect(item).to_contain_text("Olivia Owner")

    # -- "my promises" lists it ------------------------------------------------------------
    page.goto(f"{base}/commitments")
    expect(page.locator("h1")).to_have_text("My promises")
    row = page.locator(".commitment-row", has_text="technician will call you")
    expect(row).to_be_visible()
    expect(row).to_contain_text(due_label)
    page.screenshot(path=str(SCREENSHOTS / "socialdesk-my-promises.png"), full_page=True)

    # -- back on the conversation: mark it kept with a note ---------------------------------
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/conversations/{conversation_id}#commitment-\d+$"))
    item = page.locator("#panel-commitments .commitment", has_text="technician will call you")
    item.locator("summary", has_text="Close").click()
    item.get_by_label("Evidence: what was done, or why not").fill("Called at 10:15")
    item.get_by_role("button", name="Kept").click()
    kept = page.locator("#panel-commitments .commitment[data-status='kept']")
    expect(kept).to_contain_text("Evidence: Called at 10:15")

    with live.sessions() as session:
        stored = session.query(Commitment).one()
        assert stored.status == "kept"
        assert stored.message_id is not None
        assert stored.due_at == tomorrow.replace(hour=11, minute=0, second=0, microsecond=0)
    assert page_errors == []
