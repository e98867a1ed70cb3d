"""Polling X mentions and direct messages against recorded pages."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import socialdesk.connectors.x as x_pkg
from socialdesk.connectors.base import AccountContext, AuthError
from socialdesk.connectors.x import XConnector
from socialdesk.connectors.x.parse import ANNOTATION
from socialdesk.connectors.x.poll import Cursor
from tests.connectors.fake_http import FakeProvider, recorded, response

RESPONSES = Path(x_pkg.__file__).parent / "fixtures" / "responses"
NOW = datetime(2022, 10, 28, 2, 0, tzinfo=UTC)
BRAND = "783214"
MENTIONS = f"/2/users/{BRAND}/mentions"


def account(**settings: object) -> AccountContext:
    return AccountContext(
        brand_account_id=9,
        handle="Twitter",
        settings={"user_id": BRAND, **settings},
        credentials={"access_token": "oauth2-user-token"},
    )


def connector(provider: FakeProvider) -> XConnector:
    return XConnector(transport=provider.transport, sleep=lambda _: None, now=lambda: NOW)


def params(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def mentions_page() -> httpx.Response:
    return recorded(RESPONSES / "mentions_page.json")


def test_first_poll_takes_recent_mentions_oldest_first() -> None:
    provider = FakeProvider().on("GET", MENTIONS, mentions_page())
    result = connector(provider).poll(account(), None)

    [sent] = provider.requests
    query = params(sent)
    assert query["max_results"] == "20"
    assert "since_id" not in query
    assert "author_id" in query["tweet.fields"].split(",")
    assert "created_at" in query["tweet.fields"].split(",")
    assert "referenced_tweets" in query["tweet.fields"].split(",")
    assert "author_id" in query["expansions"].split(",")
    assert sent.headers["Authorization"] == "Bearer oauth2-user-token"
    ids = [e.native_id for e in result.events]
    assert len(ids) == 10
    assert ids[0] == "tweet:1578516107798884353"
    assert ids[-1] == "tweet:1578516295611748353"
    assert all(e.kind == "mention" and e.received_at == NOW for e in result.events)
    assert all(e.payload[ANNOTATION] == {"brand_user_id": BRAND} for e in result.events)
    assert result.cursor is not None
    assert Cursor.read(result.cursor) == Cursor(mentions="1578516295611748353")


def test_next_poll_uses_since_id_and_follows_pages() -> None:
    provider = FakeProvider().on(
        "GET", MENTIONS, mentions_page(), response(200, {"meta": {"result_count": 0}})
    )
    result = connector(provider).poll(account(), json.dumps({"mentions": "1578516000000000000"}))
    first, second = provider.requests
    assert params(first)["since_id"] == "1578516000000000000"
    assert params(first)["max_results"] == "100"
    assert "pagination_token" not in params(first)
    assert params(second)["pagination_token"] == "7140dibdnow9c7btw423i3sy3u5zupmkcpofxcsmxj48j"
    assert len(result.events) == 10
    assert Cursor.read(result.cursor).mentions == "1578516295611748353"


def test_empty_poll_keeps_the_cursor() -> None:
    provider = FakeProvider().on("GET", MENTIONS, response(200, {"meta": {"result_count": 0}}))
    result = connector(provider).poll(account(), "1578516295611748353")
    assert result.events == []
    assert Cursor.read(result.cursor) == Cursor(mentions="1578516295611748353")


def test_user_id_is_looked_up_once_when_not_configured() -> None:
    me = recorded(RESPONSES / "users_me.json")
    mentions = "/2/users/1072250532645998596/mentions"
    provider = (
        FakeProvider()
        .on("GET", "/2/users/me", me)
        .on("GET", mentions, response(200, {"meta": {"result_count": 0}}))
    )
    conn = connector(provider)
    no_id = AccountContext(9, "TweepyDev", {}, {"access_token": "t"})
    conn.poll(no_id, None)
    conn.poll(no_id, None)
    assert len(provider.sent("GET", "/2/users/me")) == 1
    assert len(provider.sent("GET", mentions)) == 2


def test_direct_messages_are_polled_when_enabled() -> None:
    page = recorded(RESPONSES / "dm_conversation_events.json")
    provider = (
        FakeProvider()
        .on("GET", MENTIONS, response(200, {"meta": {"result_count": 0}}))
        .on("GET", "/2/dm_events", page)
    )
    result = connector(provider).poll(account(poll_direct_messages=True), None)
    [dm_request] = provider.sent("GET", "/2/dm_events")
    query = params(dm_request)
    assert query["event_types"] == "MessageCreate"
    for field in ("sender_id", "dm_conversation_id", "created_at"):
        assert field in query["dm_event.fields"].split(",")
    assert [e.native_id for e in result.events] == [
        "dm:1585800613253812228",
        "dm:1585800613752881156",
    ]
    assert {e.kind for e in result.events} == {"dm.message_create"}
    assert Cursor.read(result.cursor).dms == "1585800613752881156"


def test_direct_messages_stop_at_the_cursor() -> None:
    page = recorded(RESPONSES / "dm_conversation_events.json")  # has a next_token
    provider = (
        FakeProvider()
        .on("GET", MENTIONS, response(200, {"meta": {"result_count": 0}}))
        .on("GET", "/2/dm_events", page)
    )
    cursor = Cursor(mentions="1", dms="1585800613253812228").write()
    result = connector(provider).poll(account(poll_direct_messages=True), cursor)
    assert [e.native_id for e in result.events] == ["dm:1585800613752881156"]
    assert len(provider.sent("GET", "/2/dm_events")) == 1, "the page reached the cursor"


def test_direct_messages_refused_by_tier_do_not_stop_mentions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = response(
        403,
        {
            "title": "Client Forbidden",
            "detail": "You currently have access to a subset of X API V2 endpoints",
            "reason": "client-not-enrolled",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
        },
    )
    provider = (
        FakeProvider()
        .on("GET", MENTIONS, mentions_page(), response(200, {"meta": {"result_count": 0}}))
        .on("GET", "/2/dm_events", refused)
    )
    cursor = Cursor(mentions="1578516000000000000", dms="1585800613253812228").write()
    with caplog.at_level(logging.WARNING):
        result = connector(provider).poll(account(poll_direct_messages=True), cursor)
    assert len(result.events) == 10
    assert Cursor.read(result.cursor).dms == "1585800613253812228"
    assert "access tier problem" in caplog.text


def test_overlapping_pages_give_each_post_once() -> None:
    provider = FakeProvider().on("GET", MENTIONS, mentions_page())  # every page the same
    result = connector(provider).poll(account(), "1578516000000000000")
    assert len(provider.requests) == 5, "bounded by MAX_PAGES"
    assert len(result.events) == 10


def test_revoked_token_stops_the_poll() -> None:
    provider = FakeProvider().on("GET", MENTIONS, response(401, {"title": "Unauthorized"}))
    with pytest.raises(AuthError):
        connector(provider).poll(account(), None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, Cursor()),
        ("", Cursor()),
        ("123", Cursor(mentions="123")),
        ('{"mentions":"5","dms":"6"}', Cursor("5", "6")),
        ('{"mentions":"not-an-id"}', Cursor()),
        ("garbage", Cursor()),
        ("[1]", Cursor()),
    ],
)
def test_cursor_reading(raw: str | None, expected: Cursor) -> None:
    assert Cursor.read(raw) == expected


def test_cursor_round_trip() -> None:
    cursor: Any = Cursor("5", None)
    assert cursor.write() == '{"mentions":"5"}'
    assert Cursor.read(cursor.write()) == cursor
    assert Cursor().write() is None
