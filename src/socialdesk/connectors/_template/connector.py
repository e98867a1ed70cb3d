"""The connector class: declarations, and parse/send (plus poll or verify_signature when the
provider is polled or pushes signed webhooks)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar

import httpx

from socialdesk.common import clock
from socialdesk.connectors._template import send as template_send
from socialdesk.connectors._template.parse import IGNORED_EVENTS, SUPPORTED_EVENTS, parse_event
from socialdesk.connectors.base import (
    AccountContext,
    Capabilities,
    ChannelKind,
    InboundMessage,
    LengthCounting,
    OutboundRequest,
    RawEvent,
    SendResult,
)
from socialdesk.connectors.http import HttpClient


class TemplateConnector:
    # Add the network to ChannelKind in base.py (with the lead) and use it here.
    kind: ClassVar[ChannelKind] = ChannelKind.WEB
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=1000,
        length_counting=LengthCounting.CHARACTERS,
        direct_messages=True,
        rate_limit=100,
        rate_window_seconds=60,
        idempotent_sends=True,
        # True once ``send`` uploads ``request.attachments`` (the network's media API): until
        # then the desk refuses files on this channel, by name, before anything is stored.
        files=False,
    )
    supported_events: ClassVar[frozenset[str]] = SUPPORTED_EVENTS
    ignored_events: ClassVar[frozenset[str]] = IGNORED_EVENTS

    # Entry points instantiate the class without arguments; tests inject the transport and time.
    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._now = now or clock.now
        self._client = HttpClient(
            provider="Provider", transport=transport, sleep=sleep, now=self._now
        )

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return parse_event(event)

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        return template_send.send(self._client, account=account, request=request, now=self._now)

    def verify_signature(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Webhook deliveries carry an HMAC-SHA256 of the body; compare in constant time."""
        sent = headers.get("X-Signature-256", "")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(sent, expected)
