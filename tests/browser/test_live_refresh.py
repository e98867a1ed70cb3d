"""A live refresh of the conversation's side panel waits a moment after its event, so that a
burst of events makes one request. If the agent posts one of the panel's forms during that
moment, the refresh must not go: the panel's requests replace each other (hx-sync), so a refresh
sent then would abort the agent's post, and a snooze time in the past would never show its error.

The post is held by the browser's network layer while the delayed refresh comes due, so this
fails every time the refresh is sent regardless of the machine's speed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socialdesk.accounts.models import Role
from tests.browser.chromium import LIVE_TIMEOUT_MS, chromium, expect, log_in
from tests.browser.desk_time import one_question
from tests.browser.server import LiveDesk

pytestmark = pytest.mark.browser

# Longer than the refresh's delay (live_delay in conversation.html), so it comes due while the
# post is held.
HOLD_MS = 1000


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[LiveDesk, int]]:
    people = (("priya@example.org", "Priya Shah", Role.AGENT),)
    with one_question(tmp_path, people) as desk:
        yield desk


def test_a_post_made_while_a_live_refresh_waits_is_answered_not_aborted(
    desk: tuple[LiveDesk, int],
) -> None:
    live, conversation_id = desk
    base = live.base_url
    with chromium(live) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(page, base, "priya@example.org")
        page.goto(f"{base}/conversations/{conversation_id}")
        expect(page.locator("#live")).to_have_attribute("data-state", "on", timeout=LIVE_TIMEOUT_MS)

        held: list[Any] = []  # Playwright's Route

        def hold(route: Any) -> None:
            held.append(route)

        page.route(f"**/conversations/{conversation_id}/snooze", hold)
        side_refreshes: list[str] = []
        page.on(
            "request",
            lambda request: (
                side_refreshes.append(request.url)
                if request.method == "GET" and request.url.endswith("/side")
                else None
            ),
        )

        # A colleague's change arrives, and in the same instant the agent snoozes to a time
        # already gone: the refresh is let through (nothing is being edited yet) and waits.
        page.evaluate(
            """data => {
                const side = document.getElementById("side");
                htmx.trigger(side, "sse:conversation.changed", {data: data});
                document.getElementById("snooze-until").value = "2020-01-06T09:00";
                document.querySelector(".snooze-form").requestSubmit();
            }""",
            json.dumps({"conversation_id": conversation_id}),
        )
        page.wait_for_timeout(HOLD_MS)
        assert len(held) == 1, "the snooze was not posted"
        held[0].continue_()

        error = page.locator("#error-snooze")
        expect(error).to_be_visible()
        expect(error).to_contain_text("a time in the future")
        assert side_refreshes == [], f"a refresh was sent during the post: {side_refreshes}"
