"""Receiving Facebook webhooks: the subscription handshake, the signature of every delivery,
and splitting a delivery into raw events. Pure functions (no I/O, no clock), for the web route.

The route (not part of this package) does, for ``GET``: answer ``verify_subscription(...)``'s
challenge as ``text/plain`` with 200, or 403 when it returns None; for ``POST``: refuse with 403
unless ``verify_signature(...)`` holds for the raw body, then store every event of
``events_from_delivery(...)`` (idempotent by native id) and answer 200 at once; Meta retries
deliveries that are not answered quickly.
https://developers.facebook.com/docs/graph-api/webhooks/getting-started
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from socialdesk.connectors.base import JSON, RawEvent

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_PREFIX = "sha256="


class MalformedDelivery(ValueError):
    """A delivery that is not a Page webhook body."""


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """The ``hub.challenge`` to echo when Meta's subscription request carries our verify token;
    None when it does not (answer 403)."""
    if not verify_token:
        return None
    if params.get("hub.mode") != "subscribe":
        return None
    offered = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(offered.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    challenge = params.get("hub.challenge")
    return challenge if challenge else None


def signature_for(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def verify_signature(headers: Mapping[str, str], body: bytes, app_secret: str) -> bool:
    """Whether ``body`` was signed with the app secret: HMAC-SHA256 of the raw body bytes,
    compared in constant time. ``headers`` may use any letter case."""
    if not app_secret:
        return False
    received = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
    if not received or not received.startswith(_SIGNATURE_PREFIX):
        return False
    expected = signature_for(body, app_secret)
    return hmac.compare_digest(
        received.strip().lower().encode("ascii", "replace"), expected.encode()
    )


def page_ids(delivery: Mapping[str, Any]) -> list[str]:
    """The pages a delivery is about (``entry[].id``), to find their brand accounts."""
    return [str(e["id"]) for e in delivery.get("entry") or [] if isinstance(e, dict) and "id" in e]


def events_from_delivery(
    body: bytes | Mapping[str, Any], *, received_at: datetime
) -> list[RawEvent]:
    """One raw event per feed change and per Messenger event of a Page webhook delivery.

    Each event's payload keeps the entry's page id and time beside the item itself:
    ``{"page_id", "time", "field": "feed", "value": {...}}`` for feed changes and
    ``{"page_id", "time", "messaging": {...}}`` for Messenger events.
    """
    delivery = _load(body)
    if delivery.get("object") != "page":
        raise MalformedDelivery(
            f"expected a Page webhook (object 'page'), got object {delivery.get('object')!r}"
        )
    events: list[RawEvent] = []
    for entry in delivery.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        page_id = str(entry.get("id") or "")
        time = entry.get("time")
        for change in entry.get("changes") or []:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            payload: JSON = {
                "page_id": page_id,
                "time": time,
                "field": str(change.get("field") or ""),
                "value": change["value"],
            }
            kind = feed_kind(payload)
            events.append(RawEvent(feed_native_id(kind, payload), kind, payload, received_at))
        # Messenger events come in "messaging"; "standby" holds those another app of a
        # handover setup has control of, which the desk still wants to see.
        for key in ("messaging", "standby"):
            for item in entry.get(key) or []:
                if not isinstance(item, dict):
                    continue
                payload = {"page_id": page_id, "time": time, "messaging": item}
                kind = messaging_kind(item)
                events.append(RawEvent(messaging_native_id(kind, item), kind, payload, received_at))
    return events


def feed_kind(payload: Mapping[str, Any]) -> str:
    """``<field>.<item>.<verb>``, e.g. ``feed.comment.add``."""
    value = payload.get("value") or {}
    return f"{payload.get('field')}.{value.get('item', '')}.{value.get('verb', '')}"


def messaging_kind(item: Mapping[str, Any]) -> str:
    """``messaging.<what>``: message, echo, delivery, read, reaction, postback..."""
    message = item.get("message")
    if isinstance(message, dict):
        return "messaging.echo" if message.get("is_echo") else "messaging.message"
    for key in (
        "delivery",
        "read",
        "reaction",
        "postback",
        "optin",
        "referral",
        "message_edit",
        "account_linking",
        "policy_enforcement",
        "pass_thread_control",
        "take_thread_control",
        "request_thread_control",
    ):
        if key in item:
            return f"messaging.{key}"
    return "messaging.unknown"


def feed_native_id(kind: str, payload: Mapping[str, Any]) -> str:
    value = payload.get("value") or {}
    sender = (value.get("from") or {}).get("id") or value.get("sender_id") or ""
    target = value.get("comment_id") or value.get("post_id") or value.get("parent_id") or ""
    # Edits and reactions repeat the same object id: the time tells them apart.
    return f"{kind}:{target}:{sender}:{value.get('created_time', payload.get('time', ''))}"


def messaging_native_id(kind: str, item: Mapping[str, Any]) -> str:
    for key in ("message", "message_edit", "reaction", "postback"):
        part = item.get(key)
        if isinstance(part, dict) and part.get("mid"):
            return f"{kind}:{part['mid']}"
    sender = (item.get("sender") or {}).get("id", "")
    mark = None
    for key in ("delivery", "read"):
        part = item.get(key)
        if isinstance(part, dict):
            mark = part.get("watermark")
    return f"{kind}:{sender}:{mark if mark is not None else item.get('timestamp', '')}"


def _load(body: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, bytes | bytearray):
        try:
            loaded = json.loads(body)
        except ValueError as exc:
            raise MalformedDelivery(f"the delivery is not JSON: {exc}") from exc
    else:
        loaded = body
    if not isinstance(loaded, Mapping):
        raise MalformedDelivery("the delivery is not a JSON object")
    return loaded
