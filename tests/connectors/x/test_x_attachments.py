"""Media of X posts and direct messages, on X's documented sample answer for a post with a
video (``fixtures/tweet__with_video.json``) and the recorded direct message.

The documented sample was requested without the ``variants`` media field, so the variants of
its video are written here in the shape of the data dictionary's media object: a list of
``{bit_rate, content_type, url}``, MP4 files at several bit rates and an HLS playlist without
a bit rate (https://docs.x.com/x-api/fundamentals/data-dictionary#media)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import socialdesk.connectors.x as x_pkg
from socialdesk.connectors.base import Attachment, AttachmentKind, RawEvent
from socialdesk.connectors.x import XConnector
from socialdesk.connectors.x.parse import (
    DM_EXPANSIONS,
    MEDIA_FIELDS,
    TWEET_EXPANSIONS,
    event_native_id,
    split_page,
)
from tests.connectors.contract import RECEIVED_AT
from tests.connectors.fake_http import FakeProvider, response
from tests.connectors.x.test_x_poll import MENTIONS, account, connector, params

FIXTURES = Path(x_pkg.__file__).parent / "fixtures"
CONNECTOR = XConnector()
AUTHOR = {"id": "783214", "name": "X", "username": "X"}
VIDEO_KEY = "13_1263145212760805376"
VIDEO = Attachment(
    kind=AttachmentKind.VIDEO,
    preview_url="https://pbs.twimg.com/media/EYeX7akWsAIP1_1.jpg",
)
FILES = "https://video.twimg.com/amplify_video/1263145212760805376"
VARIANTS: list[dict[str, Any]] = [
    {"bit_rate": 832000, "content_type": "video/mp4", "url": f"{FILES}/vid/640x360/a.mp4?tag=13"},
    {"content_type": "application/x-mpegURL", "url": f"{FILES}/pl/b.m3u8?tag=13"},
    {"bit_rate": 2176000, "content_type": "video/mp4", "url": f"{FILES}/vid/1280x720/c.mp4?tag=13"},
    {"bit_rate": 288000, "content_type": "video/mp4", "url": f"{FILES}/vid/480x270/d.mp4?tag=13"},
]
PLAYABLE = Attachment(
    kind=AttachmentKind.VIDEO,
    url=f"{FILES}/vid/1280x720/c.mp4?tag=13",
    preview_url=VIDEO.preview_url,
    mime_type="video/mp4",
)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def with_variants(payload: dict[str, Any], variants: Any = VARIANTS) -> dict[str, Any]:
    """The documented post with its video's ``variants``, as a request for them answers."""
    out = copy.deepcopy(payload)
    out["includes"]["media"][0]["variants"] = copy.deepcopy(variants)
    return out


def with_author(payload: dict[str, Any], id_key: str = "author_id") -> dict[str, Any]:
    """A recorded payload with the author field and user the poller asks X for (the documented
    sample and tweepy's recordings were made without them)."""
    out = copy.deepcopy(payload)
    out["data"].setdefault(id_key, AUTHOR["id"])
    out.setdefault("includes", {})["users"] = [AUTHOR]
    return out


def parse(kind: str, payload: dict[str, Any]) -> list[Any]:
    event = RawEvent(
        native_id=event_native_id(kind, payload),
        kind=kind,
        payload=payload,
        received_at=RECEIVED_AT,
    )
    return CONNECTOR.parse(event)


def test_documented_post_with_a_video() -> None:
    [message] = parse("tweet", with_author(load("tweet__with_video.json")))
    assert message.attachments == (VIDEO,)
    # The t.co link of the media stays in the text, as before.
    assert message.text.endswith("https://t.co/pV53mvjAVT")


def test_split_page_carries_the_media_each_item_refers_to() -> None:
    payload = load("tweet__with_video.json")
    page = {
        "data": [payload["data"], {"id": "1263145271946551301", "text": "no media"}],
        "includes": {"media": [*payload["includes"]["media"], {"media_key": "3_9", "type": "x"}]},
    }
    [(_, with_media), (_, without)] = split_page(page, kind="mention")
    assert with_media["includes"]["media"] == payload["includes"]["media"]
    assert "includes" not in without


def test_a_media_key_missing_from_includes_is_skipped() -> None:
    payload = with_author(load("tweet__with_video.json"))
    payload["data"]["attachments"]["media_keys"] = ["3_404", VIDEO_KEY]
    [message] = parse("tweet", payload)
    assert message.attachments == (VIDEO,)
    del payload["includes"]["media"]
    [message] = parse("tweet", payload)
    assert message.attachments == ()


def test_malformed_or_unusable_media_entries_are_skipped() -> None:
    payload = with_author(load("tweet__with_video.json"))
    video = payload["includes"]["media"][0]
    for broken in (
        {**video, "preview_image_url": "http://pbs.twimg.com/media/EYeX7akWsAIP1_1.jpg"},
        {**video, "preview_image_url": "data:image/jpeg;base64,AAAA"},
        {**video, "preview_image_url": None},
        {**video, "type": "hologram"},
    ):
        payload["includes"]["media"] = [broken, "not an object"]
        [message] = parse("tweet", payload)
        assert message.attachments == ()
    payload["data"]["attachments"] = {"media_keys": "not a list"}
    [message] = parse("tweet", payload)
    assert message.attachments == ()


def test_photo_and_gif_keep_the_authors_order_and_trimmed_alt_text() -> None:
    # The documented media object, read as each type X documents (photo, animated_gif, video).
    payload = with_author(load("tweet__with_video.json"))
    video = payload["includes"]["media"][0]
    photo = {
        "media_key": "3_1",
        "type": "photo",
        "url": "https://pbs.twimg.com/media/EYeX7akWsAIP1_1.jpg",
        "alt_text": "  the dented box  ",
    }
    gif = {**video, "media_key": "16_1", "type": "animated_gif"}
    payload["includes"]["media"] = [video, gif, photo]
    payload["data"]["attachments"]["media_keys"] = ["3_1", "16_1", VIDEO_KEY]
    [message] = parse("tweet", payload)
    assert message.attachments == (
        Attachment(
            kind=AttachmentKind.IMAGE,
            url="https://pbs.twimg.com/media/EYeX7akWsAIP1_1.jpg",
            description="the dented box",
        ),
        Attachment(kind=AttachmentKind.VIDEO, preview_url=VIDEO.preview_url),
        VIDEO,
    )


def test_direct_message_media() -> None:
    recorded = with_author(load("dm.message_create__conversation_lookup.json"), "sender_id")
    recorded["data"]["dm_conversation_id"] = "750362064426721281-1072250532645998596"
    assert parse("dm.message_create", recorded)[0].attachments == ()
    payload = copy.deepcopy(recorded)
    payload["data"]["attachments"] = {"media_keys": [VIDEO_KEY]}
    payload["includes"]["media"] = load("tweet__with_video.json")["includes"]["media"]
    [message] = parse("dm.message_create", payload)
    assert message.attachments == (VIDEO,)


def test_requests_ask_for_media() -> None:
    assert "attachments.media_keys" in TWEET_EXPANSIONS.split(",")
    assert "attachments.media_keys" in DM_EXPANSIONS.split(",")
    assert set(MEDIA_FIELDS.split(",")) == {
        "url",
        "preview_image_url",
        "alt_text",
        "type",
        "variants",
    }


def test_a_video_plays_its_highest_bit_rate_mp4_with_the_preview_kept() -> None:
    [message] = parse("tweet", with_variants(with_author(load("tweet__with_video.json"))))
    assert message.attachments == (PLAYABLE,)


def test_an_animated_gif_plays_its_one_mp4() -> None:
    # X serves a GIF as one MP4 variant, with a bit rate of 0.
    gif_file = "https://video.twimg.com/tweet_video/EYeX7akWsAIP1_1.mp4"
    payload = with_variants(
        with_author(load("tweet__with_video.json")),
        [{"bit_rate": 0, "content_type": "video/mp4", "url": gif_file}],
    )
    payload["includes"]["media"][0]["type"] = "animated_gif"
    [message] = parse("tweet", payload)
    assert message.attachments == (
        Attachment(
            kind=AttachmentKind.VIDEO,
            url=gif_file,
            preview_url=VIDEO.preview_url,
            mime_type="video/mp4",
        ),
    )


def test_variants_that_cannot_be_played_leave_the_preview() -> None:
    best, hls = VARIANTS[2], VARIANTS[1]
    insecure = {**best, "url": best["url"].replace("https:", "http:")}
    for variants in (
        [hls],  # a playlist alone is not a file
        [insecure, "junk", {**best, "content_type": "video/webm"}],
        [{**best, "url": None}],
        "not a list",
        [],
    ):
        payload = with_variants(with_author(load("tweet__with_video.json")), variants)
        [message] = parse("tweet", payload)
        assert message.attachments == (VIDEO,), variants
    # A usable MP4 still wins over an insecure one with a higher bit rate.
    payload = with_variants(with_author(load("tweet__with_video.json")), [insecure, VARIANTS[0]])
    [message] = parse("tweet", payload)
    [attachment] = message.attachments
    assert attachment.url == VARIANTS[0]["url"]
    # A variant without a bit rate counts as 0; a boolean is not a bit rate.
    unrated = {"content_type": "video/mp4", "url": f"{FILES}/vid/x.mp4"}
    flagged = {"bit_rate": True, "content_type": "video/mp4", "url": f"{FILES}/vid/y.mp4"}
    payload = with_variants(with_author(load("tweet__with_video.json")), [unrated, flagged])
    [message] = parse("tweet", payload)
    assert message.attachments[0].url == unrated["url"]


def test_the_poller_asks_for_variants_and_the_video_arrives_playable() -> None:
    post = with_variants(with_author(load("tweet__with_video.json")))
    post["data"]["author_id"] = "1072250532645998596"
    page = {
        "data": [post["data"]],
        "includes": {
            "media": post["includes"]["media"],
            "users": [{**AUTHOR, "id": "1072250532645998596"}],
        },
        "meta": {"newest_id": post["data"]["id"], "result_count": 1},
    }
    provider = (
        FakeProvider()
        .on("GET", MENTIONS, response(200, page))
        .on("GET", "/2/dm_events", response(200, {"meta": {"result_count": 0}}))
    )
    result = connector(provider).poll(account(poll_direct_messages=True), None)

    assert len(provider.requests) == 2
    for request in provider.requests:
        assert "variants" in params(request)["media.fields"].split(",")
    [event] = result.events
    [message] = CONNECTOR.parse(event)
    assert message.attachments == (PLAYABLE,)
