"""Mastodon events to inbound messages. Pure functions: no I/O, no clock.

Event kinds (the ``kind`` of a :class:`RawEvent`):

``notification.<type>``
    A notification object (``GET /api/v1/notifications``, or the ``notification`` event of the
    streaming API). Mentions become messages; every other type is knowingly ignored.
``status``
    A status object (a timeline, ``GET /api/v1/statuses/:id``, the streaming ``update`` event).
``conversation``
    A direct conversation (``GET /api/v1/conversations``, the streaming ``conversation`` event);
    its ``last_status`` is the message.

The poller may add one key to a payload, :data:`ANNOTATION`, holding what it learned that the
provider's object does not say: the brand's own account id (so its own posts are recognised) and
the root of a direct thread (from ``GET /api/v1/statuses/:id/context``).

A status's ``media_attachments`` become the message's attachments: ``url`` (the server's copy;
``remote_url``, the author's server's, when it has none), ``preview_url`` and ``description``
(the alt text). https://docs.joinmastodon.org/entities/MediaAttachment/
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
from socialdesk.connectors.mastodon.text import html_to_text

ANNOTATION = "_socialdesk"

SUPPORTED_EVENTS = frozenset({"notification.mention", "status", "conversation"})
# Notification types and streaming events that carry nothing for the desk to answer.
# https://docs.joinmastodon.org/entities/Notification/#type and
# https://docs.joinmastodon.org/methods/streaming/#events
IGNORED_EVENTS = frozenset(
    {
        "notification.status",
        "notification.reblog",
        "notification.favourite",
        "notification.follow",
        "notification.follow_request",
        "notification.poll",
        "notification.update",
        "notification.quote",
        "notification.quoted_update",
        "notification.admin.sign_up",
        "notification.admin.report",
        "notification.severed_relationships",
        "notification.moderation_warning",
        "notification.annual_report",
        "delete",
        "status.update",
        "filters_changed",
        "announcement",
        "announcement.reaction",
        "announcement.delete",
        "notifications_merged",
    }
)


# https://docs.joinmastodon.org/entities/MediaAttachment/#type; "unknown" is a file the server
# could not process, offered as it is.
_MEDIA_KINDS = {
    "image": AttachmentKind.IMAGE,
    "gifv": AttachmentKind.VIDEO,
    "video": AttachmentKind.VIDEO,
    "audio": AttachmentKind.AUDIO,
    "unknown": AttachmentKind.FILE,
}


class MalformedEventError(ConnectorError):
    """A declared event whose payload lacks what every such event has."""


def event_kind(source: str, obj: Mapping[str, Any]) -> str:
    """The event kind for an object fetched from ``source`` ("notification", "status",
    "conversation")."""
    if source == "notification":
        return f"notification.{obj.get('type', '')}"
    return source


def event_native_id(kind: str, payload: Mapping[str, Any]) -> str:
    """The provider's id of an event, unique per brand account, for idempotent storage."""
    if kind.startswith("notification."):
        return f"notification:{payload['id']}"
    if kind == "conversation":
        last = payload.get("last_status") or {}
        return f"conversation:{payload['id']}:{last.get('id', '')}"
    return f"{kind}:{payload['id']}"


def parse_event(event: RawEvent) -> list[InboundMessage]:
    """Normalise one event. Raises :class:`UnsupportedEvent` for kinds that are not declared."""
    if event.kind in IGNORED_EVENTS:
        return []
    handler = HANDLERS.get(event.kind)
    if handler is None:
        raise UnsupportedEvent(
            f"Mastodon event kind {event.kind!r} is not handled; supported: "
            f"{sorted(SUPPORTED_EVENTS)}"
        )
    return handler(event.payload)


def parse_mention(payload: JSON) -> list[InboundMessage]:
    status = payload.get("status")
    if not isinstance(status, dict):
        raise MalformedEventError(
            f"Mastodon mention notification {payload.get('id')!r} has no status"
        )
    message = parse_status_object(status, _annotation(payload), notification_id=payload.get("id"))
    return [message] if message is not None else []


def parse_status(payload: JSON) -> list[InboundMessage]:
    message = parse_status_object(payload, _annotation(payload))
    return [message] if message is not None else []


def parse_conversation(payload: JSON) -> list[InboundMessage]:
    last = payload.get("last_status")
    if not isinstance(last, dict):
        # Every status in it was deleted: nothing left to show.
        return []
    message = parse_status_object(last, _annotation(payload), conversation_id=payload.get("id"))
    return [message] if message is not None else []


HANDLERS: dict[str, Callable[[JSON], list[InboundMessage]]] = {
    "notification.mention": parse_mention,
    "status": parse_status,
    "conversation": parse_conversation,
}


def parse_status_object(
    status: Mapping[str, Any],
    annotation: Mapping[str, Any],
    *,
    notification_id: object = None,
    conversation_id: object = None,
) -> InboundMessage | None:
    """One status as a message; None for a boost, which repeats someone else's post."""
    if status.get("reblog"):
        return None
    try:
        status_id = str(status["id"])
        account = status["account"]
        created_at = parse_time(status["created_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEventError(f"Mastodon status is missing or has a bad {exc}") from exc
    native_visibility = str(status.get("visibility") or "public")
    direct = native_visibility == "direct"
    reply_to = status.get("in_reply_to_id")
    thread_key = None
    if direct:
        # A direct thread is grouped by its first status. The poller looks the root up for
        # replies; a status that answers nothing is its own root.
        root = annotation.get("thread_root_id")
        thread_key = str(root) if root else (status_id if reply_to is None else None)
    spoiler = str(status.get("spoiler_text") or "").strip()
    brand_id = annotation.get("brand_account_id")
    return InboundMessage(
        native_id=status_id,
        author=account_identity(account),
        text=html_to_text(str(status.get("content") or "")),
        created_at=created_at,
        visibility=Visibility.DIRECT if direct else Visibility.PUBLIC,
        reply_to_native_id=str(reply_to) if reply_to is not None else None,
        thread_key=thread_key,
        from_brand=brand_id is not None and str(account.get("id")) == str(brand_id),
        reply_to_brand=brand_id is not None
        and reply_to is not None
        and str(status.get("in_reply_to_account_id")) == str(brand_id),
        # A content warning is the closest Mastodon has to a subject line.
        subject=spoiler or None,
        raw=_raw(status, native_visibility, notification_id, conversation_id),
        attachments=media_attachments(status),
    )


def media_attachments(status: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """A status's media, in the order its author attached them; entries without a usable
    ``https`` address are skipped."""
    found = status.get("media_attachments")
    out = []
    for media in found if isinstance(found, list) else []:
        attachment = media_attachment(media) if isinstance(media, dict) else None
        if attachment is not None:
            out.append(attachment)
    return tuple(out)


def media_attachment(media: Mapping[str, Any]) -> Attachment | None:
    kind = _MEDIA_KINDS.get(str(media.get("type") or "unknown"), AttachmentKind.FILE)
    url = https_url(media.get("url")) or https_url(media.get("remote_url"))
    if url is None:
        return None
    return Attachment(
        kind=kind,
        url=url,
        preview_url=https_url(media.get("preview_url")),
        description=alt_text(media.get("description")),
    )


def account_identity(account: Mapping[str, Any]) -> Identity:
    """The author as an identity. ``native_id`` is the account's ActivityPub URI, which is the
    same from every instance, where the numeric id is only meaningful on one instance."""
    native = account.get("uri") or account.get("id")
    if not native:
        raise MalformedEventError("Mastodon account has neither uri nor id")
    return Identity(
        native_id=str(native),
        handle=str(account.get("acct") or account.get("username") or "") or None,
        display_name=str(account.get("display_name") or "") or None,
    )


def parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"timestamp {value!r} is not a string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def _annotation(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    found = payload.get(ANNOTATION)
    return found if isinstance(found, dict) else {}


def _raw(
    status: Mapping[str, Any],
    visibility: str,
    notification_id: object,
    conversation_id: object,
) -> JSON:
    account = status.get("account") or {}
    raw: JSON = {
        "url": status.get("url"),
        "uri": status.get("uri"),
        "visibility": visibility,
        "language": status.get("language"),
        "account_id": account.get("id"),
        "mentions": [m.get("acct") for m in status.get("mentions") or [] if isinstance(m, dict)],
        "attachments": [
            {
                "type": a.get("type"),
                "url": a.get("url"),
                "description": a.get("description"),
            }
            for a in status.get("media_attachments") or []
            if isinstance(a, dict)
        ],
    }
    if status.get("spoiler_text"):
        raw["spoiler_text"] = status["spoiler_text"]
    if notification_id is not None:
        raw["notification_id"] = str(notification_id)
    if conversation_id is not None:
        raw["conversation_id"] = str(conversation_id)
    return raw
