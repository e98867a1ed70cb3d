"""The X connector (API v2): mentions and direct messages in, replies out, and public polls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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
    PollLimits,
    PollRequest,
    PollResult,
    PollTally,
    RawEvent,
    SendResult,
    config_problem,
)
from socialdesk.connectors.http import HttpClient, RetryPolicy
from socialdesk.connectors.x import poll as x_poll
from socialdesk.connectors.x import polls as x_polls
from socialdesk.connectors.x import send as x_send
from socialdesk.connectors.x.config import XAccount
from socialdesk.connectors.x.parse import (
    IGNORED_EVENTS,
    SUPPORTED_EVENTS,
    USER_FIELDS,
    parse_event,
    user_identity,
)


class XConnector:
    kind: ClassVar[ChannelKind] = ChannelKind.X
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=x_send.MAX_POST,
        length_counting=LengthCounting.X_WEIGHTED,
        threading=True,
        direct_messages=True,
        public_replies=True,
        # POST /2/tweets allows 200 requests per 15 minutes per user (the recorded
        # x-rate-limit-limit); lower tiers also cap posts per 24 hours, which the
        # x-user-limit-24hour-* headers enforce at send time.
        rate_limit=200,
        rate_window_seconds=900,
        idempotent_sends=False,
        # DELETE /2/tweets/:id (withdraw).
        deletes=True,
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
            provider="X", transport=transport, policy=policy, sleep=sleep, now=self._now
        )
        self._user_ids: dict[int, str] = {}
        self._lock = threading.Lock()

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return parse_event(event)

    def not_ready(self, account: AccountContext) -> str | None:
        return config_problem(XAccount.from_context, account)

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        return x_send.send(
            self._client,
            account=XAccount.from_context(account),
            request=request,
            brand_account_id=account.brand_account_id,
            now=self._now,
        )

    def withdraw(self, account: AccountContext, native_id: str) -> None:
        """Delete the brand's post ``native_id``. X counts deletions in a bucket of their own
        (50 per 15 minutes), apart from posting."""
        x_send.delete_post(
            self._client,
            account=XAccount.from_context(account),
            native_id=native_id,
            bucket=f"{account.brand_account_id}:DELETE /2/tweets",
        )

    def poll(self, account: AccountContext, cursor: str | None) -> PollResult:
        config = XAccount.from_context(account)
        user_id = config.user_id or self._user_id(account, config)
        return x_poll.poll(
            self._client,
            account=config,
            user_id=user_id,
            cursor=cursor,
            brand_account_id=account.brand_account_id,
            now=self._now,
        )

    def poll_limits(self, account: AccountContext) -> PollLimits:
        """X's poll limits, the same for every account."""
        return x_polls.X_POLL_LIMITS

    def publish_poll(self, account: AccountContext, request: PollRequest) -> PollTally:
        """Post a public poll. It is a post, so it counts against the same posting rate as
        replies (the same bucket)."""
        return x_polls.post_poll(
            self._client,
            account=XAccount.from_context(account),
            handle=account.handle,
            request=request,
            bucket=f"{account.brand_account_id}:POST /2/tweets",
            now=self._now,
        )

    def read_poll(self, account: AccountContext, poll_id: str) -> PollTally:
        """The counts now of the poll carried by the post ``poll_id`` (on X a poll is read
        through its post, so the desk keeps the post's id as the poll's)."""
        return x_polls.read_poll(
            self._client,
            account=XAccount.from_context(account),
            post_id=poll_id,
            bucket=f"{account.brand_account_id}:GET /2/tweets",
        )

    def verify_credentials(self, account: AccountContext) -> Identity:
        """The brand account as X knows it (``GET /2/users/me``); raises AuthError when the
        token is refused. Suited to a health check."""
        config = XAccount.from_context(account)
        response = self._client.request(
            "GET",
            config.api_base + "/2/users/me",
            idempotent=True,
            bucket=f"{account.brand_account_id}:GET /2/users/me",
            headers=config.headers(),
            params={"user.fields": USER_FIELDS},
            error_mapper=x_send.classify_error,
        )
        return user_identity(response.json()["data"])

    def _user_id(self, account: AccountContext, config: XAccount) -> str:
        with self._lock:
            known = self._user_ids.get(account.brand_account_id)
        if known is not None:
            return known
        found = self.verify_credentials(account).native_id
        with self._lock:
            self._user_ids[account.brand_account_id] = found
        return found
