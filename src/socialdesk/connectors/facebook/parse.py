"""Facebook Page events to inbound messages. Pure functions: no I/O, no clock.

Events come from :func:`webhook.events_from_delivery`. Kinds:

``feed.comment.add``
    A comment on one of the Page's posts (the Page ``feed`` webhook field). A top-level comment
    starts a thread of its own; Facebook nests replies one level deep, under the top-level
    comment, so every reply's ``parent_id`` is that comment. The thread key is
    ``comment:<top-level comment id>``: a reply sent to it lands in the same thread.
``feed.status.add`` / ``feed.post.add``
    A visitor's post on the Page. Thread key ``post:<post id>``; the Page's own posts are not
    messages to answer and give nothing.
``messaging.message`` / ``messaging.echo``
    A Messenger message from a person (``messages`` field) and a message the Page sent from
    another tool (``message_echoes`` field). Threaded by the person's Page-scoped id (PSID):
    thread key ``psid:<PSID>``.

Attachments: a Messenger message's ``attachments[]`` of type image, video, audio or file give
their ``payload.url`` (stickers are images; fallback, template, location and reel entries carry
no file and are skipped); a feed comment or post gives its ``photo`` and ``video`` addresses.
The text is what the person wrote, without them (a photo sent alone has an empty text, as on
the other networks); ``raw`` keeps their addresses. A feed ``link`` and the Messenger entries
that carry no file (a shared link's ``fallback``...) are not attachments and stay in the text
as ``[link] <url>``, ``[fallback] <url>``.

https://developers.facebook.com/docs/graph-api/webhooks/reference/page/#feed and
https://developers.facebook.com/docs/messenger-platform/reference/webhook-events
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from socialdesk.connectors.attachments import https_url
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

SUPPORTED_EVENTS = frozenset(
    {
        "feed.comment.add",
        "feed.status.add",
        "feed.post.add",
        "messaging.message",
        "messaging.echo",
    }
)
# Feed changes and Messenger events that carry nothing to answer: edits, removals, moderation,
# reactions, receipts. Anything else is reported as unsupported (recorded, logged, ignored).
IGNORED_EVENTS = frozenset(
    {
        "feed.comment.edited",
        "feed.comment.remove",
        "feed.comment.hide",
        "feed.comment.unhide",
        "feed.status.edited",
        "feed.status.remove",
        "feed.post.edited",
        "feed.post.remove",
        "feed.photo.add",
        "feed.photo.edited",
        "feed.photo.remove",
        "feed.video.add",
        "feed.video.edited",
        "feed.video.remove",
        "feed.share.add",
        "feed.share.remove",
        "feed.reaction.add",
        "feed.reaction.edit",
        "feed.reaction.remove",
        "feed.like.add",
        "feed.like.remove",
        "messaging.delivery",
        "messaging.read",
        "messaging.reaction",
        "messaging.postback",
        "messaging.optin",
        "messaging.referral",
        "messaging.message_edit",
        "messaging.account_linking",
        "messaging.pass_thread_control",
        "messaging.take_thread_control",
        "messaging.request_thread_control",
    }
)

UNKNOWN_AUTHOR_NAME = "Facebook user"

# Messenger attachment types that carry a file at ``payload.url``.
# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages
_MESSAGE_KINDS = {
    "image": AttachmentKind.IMAGE,
    "video": AttachmentKind.VIDEO,
    "audio": AttachmentKind.AUDIO,
    "file": AttachmentKind.FILE,
}
# Feed change fields that hold the address of a photo or video.
_FEED_MEDIA = (("photo", AttachmentKind.IMAGE), ("video", AttachmentKind.VIDEO))


class MalformedEventError(ConnectorError):
    """A declared event whose payload lacks what every such event has."""


def parse_event(event: RawEvent) -> list[InboundMessage]:
    """Normalise one event. Raises :class:`UnsupportedEvent` for kinds that are not declared."""
    if event.kind in IGNORED_EVENTS:
        return []
    handler = HANDLERS.get(event.kind)
    if handler is None:
        raise UnsupportedEvent(
            f"Facebook event kind {event.kind!r} is not handled; supported: "
            f"{sorted(SUPPORTED_EVENTS)}"
        )
    return handler(event.payload)


def parse_comment(payload: JSON) -> list[InboundMessage]:
    value = _value(payload)
    comment_id = _required(value, "comment_id")
    post_id = _required(value, "post_id")
    parent_id = str(value.get("parent_id") or post_id)
    page_id = str(payload.get("page_id") or "")
    top_level = parent_id == post_id
    author = feed_author(value, fallback=comment_id)
    return [
        InboundMessage(
            native_id=comment_id,
            author=author,
            text=_feed_text(value),
            created_at=feed_time(value, payload),
            visibility=Visibility.PUBLIC,
            reply_to_native_id=None if top_level else parent_id,
            thread_key=f"comment:{comment_id if top_level else parent_id}",
            from_brand=bool(page_id) and author.native_id == page_id,
            raw=_feed_raw(value),
            attachments=feed_attachments(value),
        )
    ]


def parse_visitor_post(payload: JSON) -> list[InboundMessage]:
    value = _value(payload)
    post_id = _required(value, "post_id")
    author = feed_author(value, fallback=post_id)
    if author.native_id == str(payload.get("page_id") or ""):
        # The Page's own post: something it published, not something to answer.
        return []
    return [
        InboundMessage(
            native_id=post_id,
            author=author,
            text=_feed_text(value),
            created_at=feed_time(value, payload),
            visibility=Visibility.PUBLIC,
            thread_key=f"post:{post_id}",
            raw=_feed_raw(value),
            attachments=feed_attachments(value),
        )
    ]


def parse_message(payload: JSON) -> list[InboundMessage]:
    item = _messaging(payload)
    message = item.get("message")
    if not isinstance(message, dict) or not message.get("mid"):
        raise MalformedEventError("Messenger message event has no message id")
    echo = bool(message.get("is_echo"))
    sender = _party(item, "sender")
    recipient = _party(item, "recipient")
    # An echo is the Page writing to the person: the thread is the recipient's.
    psid = recipient if echo else sender
    reply_to = _obj(message.get("reply_to"))
    return [
        InboundMessage(
            native_id=str(message["mid"]),
            author=Identity(native_id=sender),
            text=_message_text(message),
            created_at=_millis(item.get("timestamp"), payload.get("time")),
            visibility=Visibility.DIRECT,
            reply_to_native_id=str(reply_to["mid"]) if reply_to.get("mid") else None,
            thread_key=f"psid:{psid}",
            from_brand=echo,
            raw=_message_raw(message, psid),
            attachments=message_attachments(message),
        )
    ]


HANDLERS: dict[str, Callable[[JSON], list[InboundMessage]]] = {
    "feed.comment.add": parse_comment,
    "feed.status.add": parse_visitor_post,
    "feed.post.add": parse_visitor_post,
    "messaging.message": parse_message,
    "messaging.echo": parse_message,
}


def message_attachments(message: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """The files of a Messenger message, in order; entries without a type that carries a file
    or without an ``https`` address are skipped."""
    found = message.get("attachments")
    out = []
    for attachment in found if isinstance(found, list) else []:
        if not isinstance(attachment, dict):
            continue
        kind = _MESSAGE_KINDS.get(str(attachment.get("type") or ""))
        url = https_url(_obj(attachment.get("payload")).get("url"))
        if kind is not None and url is not None:
            out.append(Attachment(kind=kind, url=url))
    return tuple(out)


def feed_attachments(value: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """The photo and video of a feed comment or post."""
    out = []
    for key, kind in _FEED_MEDIA:
        url = https_url(value.get(key))
        if url is not None:
            out.append(Attachment(kind=kind, url=url))
    return tuple(out)


def feed_author(value: Mapping[str, Any], *, fallback: str) -> Identity:
    """The commenter. Facebook leaves ``from`` out when it may not tell the Page who wrote (a
    person who has not granted it, some age and privacy settings): the comment then gets an
    anonymous identity of its own."""
    sender = value.get("from")
    if isinstance(sender, dict) and sender.get("id"):
        return Identity(
            native_id=str(sender["id"]),
            display_name=str(sender.get("name") or "").strip() or None,
        )
    return Identity(native_id=f"unknown:{fallback}", display_name=UNKNOWN_AUTHOR_NAME)


def feed_time(value: Mapping[str, Any], payload: Mapping[str, Any]) -> datetime:
    """``created_time`` is epoch seconds in webhooks, ISO 8601 ("+0000") in Graph reads."""
    for candidate in (value.get("created_time"), payload.get("time")):
        parsed = _time(candidate)
        if parsed is not None:
            return parsed
    raise MalformedEventError("Facebook feed change has no created_time")


def _time(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # Entry times of Messenger deliveries are milliseconds; feed times are seconds.
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str) and value:
        if value.isdigit():
            return _time(int(value))
        text = value.replace("Z", "+00:00")
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
            text = f"{text[:-2]}:{text[-2:]}"  # "+0000" -> "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else None
    return None


def _millis(value: object, fallback: object) -> datetime:
    for candidate in (value, fallback):
        if isinstance(candidate, int | float) and not isinstance(candidate, bool):
            return datetime.fromtimestamp(candidate / 1000, tz=UTC)
    raise MalformedEventError("Messenger event has no timestamp")


def _obj(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (for optional nested fields)."""
    return value if isinstance(value, dict) else {}


def _value(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    value = payload.get("value")
    if not isinstance(value, dict):
        raise MalformedEventError("Facebook feed event has no value")
    return value


def _messaging(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    item = payload.get("messaging")
    if not isinstance(item, dict):
        raise MalformedEventError("Messenger event has no messaging item")
    return item


def _party(item: Mapping[str, Any], key: str) -> str:
    party = item.get(key)
    if not isinstance(party, dict) or not party.get("id"):
        raise MalformedEventError(f"Messenger event has no {key} id")
    return str(party["id"])


def _required(value: Mapping[str, Any], key: str) -> str:
    found = value.get(key)
    if not found:
        raise MalformedEventError(f"Facebook feed change has no {key}")
    return str(found)


def _feed_text(value: Mapping[str, Any]) -> str:
    # The photo and video are attachments; a link is not, so the text names it.
    text = str(value.get("message") or "")
    if value.get("link"):
        text = f"{text}\n[link] {value['link']}".strip()
    return text


def _feed_raw(value: Mapping[str, Any]) -> JSON:
    post = _obj(value.get("post"))
    raw: JSON = {
        "post_id": value.get("post_id"),
        "parent_id": value.get("parent_id"),
        "comment_id": value.get("comment_id"),
        "verb": value.get("verb"),
        "item": value.get("item"),
        "permalink_url": post.get("permalink_url"),
    }
    for key in ("photo", "video", "link"):
        if value.get(key):
            raw[key] = value[key]
    return raw


def _message_text(message: Mapping[str, Any]) -> str:
    parts = [str(message.get("text") or "")]
    for attachment in message.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("type") or "attachment")
        if kind in _MESSAGE_KINDS:
            continue  # a file: an attachment, not words
        payload = _obj(attachment.get("payload"))
        url = payload.get("url") or attachment.get("url") or ""
        parts.append(f"[{kind}] {url}".strip())
    return "\n".join(p for p in parts if p).strip()


def _message_raw(message: Mapping[str, Any], psid: str) -> JSON:
    raw: JSON = {"mid": message.get("mid"), "psid": psid}
    attachments = []
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict):
            payload = _obj(attachment.get("payload"))
            attachments.append({"type": attachment.get("type"), "url": payload.get("url")})
    if attachments:
        raw["attachments"] = attachments
    quick = message.get("quick_reply")
    if isinstance(quick, dict) and quick.get("payload"):
        raw["quick_reply"] = quick["payload"]
    if message.get("app_id") is not None:
        raw["app_id"] = message["app_id"]
    return raw
