"""The desk end to end in a real browser: Debian's Chromium driven by Playwright against a real
server, a real job worker and a SQLite database.

An agent logs in and watches the inbox; a visitor writes on the website chat page in a second
browser context; the conversation appears in the inbox live; the agent opens it with the
keyboard, replies, and the reply reaches the visitor's page without a reload; the agent
assigns, tags, snoozes and resolves, and the trail shows every step. Screenshots of the inbox
and the conversation at laptop and phone sizes go to /tmp for a person to look at.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Priority
from tests.browser.chromium import (
    DELIVERY_TIMEOUT_MS,
    LAPTOP,
    LIVE_TIMEOUT_MS,
    PHONE,
    SCREENSHOTS,
    chromium,
    expect,
    visitor_writes,
)
from tests.browser.desk_time import PASSWORD, add_members, add_website
from tests.browser.server import LiveDesk, live_desk

pytestmark = pytest.mark.browser

# desk.js holds a panel showing a form's error for 20 s before a skipped refresh runs.
HOLD_TIMEOUT_MS = 20_000 + LIVE_TIMEOUT_MS


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, str]]:
    with live_desk(tmp_path) as live:
        with live.sessions() as session:
            org = accounts_service.create_organization(
                session, name="Acme Care", timezone="Europe/Amsterdam"
            )
            add_members(session, org.id, (("olivia@example.org", "Olivia Owner", Role.OWNER),))
            web = add_website(session, org.id, "Acme website")
            session.commit()
        yield live, web.public_key


def _colleague_sets_priority(
    live: LiveDesk, conversation_id: int, priority: Priority = Priority.URGENT
) -> None:
    """A colleague working elsewhere (here: straight through the services) sets the priority
    (urgent: above anything triage sets for this message); the open page must show it without
    a reload."""
    with live.sessions() as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        conversations_service.set_priority(
            session, conversation=conversation, priority=priority, actor=None
        )
        session.commit()


def test_agent_and_visitor_work_a_conversation_end_to_end(
    desk: tuple[LiveDesk, str],
) -> None:
    live, public_key = desk
    base = live.base_url
    with chromium(live) as browser:
        _flow(browser, live, base, public_key)


def _flow(browser, live: LiveDesk, base: str, public_key: str) -> None:  # type: ignore[no-untyped-def]  # Playwright's Browser
    agent_context = browser.new_context(viewport=LAPTOP)
    agent = agent_context.new_page()
    page_errors: list[str] = []
    agent.on("pageerror", lambda exc: page_errors.append(str(exc)))

    # -- log in ---------------------------------------------------------------------------
    agent.goto(f"{base}/")
    expect(agent).to_have_url(re.compile(r"/login\?next=/$"))
    agent.get_by_label("Email").fill("olivia@example.org")
    agent.get_by_label("Password").fill("wrong password")
    agent.get_by_role("button", name="Log in").click()
    expect(agent.locator(".form-error")).to_contain_text("wrong email or password")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Log in").click()
    expect(agent).to_have_url(f"{base}/")
    expect(agent.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
    expect(agent.locator("#conv-rows-empty")).to_be_visible()
    agent.evaluate("window.__sdNoReload = true")

    # -- a visitor writes, in a second browser --------------------------------------------
    visitor = visitor_writes(
        browser, base, public_key, "Hello, my order 1234 has not arrived yet.", errors=page_errors
    )
    visitor.evaluate("window.__sdNoReload = true")

    # -- it appears in the inbox, live ------------------------------------------------------
    row = agent.locator(".conv-row", has_text="Ana Souza")
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(row).to_contain_text("order 1234")
    expect(agent.locator("#count-status-open")).to_have_text("1")
    expect(agent.locator("#count-unassigned")).to_have_text("1")
    assert agent.evaluate("window.__sdNoReload") is True, "the inbox reloaded"
    agent.screenshot(path=str(SCREENSHOTS / "socialdesk-inbox-laptop.png"), full_page=True)

    # -- open it with the keyboard, reply ---------------------------------------------------
    agent.keyboard.press("j")
    expect(row).to_have_class(re.compile(r"is-selected"))
    agent.keyboard.press("Enter")
    expect(agent).to_have_url(re.compile(r"/conversations/\d+$"))
    conversation_id = int(agent.url.rsplit("/", 1)[1])
    expect(agent.locator("h1.conv-title")).to_contain_text("order 1234")
    expect(agent.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)
    agent.evaluate("window.__sdNoReload = true")
    agent.keyboard.press("r")
    expect(agent.locator("#reply-text")).to_be_focused()
    agent.keyboard.type("Hi Ana, your parcel ships today.")
    expect(agent.locator("#reply-remaining")).to_have_text(
        f"{5000 - len('Hi Ana, your parcel ships today.')} characters left"
    )
    agent.keyboard.press("Control+Enter")
    outbound = agent.locator(".msg-outbound", has_text="ships today")
    expect(outbound).to_be_visible()
    expect(agent.locator("#reply-text")).to_have_value("")
    expect(outbound.locator(".delivery-sent")).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)

    # -- the reply reaches the visitor without a reload -------------------------------------
    expect(visitor.locator(".bubble.theirs")).to_contain_text(
        "ships today", timeout=DELIVERY_TIMEOUT_MS
    )
    assert visitor.evaluate("window.__sdNoReload") is True, "the chat page reloaded"

    # -- the visitor answers; the agent sees it in the open conversation --------------------
    visitor.get_by_label("Your message").fill("Great, thank you!")
    visitor.get_by_label("Your message").press("Control+Enter")
    expect(agent.locator(".msg-inbound", has_text="thank you")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )

    # -- a colleague's change shows up live --------------------------------------------------
    _colleague_sets_priority(live, conversation_id)
    expect(agent.locator("#conv-state")).to_contain_text("urgent", timeout=LIVE_TIMEOUT_MS)

    # -- an internal note never reaches the visitor -----------------------------------------
    # After sending, the reply box keeps the focus for a follow-up; Escape leaves it so that
    # single-key shortcuts work again.
    expect(agent.locator("#reply-text")).to_be_focused()
    agent.keyboard.press("Escape")
    agent.keyboard.press("n")
    expect(agent.locator("#note-text")).to_be_focused()
    agent.keyboard.type("Carrier confirmed pickup at 14:00")
    agent.get_by_role("button", name="Add note").click()
    expect(agent.locator(".msg-note")).to_contain_text("Carrier confirmed pickup")

    agent.screenshot(path=str(SCREENSHOTS / "socialdesk-conversation-laptop.png"), full_page=True)

    # -- a form's error stays readable through a colleague's live change, for a while --------
    agent.locator("#snooze-until").fill("2020-01-06T09:00")
    agent.get_by_role("button", name="Snooze", exact=True).click()
    snooze_error = agent.locator("#error-snooze")
    expect(snooze_error).to_be_visible()
    _colleague_sets_priority(live, conversation_id, Priority.HIGH)
    agent.wait_for_timeout(3_000)  # the live event has arrived: the panel waits
    expect(snooze_error).to_be_visible()
    expect(agent.locator("#conv-state")).to_contain_text("urgent")
    # Then the skipped refresh runs, and the colleague's change shows.
    expect(agent.locator("#conv-state")).to_contain_text("high", timeout=HOLD_TIMEOUT_MS)
    expect(snooze_error).to_have_count(0)

    # -- assign, tag, snooze, resolve -------------------------------------------------------
    agent.locator("#claim-button").click()
    expect(agent.locator("#conv-state")).to_contain_text("Olivia Owner")
    agent.locator("#tag-input").fill("Shipping")
    agent.locator("#tag-input").press("Enter")
    expect(agent.locator(".tag-list")).to_contain_text("#shipping")
    agent.get_by_role("button", name="1 hour").click()
    expect(agent.locator("#conv-state")).to_contain_text("snoozed")
    agent.locator("#resolve-button").click()
    expect(agent.locator("#conv-state")).to_contain_text("resolved")
    expect(agent.get_by_role("button", name="Reopen")).to_be_visible()

    trail = agent.locator("#trail")
    for step in (
        "added an internal note",
        "set priority to urgent",
        "set priority to high",
        "claimed it",
        "tagged it #shipping",
        "snoozed it",
        "resolved the conversation",
    ):
        expect(trail).to_contain_text(step)
    expect(trail).not_to_contain_text("assigned it to Olivia Owner")  # the claim says it
    assert agent.evaluate("window.__sdNoReload") is True, "the conversation page reloaded"

    # The visitor's page, reloaded, still has no note and both of the desk's words only once.
    visitor.reload()
    expect(visitor.locator(".bubble.theirs")).to_have_count(1)
    expect(visitor.locator("body")).not_to_contain_text("Carrier confirmed")

    # -- the inbox's filters: the list, the counts and the address follow -------------------
    agent.goto(f"{base}/")
    expect(agent.locator("#conv-rows-empty")).to_be_visible()
    expect(agent.locator("#count-status-resolved")).to_have_text("1")
    agent.locator("label.pill", has_text="Resolved").click()
    expect(agent).to_have_url(f"{base}/?status=resolved")
    resolved_row = agent.locator(".conv-row", has_text="Ana Souza")
    expect(resolved_row).to_contain_text("#shipping")
    expect(resolved_row).to_contain_text("Olivia Owner")
    agent.get_by_label("Search messages").fill("nothing like this")
    expect(agent.locator("#conv-rows-empty")).to_be_visible()
    agent.get_by_label("Search messages").fill("parcel")
    expect(resolved_row).to_be_visible()
    expect(agent).to_have_url(f"{base}/?status=resolved&q=parcel")

    # -- phone-size screenshots ---------------------------------------------------------------
    agent.goto(f"{base}/?status=resolved")
    expect(agent.locator(".conv-row", has_text="Ana Souza")).to_contain_text("#shipping")
    agent.set_viewport_size(PHONE)
    agent.screenshot(path=str(SCREENSHOTS / "socialdesk-inbox-phone.png"), full_page=True)
    agent.goto(f"{base}/conversations/{conversation_id}")
    agent.screenshot(path=str(SCREENSHOTS / "socialdesk-conversation-phone.png"), full_page=True)
    visitor.screenshot(path=str(SCREENSHOTS / "socialdesk-chat-phone.png"), full_page=True)

    # -- help dialog by keyboard --------------------------------------------------------------
    agent.keyboard.press("?")
    expect(agent.get_by_role("dialog")).to_contain_text("Keyboard shortcuts")
    agent.keyboard.press("Escape")
    expect(agent.get_by_role("dialog")).not_to_be_visible()

    assert not page_errors, page_errors
    agent_context.close()
    visitor.context.close()


class _HostPage(BaseHTTPRequestHandler):
    """A brand's website: one page that embeds the widget."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


def test_widget_opens_the_chat_on_another_site(desk: tuple[LiveDesk, str]) -> None:
    live, public_key = desk
    host_page = (
        "<!doctype html><title>Acme shop</title><h1>Acme shop</h1>"
        f'<script src="{live.base_url}/chat/{public_key}/widget.js" async></script>'
    ).encode()
    handler = type("HostPage", (_HostPage,), {"body": host_page})
    host = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    # "localhost" is another site than the desk's "127.0.0.1", as a customer's website is.
    host_url = f"http://localhost:{host.server_address[1]}/"
    try:
        with chromium(live) as browser:
            page = browser.new_page(viewport=LAPTOP)
            page.goto(host_url)
            button = page.get_by_role("button", name="Chat with us")
            expect(button).to_be_visible()
            expect(button).to_have_attribute("aria-expanded", "false")
            button.click()
            expect(button).to_have_attribute("aria-expanded", "true")
            frame = page.frame_locator("#socialdesk-chat-panel iframe")
            expect(frame.locator("h1")).to_have_text("Acme website")
            expect(frame.get_by_label("Your message")).to_be_visible()
            page.screenshot(path=str(SCREENSHOTS / "socialdesk-widget-laptop.png"))
            # Escape inside the chat closes the panel and gives the focus back to the button
            # (once the chat page's script listens for keys).
            expect(frame.locator("html[data-sd-ready]")).to_have_count(1)
            frame.get_by_label("Your message").press("Escape")
            expect(page.locator("#socialdesk-chat-panel")).to_be_hidden()
            expect(button).to_be_focused()
    finally:
        host.shutdown()
        host.server_close()
