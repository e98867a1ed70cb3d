"""The Bluesky connector: mentions, replies and quotes in, threaded replies out.

Plain XRPC over the shared HTTP client rather than the ``atproto`` SDK: the connector needs
ten endpoints, and going through :class:`HttpClient` gives it the same timeouts, backoff,
retry rules (no blind repeat of a write) and error wording as every other connector, plus
``httpx.MockTransport`` in tests; the SDK brings its own client, pydantic models for the whole
lexicon and a native CBOR dependency for features the desk does not use.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, TypeVar

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
    PollResult,
    RawEvent,
    SendResult,
    config_problem,
)
from socialdesk.connectors.bluesky.api import Xrpc
from socialdesk.connectors.bluesky.config import BlueskyAccount
from socialdesk.connectors.bluesky.parse import (
    IGNORED_EVENTS,
    SUPPORTED_EVENTS,
    author_identity,
    parse_event,
)
from socialdesk.connectors.bluesky.poll import poll_notifications
from socialdesk.connectors.bluesky.send import (
    MAX_GRAPHEMES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    WriteBudget,
    delete_post,
    send_post,
)
from socialdesk.connectors.bluesky.session import Sessions
from socialdesk.connectors.http import HttpClient, RetryPolicy

_Result = TypeVar("_Result", SendResult, PollResult)


class BlueskyConnector:
    kind: ClassVar[ChannelKind] = ChannelKind.BLUESKY
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=MAX_GRAPHEMES,
        length_counting=LengthCounting.GRAPHEMES,
        threading=True,
        direct_messages=False,
        public_replies=True,
        # A PDS allows 5,000 write points an hour per account and a new record costs 3.
        # https://docs.bsky.app/docs/advanced-guides/rate-limits
        rate_limit=1666,
        rate_window_seconds=3600,
        # Replies are written under a record key derived from the idempotency key and looked
        # up before any retry (send.py), so a repeated send never posts twice.
        idempotent_sends=True,
        # com.atproto.repo.deleteRecord (withdraw).
        deletes=True,
        # Images only, each up to 1,000,000 bytes: the desk refuses anything else before it
        # stores the reply (send.py checks again, by name, for a direct call).
        files=True,
        max_files=MAX_IMAGES,
        file_types=("image/",),
        max_file_bytes=MAX_IMAGE_BYTES,
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
        client = HttpClient(
            provider="Bluesky", transport=transport, policy=policy, sleep=sleep, now=self._now
        )
        self._xrpc = Xrpc(client, Sessions(client, now=self._now), now=self._now)
        self._budget = WriteBudget()

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return parse_event(event)

    def not_ready(self, account: AccountContext) -> str | None:
        return config_problem(BlueskyAccount.from_context, account)

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        config = BlueskyAccount.from_context(account)
        result = send_post(
            self._xrpc, account=config, request=request, budget=self._budget, now=self._now
        )
        return self._hand_back(result, account.brand_account_id)

    def withdraw(self, account: AccountContext, native_id: str) -> None:
        """Delete the brand's post ``native_id`` (its ``at://`` URI). A session renewed on the
        way waits in ``take_credentials_update`` for the desk to store it."""
        config = BlueskyAccount.from_context(account)
        delete_post(self._xrpc, account=config, uri=native_id, budget=self._budget, now=self._now)

    def poll(self, account: AccountContext, cursor: str | None) -> PollResult:
        config = BlueskyAccount.from_context(account)
        result = poll_notifications(self._xrpc, account=config, cursor=cursor, now=self._now)
        return self._hand_back(result, account.brand_account_id)

    def verify_credentials(self, account: AccountContext) -> Identity:
        """The brand account as its server knows it (``com.atproto.server.getSession``);
        raises AuthError when the app password or session is refused. Suited to a health
        check."""
        config = BlueskyAccount.from_context(account)
        response, _ = self._xrpc.call(
            config, "GET", "com.atproto.server.getSession", idempotent=True
        )
        return author_identity(response.json())

    def take_credentials_update(self, brand_account_id: int) -> dict[str, str] | None:
        """The session obtained for this account and not yet handed back in a result (for
        callers outside the send and poll jobs, e.g. a health check); None when there is
        none."""
        return self._xrpc.sessions.take_update(brand_account_id)

    def _hand_back(self, result: _Result, brand_account_id: int) -> _Result:
        # A new session is handed back with the next successful result; until the desk has
        # stored it, this process keeps using it from memory.
        update = self._xrpc.sessions.take_update(brand_account_id)
        if update is None:
            return result
        return dataclasses.replace(result, credentials_update=update)
