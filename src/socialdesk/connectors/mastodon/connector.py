"""The Mastodon connector: mentions and direct messages in, replies out, and public polls, on any
instance."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
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
from socialdesk.connectors.mastodon.config import MastodonAccount
from socialdesk.connectors.mastodon.parse import (
    IGNORED_EVENTS,
    SUPPORTED_EVENTS,
    account_identity,
    parse_event,
)
from socialdesk.connectors.mastodon.poll import poll_mentions
from socialdesk.connectors.mastodon.polls import poll_limits_from, post_poll, read_poll
from socialdesk.connectors.mastodon.send import (
    DEFAULT_MAX_CHARACTERS,
    DEFAULT_MAX_MEDIA_ATTACHMENTS,
    InstanceLimits,
    delete_status,
    error_mapper,
    fetch_instance_limits,
    send_status,
)


class MastodonConnector:
    kind: ClassVar[ChannelKind] = ChannelKind.MASTODON
    # The instance may allow more than 500 characters: see capabilities_for().
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=DEFAULT_MAX_CHARACTERS,
        length_counting=LengthCounting.MASTODON,
        threading=True,
        direct_messages=True,
        public_replies=True,
        # Mastodon's default throttle on posting: 300 statuses per 3 hours per account.
        rate_limit=300,
        rate_window_seconds=3 * 3600,
        idempotent_sends=True,
        # DELETE /api/v1/statuses/:id (withdraw).
        deletes=True,
        # POST /api/v2/media, then media_ids on the status; an instance may allow more files
        # per post than Mastodon's 4: see capabilities_for().
        files=True,
        max_files=DEFAULT_MAX_MEDIA_ATTACHMENTS,
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
        limits_ttl: timedelta = timedelta(hours=6),
    ) -> None:
        self._now = now or clock.now
        self._sleep = sleep
        self._client = HttpClient(
            provider="Mastodon",
            transport=transport,
            policy=policy,
            sleep=sleep,
            now=self._now,
        )
        self._limits_ttl = limits_ttl
        self._limits: dict[str, tuple[datetime, InstanceLimits]] = {}
        self._brand_ids: dict[tuple[int, str], str] = {}
        self._lock = threading.Lock()

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return parse_event(event)

    def not_ready(self, account: AccountContext) -> str | None:
        return config_problem(MastodonAccount.from_context, account)

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        config = MastodonAccount.from_context(account)
        return send_status(
            self._client,
            account=config,
            request=request,
            bucket=f"{account.brand_account_id}:POST /api/v1/statuses",
            # Mastodon throttles uploads apart from posting (30 per 30 minutes).
            media_bucket=f"{account.brand_account_id}:POST /api/v2/media",
            api_bucket=f"{account.brand_account_id}:api",
            now=self._now,
            sleep=self._sleep,
        )

    def withdraw(self, account: AccountContext, native_id: str) -> None:
        """Delete the brand's status ``native_id``. Mastodon throttles deletions apart from
        posting (30 per 30 minutes), so they have a bucket of their own."""
        delete_status(
            self._client,
            account=MastodonAccount.from_context(account),
            native_id=native_id,
            bucket=f"{account.brand_account_id}:DELETE /api/v1/statuses",
        )

    def poll(self, account: AccountContext, cursor: str | None) -> PollResult:
        config = MastodonAccount.from_context(account)
        brand_id = config.account_id or self._brand_native_id(account, config)
        return poll_mentions(
            self._client,
            account=config,
            brand_native_id=brand_id,
            cursor=cursor,
            bucket=f"{account.brand_account_id}:api",
            now=self._now,
        )

    def instance_limits(self, account: AccountContext) -> InstanceLimits:
        """The instance's own post limits, cached for a while per instance."""
        config = MastodonAccount.from_context(account)
        with self._lock:
            cached = self._limits.get(config.instance_url)
        if cached is not None and self._now() - cached[0] < self._limits_ttl:
            return cached[1]
        limits = fetch_instance_limits(self._client, config)
        with self._lock:
            self._limits[config.instance_url] = (self._now(), limits)
        return limits

    def capabilities_for(self, account: AccountContext) -> Capabilities:
        """The capabilities with this account's instance limits (post length, files per post)
        in place of the defaults."""
        limits = self.instance_limits(account)
        return dataclasses.replace(
            self.capabilities,
            max_length=limits.max_characters,
            max_files=limits.max_media_attachments,
        )

    def poll_limits(self, account: AccountContext) -> PollLimits:
        """The instance's poll limits, from the same cached instance document as its post
        length: no call of its own."""
        return poll_limits_from(self.instance_limits(account))

    def publish_poll(self, account: AccountContext, request: PollRequest) -> PollTally:
        """Post a public poll. It counts against the same posting rate as replies, so it uses
        their bucket."""
        config = MastodonAccount.from_context(account)
        return post_poll(
            self._client,
            account=config,
            request=request,
            limits=lambda: self.poll_limits(account),
            bucket=f"{account.brand_account_id}:POST /api/v1/statuses",
        )

    def read_poll(self, account: AccountContext, poll_id: str) -> PollTally:
        """The poll's counts now; ``post_id`` is empty (the poll object does not name its
        status)."""
        config = MastodonAccount.from_context(account)
        return read_poll(
            self._client,
            account=config,
            poll_id=poll_id,
            bucket=f"{account.brand_account_id}:api",
        )

    def verify_credentials(self, account: AccountContext) -> Identity:
        """The brand account as the instance knows it; raises AuthError when the token is
        refused. Suited to a health check."""
        return account_identity(self._me(account, MastodonAccount.from_context(account)))

    def _me(self, account: AccountContext, config: MastodonAccount) -> dict[str, object]:
        response = self._client.request(
            "GET",
            config.instance_url + "/api/v1/accounts/verify_credentials",
            idempotent=True,
            bucket=f"{account.brand_account_id}:api",
            headers=config.headers(),
            error_mapper=error_mapper(config),
        )
        found = response.json()
        return found if isinstance(found, dict) else {}

    def _brand_native_id(self, account: AccountContext, config: MastodonAccount) -> str | None:
        # The numeric id of the brand account on its instance, to recognise its own posts.
        key = (account.brand_account_id, config.instance_url)
        with self._lock:
            known = self._brand_ids.get(key)
        if known is not None:
            return known
        found = self._me(account, config).get("id")
        if found is None:
            return None
        with self._lock:
            self._brand_ids[key] = str(found)
        return str(found)
