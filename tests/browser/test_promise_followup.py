"""A promise kept and a follow-up sent (issue #7), end to end in a real browser (Debian's
Chromium via Playwright, a real server and job worker, as in test_desk_flow).

A customer writes on the website chat. The agent answers "A technician will call you tomorrow
between 9 and 11", sees the promise in the preview, keeps it, and finds it in the
conversation's promises panel. Time moves (tests/browser/desk_time.py): shortly before the due
time the worker's reminder task reminds the agent, who sees the reminder in the desk, marks the
promise kept with evidence and resolves the conversation. A day later the follow-up task asks
the customer whether everything works again, through the send gateway: the message is in the
thread, on the customer's chat page, and the follow-up panel says it was sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Role
from socialdesk.commitments.models import Commitment
from socialdesk.conversations.models import Conversation, Direction, Message
from socialdesk.followups.models import FollowUp
from socialdesk.notifications.models import Notification
from tests.browser.chromium import (
    DELIVERY_TIMEOUT_MS,
    LAPTOP,
    LIVE_TIMEOUT_MS,
    SCREENSHOTS,
    chromium,
    expect,
    log_in,
    visitor_writes,
)
from tests.browser.desk_time import add_members, add_website, in_desk_process, run_periodic
from tests.browser.server import LiveDesk, live_desk

pytestmark = pytest.mark.browser

ZONE = ZoneInfo("Europe/Amsterdam")
PROMISE = "A technician will call you tomorrow between 9 and 11"
EVIDENCE = "Technician called at 10:15; the line works again"
FOLLOW_UP = "checking in: is everything working again?"  # the built-in follow-up's words
# The follow-up is scheduled by the worker after the resolution commits.
WORKER_TIMEOUT_MS = 30_000


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[LiveDesk, str, Path]]:
    with live_desk(tmp_path) as live, live.sessions() as session:
        org = accounts_service.create_organization(
            session, name="Acme Care", timezone="Europe/Amsterdam"
        )
        add_members(
            session,
            org.id,
            (
                ("olivia@example.org", "Olivia Owner", Role.OWNER),
                ("alex@example.org", "Alex Agent", Role.AGENT),
            ),
        )
        web = add_website(session, org.id, "Acme website")
        session.commit()
        yield live, web.public_key, tmp_path


def test_a_promise_is_reminded_kept_and_followed_up(
    office: tuple[LiveDesk, str, Path],
) -> None:
    live, public_key, tmp = office
    with chromium(live) as browser:
        conversation_id = _flow(browser, live, public_key, tmp)
    _check_stored(live, conversation_id)


def _commitment(live: LiveDesk) -> Commitment:
    with live.sessions() as session:
        commitment = session.query(Commitment).one()
        session.expunge(commitment)
        return commitment


def _reminders(live: LiveDesk) -> int:
    with live.sessions() as session:
        return session.query(Notification).filter_by(kind="commitment.reminder").count()


def _follow_up_status(live: LiveDesk) -> str:
    with live.sessions() as session:
        return session.query(FollowUp).one().status


def _flow(browser, live: LiveDesk, public_key: str, tmp: Path) -> int:  # type: ignore[no-untyped-def]  # Playwright's Browser
    base = live.base_url
    errors: list[str] = []
    agent = browser.new_context(viewport=LAPTOP).new_page()
    agent.on("pageerror", lambda exc: errors.append(f"agent: {exc}"))
    log_in(agent, base, "alex@example.org", wait_for_live=True)

    # -- a customer writes on the website chat ----------------------------------------------
    visitor = visitor_writes(
        browser, base, public_key, "My internet has been down since this morning", errors=errors
    )

    row = agent.locator(".conv-row", has_text="Ana Souza")
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    row.locator(".conv-link").click()
    expect(agent).to_have_url(re.compile(r"/conversations/\d+$"))
    conversation_id = int(agent.url.rsplit("/", 1)[1])
    expect(agent.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
    promises = agent.locator("#panel-commitments")
    expect(promises).to_contain_text("No promises in this conversation")

    # -- the reply promises a call: previewed, kept, listed ----------------------------------
    # "Tomorrow" in the organization's zone, as the server reads it.
    tomorrow = datetime.now(ZONE) + timedelta(days=1)
    due_label = f"{tomorrow.strftime('%a')} 11:00"
    agent.locator("#reply-text").click()
    agent.keyboard.type(f"Sorry for the trouble, Ana. {PROMISE}.")
    card = agent.locator("#reply-promises .promise-card")
    expect(card).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(card.locator("legend")).to_contain_text(f"This creates a promise due {due_label}")
    expect(card.locator(".promise-quote")).to_contain_text(PROMISE)
    expect(card.get_by_label("Keep")).to_be_checked()
    agent.get_by_role("button", name="Send reply").click()
    expect(agent.locator(".msg-outbound", has_text="technician")).to_be_visible()
    expect(agent.locator("#reply-promises .promise-card")).to_have_count(0)
    item = promises.locator(".commitment", has_text="technician will call you")
    expect(item).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(item).to_have_attribute("data-status", "open")
    expect(item).to_contain_text(f"due {due_label}")
    expect(item).to_contain_text("Alex Agent")
    agent.evaluate("window.__sdNoReload = true")

    promise = _commitment(live)
    assert promise.due_at == tomorrow.replace(hour=11, minute=0, second=0, microsecond=0)
    assert promise.remind_at == promise.due_at - timedelta(minutes=120)  # the default lead

    # -- time passes: the reminder comes shortly before the due time, not earlier -----------
    badge = agent.locator("#notif-badge")
    with in_desk_process(live, tmp):
        run_periodic("commitments.remind", at=promise.remind_at - timedelta(minutes=1))
        assert _reminders(live) == 0, "reminded before the reminder time"
        run_periodic("commitments.remind", at=promise.due_at - timedelta(minutes=10))
        assert _reminders(live) == 1
        run_periodic("commitments.remind", at=promise.due_at - timedelta(minutes=9))
        assert _reminders(live) == 1, "reminded twice"

    # The agent, still on the conversation, sees it arrive.
    expect(badge.locator(".notif-count")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    assert agent.evaluate("window.__sdNoReload") is True, "the conversation page reloaded"
    badge.click()
    expect(agent).to_have_url(f"{base}/notifications")
    reminder = agent.locator(".notif-item", has_text="technician will call you")
    expect(reminder).to_have_class(re.compile(r"notif-unread"))
    expect(reminder.locator(".notif-title")).to_contain_text("Promise due")
    expect(reminder).to_contain_text(f"conversation #{conversation_id}")
    agent.screenshot(path=str(SCREENSHOTS / "socialdesk-promise-reminder.png"), full_page=True)
    # Opening it marks it read and leads to the promise.
    reminder.locator(".notif-title").click()
    expect(agent).to_have_url(f"{base}/conversations/{conversation_id}#commitment-{promise.id}")
    expect(agent.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)

    # -- the promise is kept, with evidence --------------------------------------------------
    item = promises.locator(f"#commitment-{promise.id}")
    item.locator("summary", has_text="Close").click()
    item.get_by_label("Evidence: what was done, or why not").fill(EVIDENCE)
    item.get_by_role("button", name="Kept").click()
    kept = promises.locator(f"#commitment-{promise.id}[data-status='kept']")
    expect(kept).to_contain_text(f"Evidence: {EVIDENCE}")
    expect(kept).to_contain_text("by Alex Agent")

    # -- resolved: the follow-up is scheduled a day later -----------------------------------
    agent.evaluate("window.__sdNoReload = true")
    agent.locator("#resolve-button").click()
    expect(agent.locator("#conv-state")).to_contain_text("resolved")
    followup = agent.locator("#panel-followups [data-followup]")
    expect(followup).to_have_attribute("data-status", "scheduled", timeout=WORKER_TIMEOUT_MS)
    due_attr = followup.locator("time[data-followup-due]").get_attribute("datetime")
    assert due_attr is not None
    follow_up_due = datetime.fromisoformat(due_attr)

    # -- time passes: the follow-up task sends it once it is due, not before -----------------
    with in_desk_process(live, tmp):
        run_periodic("followups.tick", at=follow_up_due - timedelta(minutes=1))
        assert _follow_up_status(live) == "scheduled", "sent before it was due"
        run_periodic("followups.tick", at=follow_up_due + timedelta(minutes=1))
        assert _follow_up_status(live) == "sent"

    # It is in the thread as an outbound message, delivered, and the panel says so.
    sent = agent.locator(".msg-outbound", has_text=FOLLOW_UP)
    expect(sent).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(sent.locator(".delivery-sent")).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)
    expect(followup).to_have_attribute("data-status", "sent", timeout=LIVE_TIMEOUT_MS)
    panel = agent.locator("#panel-followups")
    expect(panel).to_contain_text("Sent, waiting for an answer")
    expect(panel.locator("[data-followup-text]")).to_contain_text(FOLLOW_UP)
    assert agent.evaluate("window.__sdNoReload") is True, "the conversation page reloaded"
    agent.screenshot(path=str(SCREENSHOTS / "socialdesk-followup-sent.png"), full_page=True)

    # The customer gets it on the chat page.
    expect(visitor.locator(".bubble.theirs", has_text=FOLLOW_UP)).to_be_visible(
        timeout=DELIVERY_TIMEOUT_MS
    )

    assert errors == [], errors
    return conversation_id


def _check_stored(live: LiveDesk, conversation_id: int) -> None:
    with live.sessions() as session:
        alex = session.query(Member).filter_by(email="alex@example.org").one()
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.status == "resolved"
        commitment = session.query(Commitment).one()
        assert (commitment.status, commitment.evidence) == ("kept", EVIDENCE)
        assert commitment.owner_id == alex.id
        assert commitment.reminded_at is not None
        reminder = session.query(Notification).filter_by(kind="commitment.reminder").one()
        assert reminder.member_id == alex.id
        assert reminder.read_at is not None
        follow_up = session.query(FollowUp).one()
        assert follow_up.status == "sent"
        assert follow_up.member_id == alex.id
        assert follow_up.message_id is not None
        message = session.get_one(Message, follow_up.message_id)
        assert message.direction == Direction.OUTBOUND.value
        assert message.author_member_id == alex.id
        assert message.conversation_id == conversation_id
        assert FOLLOW_UP in message.text
        assert message.delivery_state == "sent"
