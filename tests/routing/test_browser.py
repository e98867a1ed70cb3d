"""Routing end to end in a real browser (Debian's Chromium via Playwright, a real server and
job worker, as in tests/browser).

An admin chooses round robin on the routing page, marks herself away in the duty table, and
builds a rule through the form (keywords "refund" go to Billing and are auto-assigned); a
visitor writes about a refund on the website chat; the worker routes the new conversation to
the only billing agent on duty; the routing page shows her load.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.channels import service as channels_service
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from tests.browser.desk_time import PASSWORD, add_members
from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, LiveDesk, live_desk

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

LAPTOP = {"width": 1366, "height": 900}
ROUTED_TIMEOUT_S = 30.0


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[LiveDesk, str, int]]:
    with live_desk(tmp_path) as live, live.sessions() as session:
        org = accounts_service.create_organization(session, name="Acme Care")
        members = add_members(
            session,
            org.id,
            (
                ("olivia@example.org", "Olivia Owner", Role.OWNER),
                ("cora@example.org", "Cora Billing", Role.AGENT),
                ("sam@example.org", "Sam Support", Role.AGENT),
            ),
        )
        billing = accounts_service.create_team(session, organization_id=org.id, name="Billing")
        support = accounts_service.create_team(session, organization_id=org.id, name="Support")
        accounts_service.add_to_team(session, team=billing, member=members["Cora Billing"])
        accounts_service.add_to_team(session, team=support, member=members["Sam Support"])
        web = channels_service.create(session, organization_id=org.id, kind="web", handle="website")
        session.commit()
        yield live, web.public_key, members["Cora Billing"].id


def _routed(live: LiveDesk) -> Conversation:
    deadline = time.monotonic() + ROUTED_TIMEOUT_S
    while time.monotonic() < deadline:
        with live.sessions() as session:
            conversation = session.query(Conversation).first()
            if conversation is not None and conversation.assignee_id is not None:
                tags = conversations_service.tags_of(session, conversation_id=conversation.id)
                session.expunge(conversation)
                assert tags == ["refund"]
                return conversation
        time.sleep(0.3)
    raise AssertionError(f"the conversation was not routed within {ROUTED_TIMEOUT_S:.0f}s")


def test_an_admin_sets_up_routing_and_a_refund_reaches_billing(
    office: tuple[LiveDesk, str, int],
) -> None:
    live, public_key, cora_id = office
    base = live.base_url
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            admin = browser.new_context(viewport=LAPTOP).new_page()
            errors: list[str] = []
            admin.on("pageerror", lambda exc: errors.append(str(exc)))
            admin.goto(f"{base}/login")
            admin.get_by_label("Email").fill("olivia@example.org")
            admin.get_by_label("Password").fill(PASSWORD)
            admin.get_by_role("button", name="Log in").click()
            expect(admin).to_have_url(f"{base}/")

            admin.goto(f"{base}/admin/routing")
            admin.get_by_label("Round robin", exact=False).check()
            admin.get_by_role("button", name="Save settings").click()
            expect(admin.get_by_label("Round robin", exact=False)).to_be_checked()
            admin.get_by_label("Availability of Olivia Owner").select_option("away")
            admin.locator("tr", has_text="Olivia Owner").get_by_role("button", name="Save").click()
            expect(admin.locator("tr", has_text="Olivia Owner")).to_contain_text("went away")

            admin.get_by_role("link", name="Add a rule").click()
            admin.get_by_label("Name").fill("Refunds to billing")
            first = admin.locator('[data-condition="0"]')
            first.get_by_label("Field").select_option("keywords")
            first.get_by_label("Operator").select_option("any")
            first.get_by_label("Value").fill("refund, charged twice")
            team = admin.locator('[data-action="0"]')
            team.get_by_label("Action").select_option("set_team")
            team.get_by_label("Team", exact=False).select_option(label="Billing")
            tag = admin.locator('[data-action="1"]')
            tag.get_by_label("Action").select_option("add_tag")
            tag.get_by_label("Tag").fill("refund")
            admin.get_by_role("button", name="Create rule").click()
            expect(admin).to_have_url(f"{base}/admin/routing")
            rule = admin.locator("[data-rule]", has_text="Refunds to billing")
            expect(rule).to_contain_text("keywords in the latest message has any of refund")
            expect(rule).to_contain_text("team Billing, tag #refund")
            admin.screenshot(path="/tmp/socialdesk-routing-laptop.png", full_page=True)

            visitor = browser.new_context().new_page()
            visitor.goto(f"{base}/chat/{public_key}")
            visitor.get_by_label("Your name").fill("Ana Souza")
            visitor.get_by_label("Your message").fill("I was charged twice, I want a refund")
            visitor.get_by_role("button", name="Send").click()
            expect(visitor.locator(".bubble.mine")).to_contain_text("refund")

            conversation = _routed(live)
            assert conversation.assignee_id == cora_id  # Billing's only member on duty
            admin.goto(f"{base}/admin/routing")
            expect(admin.locator("tr", has_text="Cora Billing")).to_contain_text("1 / 10")
            assert errors == []
        except Exception as exc:
            raise AssertionError(f"{exc}\n{live.logs()}") from exc
        finally:
            browser.close()
