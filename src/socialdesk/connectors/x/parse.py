"""X (API v2) events to inbound messages. Pure functions: no I/O, no clock.

Event kinds and their payloads (one event per post or direct message, shaped like X's own
single-object responses, ``{"data": {...}, "includes": {...}}``):

``mention``
    A post from the mentions timeline (``GET /2/users/:id/mentions``).
``tweet``
    A post fetched by id (``GET /2/tweets/:id``), for example the parent of a mention.
``dm.message_create``
    A direct message event (``GET /2/dm_events``) of type ``MessageCreate``.
``dm.participants_join`` / ``dm.participants_leave``
    Group membership changes: ignored.

:func:`split_page` turns a page of results into such payloads; the poller and the fixture
extraction both use it. The poller adds :data:`ANNOTATION` with the brand's own user id so its
own posts and messages are recognised.

X only returns an object's author, time and references when the request asks for them
(``tweet.fields``, ``dm_event.fields``, ``expansions``); the poller always does. A payload
without an author cannot become a message and raises :class:`MalformedEventError` naming the
missing field.

Photos, videos and GIFs: a post or direct message lists its ``attachments.media_keys`` and the
media objects come in ``includes.media`` (with ``expansions=attachments.media_keys`` and
``media.fields``). A photo gives its ``url``. A video or an animated GIF gives the file to play
from its ``variants`` (``{bit_rate, content_type, url}``: MP4 files at several bit rates and an
HLS playlist; a GIF is one MP4): the ``video/mp4`` one with the highest ``bit_rate``, with its
``preview_image_url`` as the preview; without such a variant, the preview alone. A key missing
from ``includes`` is skipped. https://docs.x.com/x-api/fundamentals/data-dictionary
"""

from __future__ import annotations

import html
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

ANNOTATION = "_socialdesk"

SUPPORTED_EVENTS = frozenset({"mention", "tweet", "dm.message_create"})
IGNORED_EVENTS = frozenset({"dm.participants_join", "dm.participants_leave"})

# The fields and expansions every request for posts and direct messages asks for.
TWEET_FIELDS = (
    "id,text,author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets,"
    "entities,lang,note_tweet,attachments"
)
DM_EVENT_FIELDS = (
    "id,text,event_type,created_at,dm_conversation_id,sender_id,participant_ids,"
    "referenced_tweets,attachments"
)
USER_FIELDS = "id,name,username"
TWEET_EXPANSIONS = (
    "author_id,referenced_tweets.id,referenced_tweets.id.author_id,attachments.media_keys"
)
DM_EXPANSIONS = "sender_id,participant_ids,attachments.media_keys"
MEDIA_FIELDS = "url,preview_image_url,alt_text,type,variants"
# The variant of a video or an animated GIF that a browser plays as a file.
PLAYABLE_TYPE = "video/mp4"

# X's media types; a video and an animated GIF both play as a video.
_MEDIA_KINDS = {
    "photo": AttachmentKind.IMAGE,
    "video": AttachmentKind.VIDEO,
    "animated_gif": AttachmentKind.VIDEO,
}

# X ids are snowflakes: milliseconds since this epoch, shifted left by 22 bits.
# https://developer.x.com/en/docs/x-ids
_SNOWFLAKE_EPOCH_MS = 1288834974657


class MalformedEventError(ConnectorError):
    """A declared event whose payload lacks what every such event must have."""


def dm_kind(event_type: str) -> str:
    """``MessageCreate`` -> ``dm.message_create``."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in event_type).lstrip("_")
    return f"dm.{snake}"


def split_page(document: Mapping[str, Any], *, kind: str) -> list[tuple[str, JSON]]:
    """One (kind, payload) per object in a page of results, each payload carrying the users and
    posts from ``includes`` that it refers to. ``kind`` is "mention", "tweet" or "dm"."""
    data = document.get("data") or []
    items = data if isinstance(data, list) else [data]
    includes = document.get("includes") or {}
    users = {str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, dict)}
    tweets = {str(t.get("id")): t for t in includes.get("tweets") or [] if isinstance(t, dict)}
    media = _media_by_key(includes)
    out: list[tuple[str, JSON]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        referenced = [
            tweets[str(ref.get("id"))]
            for ref in item.get("referenced_tweets") or []
            if str(ref.get("id")) in tweets
        ]
        user_ids = {
            str(item.get(key))
            for key in ("author_id", "sender_id", "in_reply_to_user_id")
            if item.get(key)
        }
        user_ids |= {str(p) for p in item.get("participant_ids") or []}
        user_ids |= {str(t.get("author_id")) for t in referenced if t.get("author_id")}
        picked: JSON = {}
        if found := [users[u] for u in sorted(user_ids) if u in users]:
            picked["users"] = found
        if referenced:
            picked["tweets"] = referenced
        if found_media := [media[key] for key in _media_keys(item) if key in media]:
            picked["media"] = found_media
        payload: JSON = {"data": item}
        if picked:
            payload["includes"] = picked
        item_kind = (
            dm_kind(str(item.get("event_type") or "MessageCreate")) if kind == "dm" else kind
        )
        out.append((item_kind, payload))
    return out


def event_native_id(kind: str, payload: Mapping[str, Any]) -> str:
    data = payload.get("data") or {}
    prefix = "dm" if kind.startswith("dm.") else "tweet"
    return f"{prefix}:{data.get('id')}"


def parse_event(event: RawEvent) -> list[InboundMessage]:
    if event.kind in IGNORED_EVENTS:
        return []
    handler = HANDLERS.get(event.kind)
    if handler is None:
        raise UnsupportedEvent(
            f"X event kind {event.kind!r} is not handled; supported: {sorted(SUPPORTED_EVENTS)}"
        )
    return handler(event.payload)


def parse_post(payload: JSON) -> list[InboundMessage]:
    """A post (mention or looked-up tweet). Public: threads by its reply reference."""
    tweet = _data(payload, "post")
    tweet_id = _required(tweet, "id", "post")
    author_id = tweet.get("author_id")
    if not author_id:
        raise MalformedEventError(
            f"X post {tweet_id} has no author_id: request it with tweet.fields=author_id and "
            "expansions=author_id"
        )
    author = _user_identity(str(author_id), payload)
    reply_to = next(
        (
            str(ref["id"])
            for ref in tweet.get("referenced_tweets") or []
            if isinstance(ref, dict) and ref.get("type") == "replied_to" and ref.get("id")
        ),
        None,
    )
    raw: JSON = {
        "conversation_id": tweet.get("conversation_id"),
        "lang": tweet.get("lang"),
        "referenced_tweets": tweet.get("referenced_tweets") or [],
    }
    if author.handle:
        raw["url"] = f"https://x.com/{author.handle}/status/{tweet_id}"
    if tweet.get("attachments"):
        raw["attachments"] = tweet["attachments"]
    return [
        InboundMessage(
            native_id=tweet_id,
            author=author,
            text=post_text(tweet),
            created_at=object_time(tweet, tweet_id),
            visibility=Visibility.PUBLIC,
            reply_to_native_id=reply_to,
            from_brand=_is_brand(author_id, payload),
            reply_to_brand=reply_to is not None
            and _is_brand(tweet.get("in_reply_to_user_id"), payload),
            raw=raw,
            attachments=media_attachments(tweet, payload),
        )
    ]


def parse_dm(payload: JSON) -> list[InboundMessage]:
    """A direct message; its conversation id groups the exchange."""
    event = _data(payload, "direct message")
    event_id = _required(event, "id", "direct message")
    sender_id = event.get("sender_id")
    if not sender_id:
        raise MalformedEventError(
            f"X direct message {event_id} has no sender_id: request it with "
            "dm_event.fields=sender_id"
        )
    conversation_id = event.get("dm_conversation_id")
    if not conversation_id:
        raise MalformedEventError(
            f"X direct message {event_id} has no dm_conversation_id: request it with "
            "dm_event.fields=dm_conversation_id"
        )
    raw: JSON = {"dm_conversation_id": str(conversation_id)}
    if event.get("participant_ids"):
        raw["participant_ids"] = [str(p) for p in event["participant_ids"]]
    if event.get("attachments"):
        raw["attachments"] = event["attachments"]
    if event.get("referenced_tweets"):
        raw["referenced_tweets"] = event["referenced_tweets"]
    return [
        InboundMessage(
            native_id=event_id,
            author=_user_identity(str(sender_id), payload),
            text=html.unescape(str(event.get("text") or "")),
            created_at=object_time(event, event_id),
            visibility=Visibility.DIRECT,
            thread_key=str(conversation_id),
            from_brand=_is_brand(sender_id, payload),
            raw=raw,
            attachments=media_attachments(event, payload),
        )
    ]


HANDLERS: dict[str, Callable[[JSON], list[InboundMessage]]] = {
    "mention": parse_post,
    "tweet": parse_post,
    "dm.message_create": parse_dm,
}


def post_text(tweet: Mapping[str, Any]) -> str:
    """The full text of a post: a long post's ``note_tweet`` text over its truncated ``text``,
    t.co links replaced by the addresses they stand for, and X's HTML escaping (``&amp;``,
    ``&lt;``, ``&gt;``) undone."""
    note = tweet.get("note_tweet")
    source = note if isinstance(note, dict) and note.get("text") else tweet
    text = str(source.get("text") or "")
    urls = (source.get("entities") or {}).get("urls") or []
    for url in urls:
        if not isinstance(url, dict):
            continue
        short, expanded = url.get("url"), url.get("expanded_url")
        # Media links (pic.x.com) expand to the post itself; the short form reads better.
        if short and expanded and not url.get("media_key"):
            text = text.replace(str(short), str(expanded))
    return html.unescape(text)


def media_attachments(obj: Mapping[str, Any], payload: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """The photos, videos and GIFs of a post or direct message, in the order of its
    ``attachments.media_keys``, from the media objects in the payload's ``includes``."""
    by_key = _media_by_key(payload.get("includes") or {})
    out = []
    for key in _media_keys(obj):
        media = by_key.get(key)
        attachment = media_attachment(media) if media is not None else None
        if attachment is not None:
            out.append(attachment)
    return tuple(out)


def media_attachment(media: Mapping[str, Any]) -> Attachment | None:
    """One X media object as an attachment; None for a type or an entry it cannot use."""
    kind = _MEDIA_KINDS.get(str(media.get("type") or ""))
    if kind is None:
        return None
    mime_type = None
    if kind is AttachmentKind.IMAGE:
        url, preview = https_url(media.get("url")), None
    else:
        url, preview = (
            playable_url(media.get("variants")),
            https_url(media.get("preview_image_url")),
        )
        mime_type = PLAYABLE_TYPE if url is not None else None
    if url is None and preview is None:
        return None
    return Attachment(
        kind=kind,
        url=url,
        preview_url=preview,
        mime_type=mime_type,
        description=alt_text(media.get("alt_text")),
    )


def playable_url(variants: object) -> str | None:
    """The address of a video's best MP4 file: of its ``variants``, the ``video/mp4`` one with
    an ``https`` address and the highest ``bit_rate`` (the first of equals; a variant without
    a bit rate counts as 0). None when there is none (an HLS playlist alone, or no variants)."""
    best: tuple[int, str] | None = None
    for variant in variants if isinstance(variants, list) else []:
        if not isinstance(variant, dict) or variant.get("content_type") != PLAYABLE_TYPE:
            continue
        url = https_url(variant.get("url"))
        if url is None:
            continue
        rate = variant.get("bit_rate")
        bit_rate = rate if isinstance(rate, int) and not isinstance(rate, bool) else 0
        if best is None or bit_rate > best[0]:
            best = (bit_rate, url)
    return best[1] if best is not None else None


def _media_by_key(includes: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The media objects of a payload's ``includes``, by their ``media_key``."""
    found = includes.get("media")
    return {
        str(m.get("media_key")): m
        for m in (found if isinstance(found, list) else [])
        if isinstance(m, dict) and m.get("media_key")
    }


def _media_keys(obj: Mapping[str, Any]) -> list[str]:
    attachments = obj.get("attachments")
    keys = attachments.get("media_keys") if isinstance(attachments, dict) else None
    if not isinstance(keys, list):
        return []
    return [str(k) for k in keys if isinstance(k, str | int) and not isinstance(k, bool)]


def snowflake_time(object_id: str) -> datetime:
    """When an X object was created, from its id."""
    millis = (int(object_id) >> 22) + _SNOWFLAKE_EPOCH_MS
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def object_time(obj: Mapping[str, Any], object_id: str) -> datetime:
    """``created_at`` when X sent it, else the time encoded in the id."""
    value = obj.get("created_at")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    try:
        return snowflake_time(object_id)
    except ValueError as exc:
        raise MalformedEventError(
            f"X object {object_id!r} has no created_at and its id is not a snowflake"
        ) from exc


def user_identity(user: Mapping[str, Any]) -> Identity:
    return Identity(
        native_id=str(user["id"]),
        handle=str(user.get("username") or "") or None,
        display_name=str(user.get("name") or "") or None,
    )


def _user_identity(user_id: str, payload: Mapping[str, Any]) -> Identity:
    for user in (payload.get("includes") or {}).get("users") or []:
        if isinstance(user, dict) and str(user.get("id")) == user_id:
            return user_identity(user)
    # The author's profile was not expanded (or the account is gone); the id still identifies.
    return Identity(native_id=user_id)


def _data(payload: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise MalformedEventError(f"X {what} event has no data object")
    return data


def _required(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not value:
        raise MalformedEventError(f"X {what} has no {key}")
    return str(value)


def _is_brand(user_id: object, payload: Mapping[str, Any]) -> bool:
    found = payload.get(ANNOTATION)
    brand = found.get("brand_user_id") if isinstance(found, dict) else None
    return brand is not None and str(user_id) == str(brand)
