"""Approvals end to end in a real browser (Chromium via Playwright, a real server, a real job
worker, SQLite).

An admin writes a code of conduct with an ``approve`` rule in the policy editor. A visitor
writes on the website chat. An agent drafts a reply that triggers the rule and the reply box
says, while typing, that it will go to an approver; the agent sends it and the conversation
shows it held. The admin opens the approval queue, edits the text and approves; the worker
delivers it; the visitor sees the edited reply; the conversation's trail shows the request and
the approval.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
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

POLICY = """\
rules:
  - id: refunds-need-approval
    explain: "Refund promises need a supervisor's approval."
    action: approve
    terms: [refund]
"""


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, str]]:
    with live_desk(tmp_path) as live:
        with live.sessions() as session:
            org = accounts_service.create_organization(session, name="Acme Care")
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
        yield live, web.public_key


def test_a_held_reply_is_edited_approved_and_delivered(desk: tuple[LiveDesk, str]) -> None:
    live, public_key = desk
    with chromium(live) as browser:
        _flow(browser, live.base_url, public_key)


def _flow(browser, base: str, public_key: str) -> None:  # type: ignore[no-untyped-def]  # Playwright's Browser
    page_errors: list[str] = []

    # -- the admin writes the policy in the editor ------------------------------------------
    admin_context = browser.new_context(viewport=LAPTOP)
    admin = admin_context.new_page()
    admin.on("pageerror", lambda exc: page_errors.append(f"admin: {exc}"))
    log_in(admin, base, "olivia@example.org")
    admin.get_by_role("link", name="Code of conduct").click()
    expect(admin).to_have_url(f"{base}/conduct")
    admin.get_by_label("Rules (YAML)").fill(POLICY.replace("action: approve", "action: maybe"))
    admin.get_by_label("What changed and why").fill("refunds need a supervisor")
    admin.get_by_role("button", name="Save as a new version").click()
    expect(admin.locator("#error-policy")).to_contain_text("Line 4")
    expect(admin.locator("#error-policy")).to_contain_text("refunds-need-approval")
    admin.get_by_label("Rules (YAML)").fill(POLICY)
    admin.get_by_role("button", name="Save as a new version").click()
    expect(admin.locator("#versions")).to_contain_text("refunds need a supervisor")

    # -- a visitor writes on the website chat -----------------------------------------------
    visitor = visitor_writes(
        browser,
        base,
        public_key,
        "My blender arrived broken. Can I get my money back?",
        errors=page_errors,
    )

    # -- the agent drafts a reply; the reply box says it needs approval ---------------------
    agent_context = browser.new_context(viewport=LAPTOP)
    agent = agent_context.new_page()
    agent.on("pageerror", lambda exc: page_errors.append(f"agent: {exc}"))
    log_in(agent, base, "alex@example.org")
    row = agent.locator(".conv-row", has_text="Ana Souza")
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    row.locator("a").first.click()
    expect(agent).to_have_url(re.compile(r"/conversations/\d+$"))
    expect(agent.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
    agent.locator("#reply-text").click()
    agent.keyboard.type("Sorry Ana! We will refund you today.")
    feedback = agent.locator("#reply-feedback")
    expect(feedback).to_contain_text("will be sent to an approver")
    expect(feedback).to_contain_text("Refund promises need a supervisor's approval.")
    expect(feedback.locator("mark[data-rule='refunds-need-approval']")).to_have_text("refund")
    agent.screenshot(path=str(SCREENSHOTS / "socialdesk-reply-feedback-laptop.png"))
    agent.get_by_role("button", name="Send reply").click()
    held = agent.locator(".msg-outbound", has_text="refund you today")
    expect(held.locator(".delivery-held")).to_contain_text("Held for approval")
    expect(agent.locator("#reply-text")).to_have_value("")
    agent.evaluate("window.__sdNoReload = true")

    # -- the admin edits and approves in the queue ------------------------------------------
    admin.get_by_role("link", name="Approvals").click()
    expect(admin).to_have_url(f"{base}/approvals")
    item = admin.locator(".queue > li", has_text="Alex Agent")
    expect(item).to_contain_text("refund you today")
    expect(item.locator("mark[data-rule='refunds-need-approval']")).to_have_text("refund")
    item.get_by_label("Text to send (edit if needed)").fill(
        "Sorry Ana! We will refund you within 5 working days."
    )
    item.get_by_label("Comment for Alex Agent").fill("no same-day promises")
    admin.screenshot(path=str(SCREENSHOTS / "socialdesk-approvals-laptop.png"), full_page=True)
    item.get_by_role("button", name="Approve and send").click()
    expect(admin.locator("#queue-empty")).to_be_visible()

    # -- the worker delivers it; the agent's page follows live ------------------------------
    delivered = agent.locator(".msg-outbound", has_text="within 5 working days")
    expect(delivered.locator(".delivery-sent")).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)
    assert agent.evaluate("window.__sdNoReload") is True, "the conversation page reloaded"

    # -- the visitor sees the edited reply, never the original ------------------------------
    expect(visitor.locator(".bubble.theirs")).to_contain_text(
        "within 5 working days", timeout=DELIVERY_TIMEOUT_MS
    )
    expect(visitor.locator("body")).not_to_contain_text("refund you today")

    # -- the trail shows the request, the approval, and the promise moved with the edit ------
    agent.reload()
    trail = agent.locator("#trail")
    expect(trail).to_contain_text("Alex Agent wrote a reply that waits for approval")
    expect(trail).to_contain_text("Olivia Owner approved the held reply with edits")
    # "today" became "within 5 working days": the promise is due when the sent text says.
    expect(trail).to_contain_text("Olivia Owner changed promise")

    assert not page_errors, page_errors
    for context in (admin_context, visitor.context, agent_context):
        context.close()
