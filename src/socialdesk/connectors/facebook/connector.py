"""The Facebook Pages connector: Page comments and Messenger messages, received by webhook."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar

import httpx

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
    config_problem,
)
from socialdesk.connectors.facebook import webhook
from socialdesk.connectors.facebook.config import FacebookAccount
from socialdesk.connectors.facebook.parse import IGNORED_EVENTS, SUPPORTED_EVENTS, parse_event
from socialdesk.connectors.facebook.send import COMMENT_MAX_CHARACTERS, error_mapper, send
from socialdesk.connectors.http import HttpClient, RetryPolicy


class FacebookConnector:
    kind: ClassVar[ChannelKind] = ChannelKind.FACEBOOK
    capabilities: ClassVar[Capabilities] = Capabilities(
        # A comment; a Messenger message holds 2,000 characters, checked when it is sent.
        max_length=COMMENT_MAX_CHARACTERS,
        length_counting=LengthCounting.CHARACTERS,
        threading=True,
        direct_messages=True,
        public_replies=True,
        # Facebook's limits depend on the Page's engagement (business use case limits) and
        # are reported when hit, in the usage headers; there is no fixed number to pace by.
        rate_limit=None,
        idempotent_sends=False,
    )
    supported_events: ClassVar[frozenset[str]] = SUPPORTED_EVENTS
    ignored_events: ClassVar[frozenset[str]] = IGNORED_EVENTS

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._now = now or clock.now
        self._client = HttpClient(
            provider="Facebook", transport=transport, policy=policy, sleep=sleep, now=self._now
        )

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return parse_event(event)

    def not_ready(self, account: AccountContext) -> str | None:
        return config_problem(FacebookAccount.from_context, account)

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        config = FacebookAccount.from_context(account)
        return send(self._client, account=config, request=request, now=self._now)

    def verify_signature(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Whether a webhook delivery was signed with the app secret (``X-Hub-Signature-256``)."""
        return webhook.verify_signature(headers, body, secret)

    def verify_credentials(self, account: AccountContext) -> Identity:
        """The Page as the Page token sees it (``GET /{page-id}?fields=id,name``); raises
        AuthError when the token is refused. Suited to a health check."""
        config = FacebookAccount.from_context(account)
        response = self._client.request(
            "GET",
            config.url(config.page_id),
            idempotent=True,
            headers=config.headers(),
            params={"fields": "id,name", **config.proof_params()},
            error_mapper=error_mapper(config),
        )
        page = response.json()
        return Identity(
            native_id=str(page.get("id") or config.page_id), display_name=page.get("name")
        )
