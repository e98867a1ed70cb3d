"""Files of Messenger messages and photos of feed comments, on the connector's documented
deliveries (``fixtures/``, after Meta's webhook reference)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import socialdesk.connectors.facebook as facebook_pkg
from socialdesk.connectors.base import Attachment, AttachmentKind, RawEvent
from socialdesk.connectors.facebook import FacebookConnector
from socialdesk.connectors.facebook.webhook import events_from_delivery
from tests.connectors.contract import RECEIVED_AT

FIXTURES = Path(facebook_pkg.__file__).parent / "fixtures"
CONNECTOR = FacebookConnector()
IMAGE_URL = "https://scontent.xx.fbcdn.net/v/t1.15752-9/damaged_box.jpg"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def parse(body: dict[str, Any]) -> list[Any]:
    [event] = events_from_delivery(json.dumps(body).encode(), received_at=RECEIVED_AT)
    assert isinstance(event, RawEvent)
    return CONNECTOR.parse(event)


def message_attachments(body: dict[str, Any]) -> list[Any]:
    attachments: list[Any] = body["entry"][0]["messaging"][0]["message"]["attachments"]
    return attachments


def test_messenger_image() -> None:
    [message] = parse(load("messaging.message__image_attachment.json"))
    assert message.attachments == (Attachment(kind=AttachmentKind.IMAGE, url=IMAGE_URL),)
    # The image is an attachment, not words: the person wrote nothing.
    assert message.text == ""


def test_messenger_every_documented_type_in_order() -> None:
    body = copy.deepcopy(load("messaging.message__image_attachment.json"))
    [image] = message_attachments(body)
    message_attachments(body)[:] = [
        {"type": kind, "payload": {"url": f"https://cdn.fbsbx.com/v/{kind}"}}
        for kind in ("video", "audio", "file")
    ] + [image]
    [message] = parse(body)
    assert [(a.kind, a.url) for a in message.attachments] == [
        (AttachmentKind.VIDEO, "https://cdn.fbsbx.com/v/video"),
        (AttachmentKind.AUDIO, "https://cdn.fbsbx.com/v/audio"),
        (AttachmentKind.FILE, "https://cdn.fbsbx.com/v/file"),
        (AttachmentKind.IMAGE, IMAGE_URL),
    ]


def test_messenger_entries_without_a_file_are_skipped() -> None:
    body = copy.deepcopy(load("messaging.message__image_attachment.json"))
    [image] = message_attachments(body)
    message_attachments(body)[:] = [
        {"type": "fallback", "payload": {"url": "https://shop.example/o/4711", "title": "x"}},
        {"type": "location", "payload": {"coordinates": {"lat": 1, "long": 2}}},
        {"type": "image", "payload": {"url": "http://insecure.example/a.jpg"}},
        {"type": "image", "payload": None},
        "junk",
        image,
    ]
    [message] = parse(body)
    assert message.attachments == (Attachment(kind=AttachmentKind.IMAGE, url=IMAGE_URL),)


def test_text_keeps_the_words_and_what_is_not_a_file() -> None:
    body = copy.deepcopy(load("messaging.message__image_attachment.json"))
    body["entry"][0]["messaging"][0]["message"]["text"] = "This is what arrived"
    [image] = message_attachments(body)
    message_attachments(body)[:] = [
        image,
        {"type": "video", "payload": {"url": "https://cdn.fbsbx.com/v/video"}},
        {"type": "fallback", "payload": {"url": "https://shop.example/o/4711", "title": "x"}},
        {"type": "file", "payload": {"url": "http://insecure.example/invoice.pdf"}},
    ]
    [message] = parse(body)
    assert message.text == "This is what arrived\n[fallback] https://shop.example/o/4711"
    assert [a.kind for a in message.attachments] == [AttachmentKind.IMAGE, AttachmentKind.VIDEO]
    # Every entry's address stays in raw, the unusable one too.
    assert [a["type"] for a in message.raw["attachments"]] == ["image", "video", "fallback", "file"]


def test_a_feed_photo_or_video_is_not_repeated_in_the_text() -> None:
    body = copy.deepcopy(load("feed.comment.add__with_photo.json"))
    value = body["entry"][0]["changes"][0]["value"]
    value["video"] = "https://video.xx.fbcdn.net/v/t42.1790-2/unboxing.mp4"
    value["link"] = "https://shop.example/o/4711"
    [message] = parse(body)
    assert message.text == "This is how it looked\n[link] https://shop.example/o/4711"
    assert [a.kind for a in message.attachments] == [AttachmentKind.IMAGE, AttachmentKind.VIDEO]
    value["message"] = ""
    del value["link"]
    [message] = parse(body)
    assert message.text == ""
    assert len(message.attachments) == 2


def test_messages_without_files_have_none() -> None:
    for name in ("messaging.message__text.json", "messaging.message__reply_to.json"):
        [message] = parse(load(name))
        assert message.attachments == ()


def test_comment_with_a_photo() -> None:
    [message] = parse(load("feed.comment.add__with_photo.json"))
    assert message.attachments == (
        Attachment(
            kind=AttachmentKind.IMAGE,
            url="https://scontent.xx.fbcdn.net/v/t39.1997-6/broken_parcel.jpg",
        ),
    )


def test_comment_with_a_video_and_one_with_an_unusable_photo() -> None:
    body = copy.deepcopy(load("feed.comment.add__with_photo.json"))
    value = body["entry"][0]["changes"][0]["value"]
    value["video"] = "https://video.xx.fbcdn.net/v/t42.1790-2/unboxing.mp4"
    value["photo"] = "http://scontent.xx.fbcdn.net/v/t39.1997-6/broken_parcel.jpg"
    [message] = parse(body)
    assert [(a.kind, a.url) for a in message.attachments] == [
        (AttachmentKind.VIDEO, "https://video.xx.fbcdn.net/v/t42.1790-2/unboxing.mp4"),
    ]


def test_comments_and_posts_without_media_have_none() -> None:
    for name in ("feed.comment.add__top_level.json", "feed.status.add__visitor_post.json"):
        [message] = parse(load(name))
        assert message.attachments == ()
