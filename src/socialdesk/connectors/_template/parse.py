"""Provider events to inbound messages. Pure functions: no I/O, no clock, no database.

Declare every event kind the provider can send: the ones that become messages in
``SUPPORTED_EVENTS`` (each with a handler in ``HANDLERS`` and a recorded fixture), the ones that
knowingly carry nothing for the desk in ``IGNORED_EVENTS``. Anything else raises
``UnsupportedEvent``: the desk records it as ignored with a log line, and a test fixture of that
kind fails the suite until it is declared.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from socialdesk.connectors.base import (
    JSON,
    ConnectorError,
    Identity,
    InboundMessage,
    RawEvent,
    UnsupportedEvent,
    Visibility,
)

# Replace with the provider's own event names (as its webhook or API calls them).
SUPPORTED_EVENTS = frozenset({"message.created"})
IGNORED_EVENTS = frozenset({"message.read", "typing.started"})


class MalformedEventError(ConnectorError):
    """A declared event whose payload lacks what every such event has."""


def parse_event(event: RawEvent) -> list[InboundMessage]:
    if event.kind in IGNORED_EVENTS:
        return []
    handler = HANDLERS.get(event.kind)
    if handler is None:
        raise UnsupportedEvent(
            f"event kind {event.kind!r} is not handled; supported: {sorted(SUPPORTED_EVENTS)}"
        )
    return handler(event.payload)


def parse_message_created(payload: JSON) -> list[InboundMessage]:
    try:
        message = payload["message"]
        sender = message["sender"]
        created_at = datetime.fromisoformat(message["created_at"].replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Name what was missing: the reason is stored with the failed event.
        raise MalformedEventError(f"message.created event lacks or mangles {exc}") from exc
    if created_at.tzinfo is None:
        raise MalformedEventError("message.created has a timestamp without a UTC offset")
    return [
        InboundMessage(
            native_id=str(message["id"]),
            author=Identity(
                native_id=str(sender["id"]),
                handle=sender.get("handle"),
                display_name=sender.get("name"),
            ),
            text=str(message.get("text") or ""),
            created_at=created_at.astimezone(UTC),
            visibility=Visibility.DIRECT if message.get("private") else Visibility.PUBLIC,
            reply_to_native_id=message.get("in_reply_to"),
            # Private conversations without reply ids group by the provider's conversation id.
            thread_key=message.get("conversation_id") if message.get("private") else None,
            raw={"conversation_id": message.get("conversation_id")},
        )
    ]


HANDLERS: dict[str, Callable[[JSON], list[InboundMessage]]] = {
    "message.created": parse_message_created,
}
