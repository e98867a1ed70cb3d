"""No silos (issue #6), end to end in a real browser (Debian's Chromium via Playwright, a real
server and job worker, as in test_desk_flow).

A customer complains on the website chat. Routing (least loaded, a rule that sends complaints
to the front line) gives the conversation to the front-line agent on duty, not to her
colleague who is away; an SLA policy starts a first-response clock. The agent opens the
conversation, sees the timer, and asks Billing to refund the order through the requests panel.
A billing agent, in a second browser, hears of it (the notifications badge, the notification,
the requests page), opens the conversation and marks the request done with a note. The
front-line agent sees it done without a reload, answers the customer, and the first-response
clock stops: the panel says the target was met and the inbox shows no timer any more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Role, Team
from socialdesk.conversations.models import Conversation
from socialdesk.escalations.models import EscalationRequest
from socialdesk.notifications.models import Notification
from socialdesk.routing import service as routing_service
from socialdesk.sla import service as sla_service
from socialdesk.sla.models import SlaClock
from socialdesk.sla.schemas import SlaPolicyCreate
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
from tests.browser.desk_time import add_members, add_website
from tests.browser.server import LiveDesk, live_desk

pytestmark = pytest.mark.browser

COMPLAINT = "You charged me twice for order 123 and nobody answers. Worst service ever!"
ASK = "please refund order 123"
DONE_NOTE = "Refunded 42.00 for order 123 to the card ending 1234"
ANSWER = "Hi Ana, sorry for the double charge: Billing has refunded order 123 to your card."
# An hour's first-response target, a little of it used.
TIME_LEFT = re.compile(r"^(1h 00m|[1-5]?\dm) left$")
# Routing and the SLA clock are the worker's jobs, run after the ingest commits.
WORKER_TIMEOUT_MS = 30_000


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[LiveDesk, str]]:
    with live_desk(tmp_path) as live, live.sessions() as session:
        org = accounts_service.create_organization(
            session, name="Acme Care", timezone="Europe/Amsterdam"
        )
        people = add_members(
            session,
            org.id,
            (
                ("olivia@example.org", "Olivia Owner", Role.OWNER),
                ("fiona@example.org", "Fiona Front", Role.AGENT),
                ("sam@example.org", "Sam Front", Role.AGENT),
                ("cora@example.org", "Cora Billing", Role.AGENT),
            ),
        )
        front = accounts_service.create_team(session, organization_id=org.id, name="Front line")
        billing = accounts_service.create_team(session, organization_id=org.id, name="Billing")
        accounts_service.add_to_team(session, team=front, member=people["Fiona Front"])
        accounts_service.add_to_team(session, team=front, member=people["Sam Front"])
        accounts_service.add_to_team(session, team=billing, member=people["Cora Billing"])
        session.flush()
        routing_service.update_settings(
            session,
            organization_id=org.id,
            strategy="least_loaded",
            reassign_when_away=True,
            reassign_after_minutes=None,
        )
        # Sam is in the front line too, but away: routing must pass him over.
        routing_service.set_availability(
            session, member=people["Sam Front"], availability="away", actor=None
        )
        routing_service.create_rule(
            session,
            organization_id=org.id,
            name="Complaints to the front line",
            conditions=[{"field": "is_complaint", "op": "is", "value": True}],
            actions=[{"type": "set_team", "team_id": front.id}],
        )
        sla_service.create(
            session,
            organization_id=org.id,
            data=SlaPolicyCreate(name="Answer within the hour", first_response_minutes=60),
        )
        web = add_website(session, org.id, "Acme website")
        session.commit()
        yield live, web.public_key


def test_a_complaint_routed_escalated_to_billing_and_answered(
    office: tuple[LiveDesk, str],
) -> None:
    live, public_key = office
    with chromium(live) as browser:
        conversation_id = _flow(browser, live, public_key)
    _check_stored(live, conversation_id)


def _flow(browser, live: LiveDesk, public_key: str) -> int:  # type: ignore[no-untyped-def]  # Playwright's Browser
    base = live.base_url
    errors: list[str] = []

    # -- both agents are at their desks -----------------------------------------------------
    fiona = browser.new_context(viewport=LAPTOP).new_page()
    fiona.on("pageerror", lambda exc: errors.append(f"fiona: {exc}"))
    log_in(fiona, base, "fiona@example.org", wait_for_live=True)
    cora = browser.new_context(viewport=LAPTOP).new_page()
    cora.on("pageerror", lambda exc: errors.append(f"cora: {exc}"))
    log_in(cora, base, "cora@example.org", wait_for_live=True)
    cora_badge = cora.locator("#notif-badge")

    # -- a customer complains on the website chat -------------------------------------------
    visitor = visitor_writes(browser, base, public_key, COMPLAINT, errors=errors)

    # -- routing gives it to the front-line agent on duty, live in her inbox ----------------
    row = fiona.locator(".conv-row", has_text="Ana Souza")
    expect(row).to_contain_text("Fiona Front", timeout=WORKER_TIMEOUT_MS)
    expect(row.locator(".chip-complaint")).to_be_visible()

    # -- she opens it: the SLA timer runs ----------------------------------------------------
    row.locator(".conv-link").click()
    expect(fiona).to_have_url(re.compile(r"/conversations/\d+$"))
    conversation_id = int(fiona.url.rsplit("/", 1)[1])
    expect(fiona.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
    expect(fiona.locator("#conv-state")).to_contain_text("Fiona Front")
    sla = fiona.locator("#panel-sla")
    expect(sla).to_contain_text("Answer within the hour", timeout=WORKER_TIMEOUT_MS)
    timer = sla.locator("[data-sla-clock][data-state='running']", has_text="First response")
    expect(timer).to_be_visible()
    expect(timer.locator(".sla-left")).to_have_text(TIME_LEFT)

    # The inbox shows the same timer beside the conversation.
    fiona.goto(f"{base}/")
    row = fiona.locator(".conv-row", has_text="Ana Souza")
    expect(row.locator(".chip-sla .sla-left")).to_have_text(TIME_LEFT)
    row.locator(".conv-link").click()
    expect(fiona).to_have_url(f"{base}/conversations/{conversation_id}")
    expect(fiona.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
    fiona.evaluate("window.__sdNoReload = true")

    # -- she asks Billing for the refund; the conversation stays hers ------------------------
    requests = fiona.locator("#panel-escalations")
    expect(requests).to_contain_text("No open requests.")
    requests.locator("summary", has_text="Ask another team or person").click()
    requests.get_by_label("Team", exact=True).select_option(label="Billing")
    requests.get_by_label("What you need").fill(ASK)
    requests.get_by_role("button", name="Send request").click()
    asked = requests.locator(".esc-item", has_text=ASK)
    expect(asked).to_contain_text("Fiona Front asked Billing")
    expect(requests).to_contain_text("The conversation stays with its owner")
    expect(fiona.locator("#conv-state")).to_contain_text("Fiona Front")

    # -- the billing agent hears of it: the badge, the notification, the requests page -------
    expect(cora_badge.locator(".notif-count")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    cora_badge.click()
    expect(cora).to_have_url(f"{base}/notifications")
    notice = cora.locator(".notif-item", has_text=f"Fiona Front asks Billing: {ASK}")
    expect(notice).to_have_class(re.compile(r"notif-unread"))
    cora.get_by_role("link", name="Requests", exact=True).click()
    expect(cora).to_have_url(f"{base}/escalations")
    cora.get_by_role("link", name="Asked of my teams").click()
    listed = cora.locator(".esc-table tr", has_text=ASK)
    expect(listed).to_contain_text("Fiona Front")
    expect(listed).to_contain_text("open")
    # Opening the notification marks it read and lands on the conversation's request.
    cora.goto(f"{base}/notifications")
    notice.get_by_role("button", name=re.compile(r"Fiona Front asks Billing")).click()
    expect(cora).to_have_url(re.compile(rf"/conversations/{conversation_id}(#.*)?$"))

    # -- she does it and says what she did --------------------------------------------------
    request = cora.locator("#panel-escalations .esc-item", has_text=ASK)
    request.locator("summary", has_text="Mark done").click()
    # Billing was asked: it may mark the request done but not drop it.
    expect(request.get_by_role("button", name="Cancel request")).to_have_count(0)
    request.get_by_label("What was done").fill(DONE_NOTE)
    request.get_by_role("button", name="Mark done").click()
    closed = cora.locator("#panel-escalations [aria-label='Closed requests'] .esc-item")
    expect(closed).to_contain_text("Done by Cora Billing")
    expect(cora.locator("#panel-escalations")).to_contain_text("No open requests.")

    # -- the owner sees it done without a reload, and is told -------------------------------
    done = requests.locator("[aria-label='Closed requests'] .esc-item.esc-done")
    expect(done).to_contain_text("Done by Cora Billing", timeout=LIVE_TIMEOUT_MS)
    expect(done).to_contain_text(DONE_NOTE)
    expect(fiona.locator("#notif-badge .notif-count")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    fiona.screenshot(path=str(SCREENSHOTS / "socialdesk-no-silos-done.png"), full_page=True)

    # -- she answers the customer; the first-response clock stops --------------------------
    fiona.locator("#reply-text").fill(ANSWER)
    fiona.get_by_role("button", name="Send reply").click()
    outbound = fiona.locator(".msg-outbound", has_text="Billing has refunded")
    expect(outbound).to_be_visible()
    expect(outbound.locator(".delivery-sent")).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)
    met = sla.locator("[data-sla-clock][data-state='met']", has_text="First response")
    expect(met).to_contain_text("met in", timeout=WORKER_TIMEOUT_MS)
    expect(sla.locator("[data-sla-clock][data-state='running']")).to_have_count(0)
    assert fiona.evaluate("window.__sdNoReload") is True, "the conversation page reloaded"
    expect(visitor.locator(".bubble.theirs")).to_contain_text(
        "Billing has refunded", timeout=DELIVERY_TIMEOUT_MS
    )

    # The inbox no longer shows a timer for it.
    fiona.goto(f"{base}/?status=all")
    row = fiona.locator(".conv-row", has_text="Ana Souza")
    expect(row).to_contain_text("Fiona Front")
    expect(row.locator(".chip-sla")).to_have_count(0)

    assert errors == [], errors
    return conversation_id


def _check_stored(live: LiveDesk, conversation_id: int) -> None:
    with live.sessions() as session:
        conversation = session.get_one(Conversation, conversation_id)
        fiona = session.query(Member).filter_by(email="fiona@example.org").one()
        cora = session.query(Member).filter_by(email="cora@example.org").one()
        front = session.query(Team).filter_by(name="Front line").one()
        billing = session.query(Team).filter_by(name="Billing").one()
        # Asking Billing did not hand the conversation over.
        assert conversation.assignee_id == fiona.id
        assert conversation.team_id == front.id
        assert conversation.is_complaint
        assert conversation.sla_due_at is None
        assert not conversation.sla_breached
        request = session.query(EscalationRequest).one()
        assert (request.team_id, request.member_id) == (billing.id, None)
        assert request.status == "done"
        assert request.closed_by_id == cora.id
        assert request.resolution == DONE_NOTE
        # Cora opened the request's notification; Fiona was told it is done.
        told = sorted(
            (n.member_id, n.kind, n.read_at is not None)
            for n in session.query(Notification).order_by(Notification.id)
        )
        assert told == sorted(
            [(cora.id, "escalation.requested", True), (fiona.id, "escalation.done", False)]
        )
        clocks = session.query(SlaClock).filter_by(conversation_id=conversation_id).all()
        assert [(c.target, c.stopped_at is not None, c.breached_at) for c in clocks] == [
            ("first_response", True, None)
        ]
