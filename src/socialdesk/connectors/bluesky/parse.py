"""Bluesky events to inbound messages. Pure functions: no I/O, no clock.

Event kinds (the ``kind`` of a :class:`RawEvent`) are ``notification.<reason>``: one item of
``app.bsky.notification.listNotifications`` as the brand account's server returned it. Mentions,
replies and quotes carry a post (``app.bsky.feed.post``) and become messages; the other reasons
(likes, reposts, follows...) are knowingly ignored.

The native id of a post is its ``at://`` URI. Threads follow the post's ``reply`` references:
``reply.parent.uri`` is what it answers (the message's ``reply_to_native_id``) and
``reply.root.uri`` the thread's first post (kept in ``raw`` with the CIDs, which a reply needs).
https://docs.bsky.app/docs/advanced-guides/posts

The poller may add one key to a payload, :data:`ANNOTATION`: the brand's own DID
(``brand_did``) so its own posts are recognised, and the ``embed`` of the post's view (below).

Photos and videos: the AppView's *view* of a post (``app.bsky.feed.defs#postView``, what
``app.bsky.feed.getPosts`` answers) has an ``embed`` beside its ``record``, with the addresses
the AppView serves: ``app.bsky.embed.images#view`` (``fullsize``, ``thumb``, ``alt``),
``app.bsky.embed.video#view`` (``playlist``, ``thumbnail``, ``alt``) and, for a quote with media,
``app.bsky.embed.recordWithMedia#view`` (its ``media``). Those become attachments. A
notification carries only the post's *record*, whose embedded images and video are blob
references (a CID, a MIME type, a size) with no address, and no documented public address is
built from them; so the poller reads the views of the notified posts and keeps each one's
``embed`` under the annotation. A payload without it (the view could not be read) gives no
attachments; the record's alt texts stay in ``raw["images"]`` either way.
https://github.com/bluesky-social/atproto/tree/main/lexicons/app/bsky/embed
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from socialdesk.connectors.attachments import alt_text, https_url
from socialdesk.connectors.base import (
    JSON,
    Attachment,
    AttachmentKind,
    ConnectorError,
    Identity,
    InboundMessage,
    RawEvent,
    UnsupportedEvent,
    Visibility,
)
from socialdesk.connectors.bluesky.richtext import LINK_FEATURE, MENTION_FEATURE, facet_text

ANNOTATION = "_socialdesk"
POST_TYPE = "app.bsky.feed.post"

IMAGES_VIEW = "app.bsky.embed.images#view"
VIDEO_VIEW = "app.bsky.embed.video#view"
RECORD_WITH_MEDIA_VIEW = "app.bsky.embed.recordWithMedia#view"

SUPPORTED_EVENTS = frozenset({"notification.mention", "notification.reply", "notification.quote"})
# Reasons that carry nothing to answer.
# https://docs.bsky.app/docs/api/app-bsky-notification-list-notifications
IGNORED_REASONS = frozenset(
    {
        "like",
        "repost",
        "follow",
        "starterpack-joined",
        "verified",
        "unverified",
        "like-via-repost",
        "repost-via-repost",
        "subscribed-post",
    }
)
IGNORED_EVENTS = frozenset(f"notification.{reason}" for reason in IGNORED_REASONS)


class MalformedEventError(ConnectorError):
    """A declared event whose payload lacks what every such event has."""


def event_kind(notification: Mapping[str, Any]) -> str:
    return f"notification.{notification.get('reason', '')}"


def event_native_id(notification: Mapping[str, Any]) -> str:
    """The provider's id of an event: one notification per reason and record."""
    return f"notification:{notification.get('reason', '')}:{notification['uri']}"


def parse_event(event: RawEvent) -> list[InboundMessage]:
    """Normalise one event. Raises :class:`UnsupportedEvent` for kinds that are not declared."""
    if event.kind in IGNORED_EVENTS:
        return []
    handler = HANDLERS.get(event.kind)
    if handler is None:
        raise UnsupportedEvent(
            f"Bluesky event kind {event.kind!r} is not handled; supported: "
            f"{sorted(SUPPORTED_EVENTS)}"
        )
    return handler(event.payload)


def parse_post_notification(payload: JSON) -> list[InboundMessage]:
    record = payload.get("record")
    if not isinstance(record, dict) or record.get("$type", POST_TYPE) != POST_TYPE:
        raise MalformedEventError(
            f"Bluesky {payload.get('reason')!r} notification {payload.get('uri')!r} carries no "
            "post record"
        )
    try:
        uri = str(payload["uri"])
        author = author_identity(payload["author"])
    except (KeyError, TypeError) as exc:
        raise MalformedEventError(f"Bluesky notification is missing {exc}") from exc
    if not uri.startswith("at://"):
        raise MalformedEventError(f"Bluesky notification uri {uri!r} is not an at:// URI")
    reply = as_dict(record.get("reply"))
    parent, root = _ref(reply, "parent"), _ref(reply, "root")
    brand_did = _annotation(payload).get("brand_did")
    text = str(record.get("text") or "")
    return [
        InboundMessage(
            native_id=uri,
            author=author,
            text=text,
            created_at=post_time(record, payload),
            visibility=Visibility.PUBLIC,
            reply_to_native_id=parent[0] if parent else None,
            from_brand=brand_did is not None and author.native_id == brand_did,
            # A post's AT URI names its author: at://<did>/app.bsky.feed.post/<rkey>.
            reply_to_brand=brand_did is not None
            and parent is not None
            and parent[0].startswith(f"at://{brand_did}/"),
            raw=_raw(payload, record, text, parent, root),
            attachments=embed_attachments(view_embed(payload)),
        )
    ]


HANDLERS: dict[str, Callable[[JSON], list[InboundMessage]]] = dict.fromkeys(
    SUPPORTED_EVENTS, parse_post_notification
)


def view_embed(payload: Mapping[str, Any]) -> object:
    """The embed *view* of a payload's post: its own ``embed`` when the payload is a post view,
    else the one the poller read with ``app.bsky.feed.getPosts`` (under the annotation)."""
    if "embed" in payload:
        return payload["embed"]
    return _annotation(payload).get("embed")


def embed_attachments(embed: object) -> tuple[Attachment, ...]:
    """The images or video of a post's embed *view*, in the author's order. A record's embed
    (blob references, no address) and embeds without media (links, quotes) give nothing."""
    view = as_dict(embed)
    kind = view.get("$type")
    if kind == RECORD_WITH_MEDIA_VIEW:
        view = as_dict(view.get("media"))
        kind = view.get("$type")
    if kind == IMAGES_VIEW:
        images = view.get("images")
        found = (
            [_image(image) for image in images if isinstance(image, dict)]
            if isinstance(images, list)
            else []
        )
        return tuple(a for a in found if a is not None)
    if kind == VIDEO_VIEW:
        video = _video(view)
        return (video,) if video is not None else ()
    return ()


def _image(image: Mapping[str, Any]) -> Attachment | None:
    url = https_url(image.get("fullsize"))
    preview = https_url(image.get("thumb"))
    if url is None and preview is None:
        return None
    return Attachment(
        kind=AttachmentKind.IMAGE,
        url=url or preview,
        preview_url=preview,
        description=alt_text(image.get("alt")),
    )


def _video(video: Mapping[str, Any]) -> Attachment | None:
    url = https_url(video.get("playlist"))  # an HLS playlist (.m3u8)
    if url is None:
        return None
    return Attachment(
        kind=AttachmentKind.VIDEO,
        url=url,
        preview_url=https_url(video.get("thumbnail")),
        description=alt_text(video.get("alt")),
    )


def as_dict(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (for optional nested fields)."""
    return value if isinstance(value, dict) else {}


def author_identity(author: Mapping[str, Any]) -> Identity:
    """The author as an identity. ``native_id`` is the DID, which stays when the handle
    changes."""
    did = author.get("did")
    if not isinstance(did, str) or not did.startswith("did:"):
        raise MalformedEventError(f"Bluesky author has no DID (got {did!r})")
    handle = author.get("handle")
    # "handle.invalid" is what the AppView shows when a handle no longer verifies.
    usable = isinstance(handle, str) and handle and handle != "handle.invalid"
    return Identity(
        native_id=did,
        handle=str(handle) if usable else None,
        display_name=str(author.get("displayName") or "").strip() or None,
    )


def parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"timestamp {value!r} is not a string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def post_time(record: Mapping[str, Any], notification: Mapping[str, Any]) -> datetime:
    """When the post was written. ``createdAt`` is set by the author's client and may be
    missing or malformed; the AppView's ``indexedAt`` is the fallback."""
    for value in (record.get("createdAt"), notification.get("indexedAt")):
        try:
            return parse_time(value)
        except ValueError:
            continue
    raise MalformedEventError(
        f"Bluesky post {notification.get('uri')!r} has neither createdAt nor indexedAt"
    )


def _ref(reply: Mapping[str, Any], key: str) -> tuple[str, str] | None:
    ref = reply.get(key)
    if isinstance(ref, dict) and isinstance(ref.get("uri"), str):
        return str(ref["uri"]), str(ref.get("cid") or "")
    return None


def _annotation(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    found = payload.get(ANNOTATION)
    return found if isinstance(found, dict) else {}


def _raw(
    payload: Mapping[str, Any],
    record: Mapping[str, Any],
    text: str,
    parent: tuple[str, str] | None,
    root: tuple[str, str] | None,
) -> JSON:
    raw: JSON = {
        "uri": payload.get("uri"),
        "cid": payload.get("cid"),
        "reason": payload.get("reason"),
        "indexed_at": payload.get("indexedAt"),
        "langs": [str(tag) for tag in record.get("langs") or []],
        "links": [],
        "mentions": [],
    }
    if parent is not None:
        raw["parent_uri"], raw["parent_cid"] = parent
    if root is not None:
        raw["root_uri"], raw["root_cid"] = root
    for facet in record.get("facets") or []:
        if not isinstance(facet, dict):
            continue
        for feature in facet.get("features") or []:
            if not isinstance(feature, dict):
                continue
            if feature.get("$type") == LINK_FEATURE and feature.get("uri"):
                raw["links"].append(str(feature["uri"]))
            elif feature.get("$type") == MENTION_FEATURE and feature.get("did"):
                raw["mentions"].append(
                    {"did": str(feature["did"]), "text": facet_text(text, facet)}
                )
    embed = record.get("embed")
    if isinstance(embed, dict):
        raw["embed_type"] = embed.get("$type")
        quoted = embed.get("record")
        # A quote embeds a record ref; "recordWithMedia" nests it one level deeper.
        if isinstance(quoted, dict) and isinstance(quoted.get("record"), dict):
            quoted = quoted["record"]
        if isinstance(quoted, dict) and isinstance(quoted.get("uri"), str):
            raw["quoted_uri"] = quoted["uri"]
        images = embed.get("images")
        if isinstance(images, list):
            raw["images"] = [
                {"alt": str(image.get("alt") or "")} for image in images if isinstance(image, dict)
            ]
    return raw
