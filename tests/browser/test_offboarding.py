"""Joining and leaving, end to end in a real browser (Debian's Chromium via Playwright, a real
server and job worker, as in test_desk_flow).

An admin invites a new agent and copies the one-time link; the agent opens it in a second
browser, joins, logs in with the new password, takes a conversation and replies; the admin
deactivates the agent handing the open work to a colleague; the agent's next page load is
logged out; the colleague finds the handed-over conversation under "Mine".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.conversations import flows
from tests.browser.chromium import (
    DELIVERY_TIMEOUT_MS,
    LAPTOP,
    SCREENSHOTS,
    chromium,
    expect,
    log_in,
)
from tests.browser.desk_time import add_members, add_website
from tests.browser.server import LiveDesk, live_desk
from tests.factories.conversations import inbound

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a long new agent password"


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    """A desk with an owner, a colleague, a website channel and one customer waiting."""
    with live_desk(tmp_path) as live:
        with live.sessions() as session:
            org = accounts_service.create_organization(
                session, name="Acme Care", timezone="Europe/Amsterdam"
            )
            add_members(
                session,
                org.id,
                (
                    ("olivia@example.org", "Olivia Owner", Role.OWNER),
                    ("cora@example.org", "Cora Colleague", Role.AGENT),
                ),
            )
            web = add_website(session, org.id)
            result = flows.ingest_message(
                session,
                account=web,
                message=inbound(
                    text="Where is my refund for order 77?", author="ana", thread_key="visitor:ana"
                ),
            )
            session.commit()
            conversation_id = result.conversation.id
        yield live, conversation_id


def test_invite_join_work_and_offboard(office: tuple[LiveDesk, int]) -> None:
    live, conversation_id = office
    with chromium(live) as browser:
        _flow(browser, live.base_url, conversation_id)


def _flow(browser, base: str, conversation_id: int) -> None:  # type: ignore[no-untyped-def]  # Playwright's Browser
    page_errors: list[str] = []

    # -- the admin invites a new agent --------------------------------------------------------
    admin = browser.new_context(viewport=LAPTOP).new_page()
    admin.on("pageerror", lambda exc: page_errors.append(f"admin: {exc}"))
    log_in(admin, base, "olivia@example.org")
    admin.get_by_role("link", name="Admin").click()
    expect(admin).to_have_url(f"{base}/admin/members")
    admin.get_by_label("Email").fill("nina@example.org")
    admin.get_by_label("Role").select_option("agent")
    admin.get_by_role("button", name="Create invitation link").click()
    link = admin.locator("#invite-link")
    expect(link).to_contain_text("/invitations/")
    invitation_url = link.inner_text().strip()
    admin.screenshot(path=str(SCREENSHOTS / "socialdesk-admin-invite.png"), full_page=True)

    # -- the agent joins in another browser, then logs in with the new password ---------------
    agent_context = browser.new_context(viewport=LAPTOP)
    agent = agent_context.new_page()
    agent.on("pageerror", lambda exc: page_errors.append(f"agent: {exc}"))
    agent.goto(invitation_url)
    expect(agent.get_by_role("heading", name="Join Acme Care")).to_be_visible()
    agent.get_by_label("Your name").fill("Nina Newcomer")
    agent.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    agent.get_by_label("Password again").fill(NEW_PASSWORD)
    agent.get_by_role("button", name="Join").click()
    expect(agent).to_have_url(f"{base}/")
    expect(agent.locator(".whoami")).to_have_text("Nina Newcomer")
    agent.get_by_role("button", name="Log out").click()
    expect(agent).to_have_url(re.compile(r"/login"))
    log_in(agent, base, "nina@example.org", NEW_PASSWORD)

    # -- the agent takes the conversation and replies -----------------------------------------
    agent.goto(f"{base}/conversations/{conversation_id}")
    agent.locator("#claim-button").click()
    expect(agent.locator("#conv-state")).to_contain_text("Nina Newcomer")
    agent.locator("#reply-text").fill("Hi Ana, the refund went out this morning.")
    agent.locator("#reply-text").press("Control+Enter")
    outbound = agent.locator(".msg-outbound", has_text="refund went out")
    expect(outbound).to_be_visible()
    expect(outbound.locator(".delivery-sent")).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)

    # -- the admin deactivates the agent, handing the work to a colleague ---------------------
    admin.goto(f"{base}/admin/members")
    admin.get_by_role("link", name="Nina Newcomer").click()
    admin.get_by_label("Open conversations go to").select_option(label="Cora Colleague")
    admin.get_by_role("button", name="Deactivate Nina Newcomer").click()
    report = admin.locator("#handover-report")
    expect(report).to_contain_text("1 login session(s) ended")
    expect(report.locator("tr", has_text="Cora Colleague")).to_contain_text("refund")
    admin.screenshot(path=str(SCREENSHOTS / "socialdesk-admin-handover.png"), full_page=True)

    # -- the agent's next page load is logged out ------------------------------------------------
    agent.reload()
    expect(agent).to_have_url(re.compile(r"/login\?next="))

    # -- the colleague finds the conversation under "Mine", the reply still Nina's --------------
    colleague = browser.new_context(viewport=LAPTOP).new_page()
    colleague.on("pageerror", lambda exc: page_errors.append(f"colleague: {exc}"))
    log_in(colleague, base, "cora@example.org")
    colleague.goto(f"{base}/?assignee=me")
    row = colleague.locator(".conv-row", has_text="refund")
    expect(row).to_be_visible()
    row.locator("a").first.click()
    expect(colleague).to_have_url(f"{base}/conversations/{conversation_id}")
    expect(colleague.locator("#conv-state")).to_contain_text("Cora Colleague")
    expect(colleague.locator(".msg-outbound", has_text="refund went out")).to_contain_text(
        "Nina Newcomer"
    )

    assert not page_errors, page_errors
