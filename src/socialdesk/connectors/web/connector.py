"""The website channel: a chat page (and an embeddable widget) where a visitor writes to the
desk and reads the answers. The desk itself is the transport, so "sending" a reply means
making it visible to the visitor; nothing leaves the server."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from socialdesk.common import clock
from socialdesk.connectors.base import (
    AccountContext,
    Capabilities,
    ChannelKind,
    Identity,
    InboundMessage,
    LengthCounting,
    OutboundRequest,
    RawEvent,
    SendResult,
    UnsupportedEvent,
    Visibility,
)

MAX_LENGTH = 5000
MESSAGE_EVENT = "visitor.message"


def thread_key_for(visitor_id: str) -> str:
    return f"visitor:{visitor_id}"


class WebConnector:
    kind: ClassVar[ChannelKind] = ChannelKind.WEB
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=MAX_LENGTH,
        length_counting=LengthCounting.CHARACTERS,
        threading=True,
        direct_messages=True,
        public_replies=False,
        idempotent_sends=True,
        files=True,
    )
    supported_events: ClassVar[frozenset[str]] = frozenset({MESSAGE_EVENT})
    ignored_events: ClassVar[frozenset[str]] = frozenset()

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        if event.kind != MESSAGE_EVENT:
            raise UnsupportedEvent(f"the website channel has no event {event.kind!r}")
        payload = event.payload
        visitor_id = str(payload["visitor_id"])
        text = str(payload["text"])
        return [
            InboundMessage(
                native_id=str(payload["message_id"]),
                author=Identity(
                    native_id=visitor_id,
                    # Addresses are compared lower-cased (contacts.duplicates), as email's are.
                    handle=str(payload.get("email") or "").strip().lower() or None,
                    display_name=payload.get("name") or "Website visitor",
                ),
                text=text,
                created_at=datetime.fromisoformat(str(payload["sent_at"])),
                visibility=Visibility.DIRECT,
                thread_key=thread_key_for(visitor_id),
                raw=dict(payload),
            )
        ]

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        # The visitor's page reads sent replies from the desk; the idempotency key doubles as
        # the native id, so a retried delivery is the same message.
        return SendResult(native_id=f"web-{request.idempotency_key}", sent_at=clock.now())
