"""Media of Bluesky posts.

The recorded notifications carry post records only, whose media would be blob references
without an address: they give no attachments. No recording or documented example of an embed
*view* exists for this project, so the views below follow the official lexicons field by field
(``app.bsky.embed.images#viewImage``: thumb, fullsize, alt; ``app.bsky.embed.video#view``: cid,
playlist, thumbnail, alt; ``app.bsky.embed.recordWithMedia#view``: record, media), from
github bluesky-social/atproto ``lexicons/app/bsky/embed/``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import socialdesk.connectors.bluesky as bluesky_pkg
from socialdesk.connectors.base import Attachment, AttachmentKind, RawEvent
from socialdesk.connectors.bluesky import BlueskyConnector
from socialdesk.connectors.bluesky.parse import embed_attachments
from tests.connectors.contract import RECEIVED_AT, fixture_paths

FIXTURES = Path(bluesky_pkg.__file__).parent / "fixtures"
CONNECTOR = BlueskyConnector()
DID = "did:plc:x5m2grujopb2bamw77lbk4tv"
CID = "bafkreibjfgx2gprinfvicegelk5kosd6y2frmqpqzwqkg7usac74l3t2v4"
IMAGES_VIEW: dict[str, Any] = {
    "$type": "app.bsky.embed.images#view",
    "images": [
        {
            "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{DID}/{CID}@jpeg",
            "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{CID}@jpeg",
            "alt": " The parcel, crushed on one corner ",
            "aspectRatio": {"width": 4, "height": 3},
        },
        {
            "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{DID}/{CID}2@jpeg",
            "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{CID}2@jpeg",
            "alt": "",
        },
    ],
}
VIDEO_VIEW: dict[str, Any] = {
    "$type": "app.bsky.embed.video#view",
    "cid": CID,
    "playlist": f"https://video.bsky.app/watch/{DID}/{CID}/playlist.m3u8",
    "thumbnail": f"https://video.bsky.app/watch/{DID}/{CID}/thumbnail.jpg",
    "alt": "Unboxing",
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    "path",
    [p for p in fixture_paths(FIXTURES) if not p.name.startswith("notification.like")],
    ids=lambda p: p.name,
)
def test_recorded_notifications_have_no_attachments(path: Path) -> None:
    payload = load(path.name)
    event = RawEvent(
        native_id=payload["uri"],
        kind=f"notification.{payload['reason']}",
        payload=payload,
        received_at=RECEIVED_AT,
    )
    [message] = CONNECTOR.parse(event)
    assert message.attachments == ()


def test_images_view() -> None:
    assert embed_attachments(IMAGES_VIEW) == (
        Attachment(
            kind=AttachmentKind.IMAGE,
            url=f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{CID}@jpeg",
            preview_url=f"https://cdn.bsky.app/img/feed_thumbnail/plain/{DID}/{CID}@jpeg",
            description="The parcel, crushed on one corner",
        ),
        Attachment(
            kind=AttachmentKind.IMAGE,
            url=f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{CID}2@jpeg",
            preview_url=f"https://cdn.bsky.app/img/feed_thumbnail/plain/{DID}/{CID}2@jpeg",
        ),
    )


def test_video_view() -> None:
    assert embed_attachments(VIDEO_VIEW) == (
        Attachment(
            kind=AttachmentKind.VIDEO,
            url=f"https://video.bsky.app/watch/{DID}/{CID}/playlist.m3u8",
            preview_url=f"https://video.bsky.app/watch/{DID}/{CID}/thumbnail.jpg",
            description="Unboxing",
        ),
    )


def test_record_with_media_view_gives_its_media() -> None:
    quote = load("notification.quote__of_brand_post.json")["record"]["embed"]
    for media in (IMAGES_VIEW, VIDEO_VIEW):
        view = {"$type": "app.bsky.embed.recordWithMedia#view", "record": quote, "media": media}
        assert embed_attachments(view) == embed_attachments(media)
        assert embed_attachments(view)


def test_a_post_view_in_the_payload_gives_its_embed() -> None:
    # A post as the AppView shows it (recorded getPosts item) with an images view beside its
    # record: what the parser reads when a payload carries the view.
    post = copy.deepcopy(load("responses/get_posts_parent.json")["body"]["posts"][0])
    post.update(reason="mention", embed=IMAGES_VIEW)
    event = RawEvent(
        native_id=post["uri"], kind="notification.mention", payload=post, received_at=RECEIVED_AT
    )
    [message] = CONNECTOR.parse(event)
    assert message.attachments == embed_attachments(IMAGES_VIEW)
    assert len(message.attachments) == 2


def test_records_and_media_less_embeds_give_nothing() -> None:
    record_images = {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "The parcel",
                "image": {
                    "$type": "blob",
                    "ref": {"$link": CID},
                    "mimeType": "image/jpeg",
                    "size": 123456,
                },
            }
        ],
    }
    quote = load("notification.quote__of_brand_post.json")["record"]["embed"]
    for embed in (record_images, quote, None, "junk", {"$type": "app.bsky.embed.external#view"}):
        assert embed_attachments(embed) == ()


def test_unusable_entries_are_skipped() -> None:
    images: list[dict[str, Any]] = copy.deepcopy(IMAGES_VIEW["images"])
    first, second = images
    first["fullsize"] = "http://cdn.example/insecure.jpg"
    first["thumb"] = "data:image/jpeg;base64,AAAA"
    second["fullsize"] = None  # the thumbnail is still an image to show
    view = {"$type": "app.bsky.embed.images#view", "images": [first, "junk", second]}
    [only] = embed_attachments(view)
    assert only.url == only.preview_url == second["thumb"]
    assert embed_attachments({**VIDEO_VIEW, "playlist": "http://video.example/p.m3u8"}) == ()
    assert embed_attachments({"$type": "app.bsky.embed.images#view", "images": "junk"}) == ()
