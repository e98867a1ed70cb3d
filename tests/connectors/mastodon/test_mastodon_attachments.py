"""Media of Mastodon statuses: the documented MediaAttachment examples
(``fixtures/media/media_attachments.json``) in a recorded status."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import Attachment, AttachmentKind, RawEvent
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.mastodon.parse import event_native_id
from tests.connectors.contract import RECEIVED_AT

FIXTURES = Path(mastodon_pkg.__file__).parent / "fixtures"
CONNECTOR = MastodonConnector()
FILES = "https://files.mastodon.social/media_attachments/files"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def documented_media() -> list[dict[str, Any]]:
    media: list[dict[str, Any]] = load("media/media_attachments.json")
    return media


def parse(kind: str, payload: dict[str, Any]) -> list[Any]:
    event = RawEvent(
        native_id=event_native_id(kind, payload),
        kind=kind,
        payload=payload,
        received_at=RECEIVED_AT,
    )
    return CONNECTOR.parse(event)


def status_with(media: list[Any]) -> dict[str, Any]:
    status: dict[str, Any] = copy.deepcopy(load("status__public.json"))
    status["media_attachments"] = media
    return status


def test_recorded_statuses_have_no_media() -> None:
    for name in ("status__public.json", "status__direct.json", "status__unlisted.json"):
        [message] = parse("status", load(name))
        assert message.attachments == ()


def test_documented_image_video_gifv_and_audio_in_order() -> None:
    [message] = parse("status", status_with(documented_media()))
    assert message.attachments == (
        Attachment(
            kind=AttachmentKind.IMAGE,
            url=f"{FILES}/022/345/792/original/57859aede991da25.jpeg",
            preview_url=f"{FILES}/022/345/792/small/57859aede991da25.jpeg",
            description="test media description",
        ),
        Attachment(
            kind=AttachmentKind.VIDEO,
            url=f"{FILES}/022/546/306/original/dab9a597f68b9745.mp4",
            preview_url=f"{FILES}/022/546/306/small/dab9a597f68b9745.png",
        ),
        Attachment(
            kind=AttachmentKind.VIDEO,
            url=f"{FILES}/021/130/559/original/bc84838f77991326.mp4",
            preview_url=f"{FILES}/021/130/559/small/bc84838f77991326.png",
        ),
        Attachment(
            kind=AttachmentKind.AUDIO,
            url=f"{FILES}/021/165/404/original/a31a4a46cd713cd2.mp3",
            preview_url=f"{FILES}/021/165/404/small/a31a4a46cd713cd2.mp3",
        ),
    )


def test_media_of_a_mention_and_a_conversation() -> None:
    notification = copy.deepcopy(load("notification.mention__public.json"))
    notification["status"]["media_attachments"] = documented_media()[:1]
    [message] = parse("notification.mention", notification)
    assert [a.kind for a in message.attachments] == [AttachmentKind.IMAGE]
    conversation = copy.deepcopy(load("conversation__direct.json"))
    conversation["last_status"]["media_attachments"] = documented_media()[3:]
    [message] = parse("conversation", conversation)
    assert [a.kind for a in message.attachments] == [AttachmentKind.AUDIO]


def test_remote_url_when_the_server_has_no_copy_and_alt_text_trimmed() -> None:
    image = documented_media()[0]
    image.update(
        url=None,
        remote_url="https://remote.example/media/original.jpeg",
        description="  a dented box \n",
    )
    [message] = parse("status", status_with([image]))
    [attachment] = message.attachments
    assert attachment.url == "https://remote.example/media/original.jpeg"
    assert attachment.description == "a dented box"


def test_unusable_entries_are_skipped_and_the_status_still_parses() -> None:
    image, video, gifv, audio = documented_media()
    image["url"] = "http://files.mastodon.social/insecure.jpeg"  # no https copy: skipped
    video["preview_url"] = "data:image/png;base64,AAAA"  # kept, without its preview
    gifv.pop("url")
    unknown = {**audio, "type": "unknown", "preview_url": None}
    [message] = parse("status", status_with([image, "junk", video, gifv, None, unknown]))
    assert [(a.kind, a.preview_url) for a in message.attachments] == [
        (AttachmentKind.VIDEO, None),
        (AttachmentKind.FILE, None),
    ]
    [message] = parse("status", status_with("not a list"))  # type: ignore[arg-type]
    assert message.attachments == ()
