"""Polling Mastodon mentions with a cursor, against the recorded notifications page."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import AccountContext, AuthError, Visibility
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.mastodon.parse import ANNOTATION
from tests.connectors.fake_http import FakeProvider, recorded, response

FIXTURES = Path(mastodon_pkg.__file__).parent / "fixtures"
NOW = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)


def account(**settings: object) -> AccountContext:
    return AccountContext(
        brand_account_id=7,
        handle="mastodonpy_test",
        settings={"instance_url": "https://social.example", **settings},
        credentials={"access_token": "token-abc"},
    )


def connector(provider: FakeProvider) -> MastodonConnector:
    return MastodonConnector(transport=provider.transport, sleep=lambda _: None, now=lambda: NOW)


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode())


def recorded_page() -> httpx.Response:
    return recorded(FIXTURES / "responses" / "notifications_mentions.json")


def recorded_notification() -> dict[str, Any]:
    page: list[dict[str, Any]] = recorded_page().json()
    return page[0]


def test_first_poll_takes_the_latest_page_and_sets_the_cursor() -> None:
    provider = FakeProvider().on("GET", "/api/v1/notifications", recorded_page())
    result = connector(provider).poll(account(account_id="117020565966271181"), None)

    [sent] = provider.requests
    assert query(sent) == [("types[]", "mention"), ("limit", "40")]
    assert sent.headers["Authorization"] == "Bearer token-abc"
    [event] = result.events
    assert event.kind == "notification.mention"
    assert event.native_id == "notification:21"
    assert event.received_at == NOW
    assert event.payload[ANNOTATION] == {"brand_account_id": "117020565966271181"}
    assert result.cursor == "21"


def test_polled_events_parse() -> None:
    provider = FakeProvider().on("GET", "/api/v1/notifications", recorded_page())
    conn = connector(provider)
    [event] = conn.poll(account(account_id="117020565966271181"), None).events
    [message] = conn.parse(event)
    assert message.text == "@mastodonpy_test hello!"
    assert message.from_brand is False


def test_next_poll_asks_for_what_follows_the_cursor() -> None:
    provider = FakeProvider().on("GET", "/api/v1/notifications", response(200, []))
    result = connector(provider).poll(account(account_id="1"), "21")
    assert ("min_id", "21") in query(provider.requests[0])
    assert result.events == []
    assert result.cursor == "21", "an empty poll keeps the cursor"


def test_pages_are_walked_forward_until_a_short_page() -> None:
    # The recorded notification, repeated under consecutive ids to fill two pages.
    def page(first: int, count: int) -> list[dict[str, Any]]:
        items = []
        for n in range(first, first + count):
            item = copy.deepcopy(recorded_notification())
            item["id"] = str(n)
            items.append(item)
        return list(reversed(items))  # Mastodon lists newest first

    provider = FakeProvider().on(
        "GET", "/api/v1/notifications", response(200, page(101, 40)), response(200, page(141, 3))
    )
    result = connector(provider).poll(account(account_id="1"), "100")
    assert [dict(query(r))["min_id"] for r in provider.requests] == ["100", "140"]
    ids = [e.native_id for e in result.events]
    assert ids == [f"notification:{n}" for n in range(101, 144)], "oldest first, none lost"
    assert result.cursor == "143"


def test_direct_reply_gets_its_thread_root_from_the_context() -> None:
    notification = recorded_notification()
    conversation = json.loads((FIXTURES / "conversation__direct_reply.json").read_text())
    notification["status"] = conversation["last_status"]  # a recorded direct reply
    status_id = notification["status"]["id"]
    context = {"ancestors": [{"id": "117020588300000001"}, {"id": "117020588315335369"}]}
    provider = (
        FakeProvider()
        .on("GET", "/api/v1/notifications", response(200, [notification]))
        .on("GET", f"/api/v1/statuses/{status_id}/context", response(200, context))
    )
    conn = connector(provider)
    [event] = conn.poll(account(account_id="1"), None).events
    assert event.payload[ANNOTATION]["thread_root_id"] == "117020588300000001"
    [message] = conn.parse(event)
    assert message.visibility is Visibility.DIRECT
    assert message.thread_key == "117020588300000001"


def test_brand_id_is_looked_up_once_when_not_configured() -> None:
    me = response(200, {"id": "117020565966271181", "acct": "mastodonpy_test"})
    provider = (
        FakeProvider()
        .on("GET", "/api/v1/notifications", recorded_page())
        .on("GET", "/api/v1/accounts/verify_credentials", me)
    )
    conn = connector(provider)
    conn.poll(account(), None)
    [event] = conn.poll(account(), None).events
    assert event.payload[ANNOTATION]["brand_account_id"] == "117020565966271181"
    assert len(provider.sent("GET", "/api/v1/accounts/verify_credentials")) == 1


def test_revoked_token_stops_the_poll() -> None:
    provider = FakeProvider().on(
        "GET", "/api/v1/notifications", response(401, {"error": "The access token was revoked"})
    )
    with pytest.raises(AuthError, match="revoked"):
        connector(provider).poll(account(account_id="1"), "21")


def test_foreign_cursor_is_treated_as_a_first_poll() -> None:
    provider = FakeProvider().on("GET", "/api/v1/notifications", recorded_page())
    result = connector(provider).poll(account(account_id="1"), "not-an-id")
    assert "min_id" not in dict(query(provider.requests[0]))
    assert result.cursor == "21"
