"""Polling notifications with a watermark cursor, on a recorded page and pages built from it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from socialdesk.connectors.bluesky.parse import ANNOTATION
from socialdesk.connectors.bluesky.poll import PAGE_SIZE
from tests.connectors.bluesky.support import (
    BRAND_DID,
    body,
    connector,
    context,
    response,
    stored_session,
    xrpc,
)
from tests.connectors.fake_http import FakeProvider

LIST = xrpc("app.bsky.notification.listNotifications")
RECORDED: dict[str, Any] = body("list_notifications")["notifications"][0]
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item(n: int, *, reason: str = "mention") -> dict[str, Any]:
    """The recorded notification as the n-th one, n seconds after T0."""
    copied = copy.deepcopy(RECORDED)
    copied["uri"] = f"{RECORDED['uri'][:-4]}{n:04d}"
    copied["reason"] = reason
    copied["indexedAt"] = stamp(T0 + timedelta(seconds=n))
    return copied


def page(items: list[dict[str, Any]], cursor: str | None) -> httpx.Response:
    data: dict[str, Any] = {"notifications": items}
    if cursor is not None:
        data["cursor"] = cursor
    return httpx.Response(200, json=data)


def test_a_first_poll_signs_in_and_takes_the_latest_page() -> None:
    provider = FakeProvider()
    provider.on("POST", xrpc("com.atproto.server.createSession"), response("create_session"))
    provider.on("GET", LIST, response("list_notifications"))
    result = connector(provider).poll(context(), None)

    [request] = provider.sent("GET", LIST)
    assert dict(request.url.params) == {"limit": str(PAGE_SIZE)}
    [event] = result.events
    assert event.kind == "notification.mention"
    assert event.native_id == f"notification:mention:{RECORDED['uri']}"
    assert event.payload[ANNOTATION] == {"brand_did": BRAND_DID}
    assert event.payload["record"] == RECORDED["record"]
    assert result.cursor == RECORDED["indexedAt"]
    assert result.credentials_update is not None
    assert result.credentials_update["did"] == BRAND_DID


def test_pages_are_walked_back_to_the_watermark_and_handed_over_oldest_first() -> None:
    newest = [item(n) for n in range(200, 200 - PAGE_SIZE, -1)]  # 200 .. 151
    older = [item(n) for n in range(150, 150 - PAGE_SIZE, -1)]  # 150 .. 101
    provider = FakeProvider()
    provider.on("GET", LIST, page(newest, "c1"), page(older, "c2"))
    watermark = stamp(T0 + timedelta(seconds=120))
    result = connector(provider).poll(context(stored_session()), watermark)

    first, second = provider.sent("GET", LIST)
    assert "cursor" not in first.url.params
    assert second.url.params["cursor"] == "c1"
    times = [e.payload["indexedAt"] for e in result.events]
    # 120 itself is handed over again (the desk drops the replay), 119 and older are not.
    assert times[0] == watermark
    assert times == sorted(times)
    assert len(result.events) == 200 - 120 + 1
    assert result.cursor == stamp(T0 + timedelta(seconds=200))


def test_likes_are_dropped_and_unknown_reasons_are_handed_over() -> None:
    items = [item(3, reason="like"), item(2, reason="something-new"), item(1, reason="reply")]
    provider = FakeProvider()
    provider.on("GET", LIST, page(items, None))
    result = connector(provider).poll(context(stored_session()), stamp(T0))
    assert [e.kind for e in result.events] == ["notification.reply", "notification.something-new"]
    # The watermark still moves past what was dropped.
    assert result.cursor == stamp(T0 + timedelta(seconds=3))


def test_nothing_new_keeps_the_cursor() -> None:
    provider = FakeProvider()
    provider.on("GET", LIST, page([item(1)], None))
    later = stamp(T0 + timedelta(hours=1))
    result = connector(provider).poll(context(stored_session()), later)
    assert result.events == []
    assert result.cursor == later


def test_a_cursor_this_poller_did_not_write_starts_afresh() -> None:
    provider = FakeProvider()
    provider.on("GET", LIST, page([item(2), item(1)], "more"))
    result = connector(provider).poll(context(stored_session()), "123456")
    assert len(result.events) == 2
    assert len(provider.sent("GET", LIST)) == 1  # a first connection reads one page


def test_notifications_without_an_index_time_are_skipped() -> None:
    broken = item(2)
    broken["indexedAt"] = "soon"
    provider = FakeProvider()
    provider.on("GET", LIST, page([broken, item(1)], None))
    result = connector(provider).poll(context(stored_session()), None)
    assert [e.payload["indexedAt"] for e in result.events] == [item(1)["indexedAt"]]
