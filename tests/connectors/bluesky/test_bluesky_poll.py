"""Polling notifications with a watermark cursor, on a recorded page and pages built from it,
and reading the views of the notified posts for their photos and videos.

No post with media was recorded from the reference servers: the views below are the recorded
``getPosts`` answer (``responses/get_posts_parent.json``, the view of the recorded notification's
post) with an ``embed`` as the lexicons define it (``test_bluesky_attachments``)."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from socialdesk.connectors.base import AttachmentKind
from socialdesk.connectors.bluesky.parse import ANNOTATION, embed_attachments
from socialdesk.connectors.bluesky.poll import PAGE_SIZE, VIEWS_PER_CALL
from tests.connectors.bluesky.support import (
    BRAND_DID,
    body,
    connector,
    context,
    response,
    stored_session,
    xrpc,
)
from tests.connectors.bluesky.test_bluesky_attachments import IMAGES_VIEW, VIDEO_VIEW
from tests.connectors.fake_http import FakeProvider

LIST = xrpc("app.bsky.notification.listNotifications")
POSTS = xrpc("app.bsky.feed.getPosts")
RECORDED: dict[str, Any] = body("list_notifications")["notifications"][0]
RECORDED_VIEW: dict[str, Any] = body("get_posts_parent")["posts"][0]
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


def view(uri: str, embed: dict[str, Any] | None) -> dict[str, Any]:
    """The recorded view as the view of the post ``uri``, with ``embed`` when given."""
    copied = copy.deepcopy(RECORDED_VIEW)
    copied["uri"] = uri
    if embed is not None:
        copied["embed"] = embed
    return copied


def views_of(embed: dict[str, Any] | None) -> Any:
    """A getPosts answer with a view of every post asked for, each with ``embed``."""

    def answer(request: httpx.Request) -> httpx.Response:
        uris = request.url.params.get_list("uris")
        return httpx.Response(200, json={"posts": [view(uri, embed) for uri in uris]})

    return answer


def asked(provider: FakeProvider) -> list[list[str]]:
    """The URIs of each getPosts call, in order."""
    return [r.url.params.get_list("uris") for r in provider.sent("GET", POSTS)]


def test_a_first_poll_signs_in_and_takes_the_latest_page() -> None:
    provider = FakeProvider()
    provider.on("POST", xrpc("com.atproto.server.createSession"), response("create_session"))
    provider.on("GET", LIST, response("list_notifications"))
    provider.on("GET", POSTS, response("get_posts_parent"))
    result = connector(provider).poll(context(), None)

    [request] = provider.sent("GET", LIST)
    assert dict(request.url.params) == {"limit": str(PAGE_SIZE)}
    [event] = result.events
    assert event.kind == "notification.mention"
    assert event.native_id == f"notification:mention:{RECORDED['uri']}"
    # The post's view was read; it has no photo or video, so nothing is added.
    assert asked(provider) == [[RECORDED["uri"]]]
    assert event.payload[ANNOTATION] == {"brand_did": BRAND_DID}
    assert event.payload["record"] == RECORDED["record"]
    assert result.cursor == RECORDED["indexedAt"]
    assert result.warnings == []
    assert result.credentials_update is not None
    assert result.credentials_update["did"] == BRAND_DID


def test_the_views_of_notified_posts_give_their_photos() -> None:
    provider = FakeProvider()
    provider.on("GET", LIST, response("list_notifications"))
    provider.on(
        "GET", POSTS, httpx.Response(200, json={"posts": [view(RECORDED["uri"], IMAGES_VIEW)]})
    )
    bluesky = connector(provider)
    result = bluesky.poll(context(stored_session()), None)

    [event] = result.events
    assert event.payload[ANNOTATION] == {"brand_did": BRAND_DID, "embed": IMAGES_VIEW}
    assert event.payload["record"] == RECORDED["record"]  # the notification itself, as it came
    [message] = bluesky.parse(event)
    assert message.attachments == embed_attachments(IMAGES_VIEW)
    assert [a.kind for a in message.attachments] == [AttachmentKind.IMAGE, AttachmentKind.IMAGE]
    assert message.attachments[0].url == IMAGES_VIEW["images"][0]["fullsize"]
    assert message.attachments[0].description == "The parcel, crushed on one corner"


def test_views_are_read_25_posts_at_a_time_for_new_posts_only() -> None:
    mentions = [item(n) for n in range(30, 0, -1)]  # 30 .. 1, newest first
    others = [item(40, reason="like"), item(41, reason="something-new")]
    at_watermark = item(0)  # handed over again by every poll: its view was read before
    provider = FakeProvider()
    provider.on("GET", LIST, page([*others, *mentions, at_watermark], None))
    provider.on("GET", POSTS, views_of(VIDEO_VIEW))
    bluesky = connector(provider)
    result = bluesky.poll(context(stored_session()), stamp(T0))

    oldest_first = [item(n)["uri"] for n in range(1, 31)]
    assert asked(provider) == [oldest_first[:VIEWS_PER_CALL], oldest_first[VIEWS_PER_CALL:]]
    assert [len(uris) for uris in asked(provider)] == [25, 5]
    by_uri = {e.payload["uri"]: e for e in result.events if e.kind == "notification.mention"}
    assert by_uri[at_watermark["uri"]].payload[ANNOTATION] == {"brand_did": BRAND_DID}
    for uri in oldest_first:
        [message] = bluesky.parse(by_uri[uri])
        assert [a.kind for a in message.attachments] == [AttachmentKind.VIDEO]
    assert result.warnings == []


def test_views_that_cannot_be_read_leave_the_messages_without_media(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = FakeProvider()
    provider.on("GET", LIST, page([item(2), item(1, reason="reply")], None))
    provider.on("GET", POSTS, httpx.Response(503, json={"error": "InternalServerError"}))
    bluesky = connector(provider)
    with caplog.at_level(logging.WARNING, logger="socialdesk.connectors.bluesky.poll"):
        result = bluesky.poll(context(stored_session()), stamp(T0))

    # Tried as every idempotent read is (two attempts in these tests), then given up on.
    assert len(provider.sent("GET", POSTS)) == 2
    assert [e.kind for e in result.events] == ["notification.reply", "notification.mention"]
    for event in result.events:
        assert "embed" not in event.payload[ANNOTATION]
        [message] = bluesky.parse(event)
        assert message.attachments == ()
    # The cursor still moves: the messages are stored, only their media is missing.
    assert result.cursor == stamp(T0 + timedelta(seconds=2))
    [warning] = result.warnings
    assert "photos and videos of 2 new posts could not be read" in warning
    assert "503" in warning
    assert "could not be read" in caplog.text


def test_one_failed_batch_costs_only_its_own_media() -> None:
    mentions = [item(n) for n in range(VIEWS_PER_CALL + 3, 0, -1)]
    refused = httpx.Response(400, json={"error": "InvalidRequest", "message": "bad uris"})
    provider = FakeProvider()
    provider.on("GET", LIST, page(mentions, None))
    provider.on("GET", POSTS, views_of(IMAGES_VIEW), refused)
    result = connector(provider).poll(context(stored_session()), stamp(T0))

    with_media = [e for e in result.events if "embed" in e.payload[ANNOTATION]]
    assert len(with_media) == VIEWS_PER_CALL
    assert len(result.events) == VIEWS_PER_CALL + 3
    [warning] = result.warnings
    assert "3 new posts" in warning
    assert "InvalidRequest" in warning


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
