"""Connectors for tests: a recording one and a failing one, registered like any other."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from socialdesk.common import clock
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Capabilities,
    ChannelKind,
    InboundMessage,
    LengthCounting,
    OutboundRequest,
    PollLimits,
    PollRequest,
    PollTally,
    RawEvent,
    SendError,
    SendResult,
)


@dataclass
class RecordingConnector:
    """Pretends to be the X connector; remembers every send and can be told to fail."""

    kind: ClassVar[ChannelKind] = ChannelKind.X
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=280, length_counting=LengthCounting.CHARACTERS
    )
    supported_events: ClassVar[frozenset[str]] = frozenset()
    ignored_events: ClassVar[frozenset[str]] = frozenset()

    sent: list[OutboundRequest] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return []

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(request)
        return SendResult(native_id=str(next(self._ids)), sent_at=clock.now())


def transient(reason: str = "503 from the provider") -> SendError:
    return SendError(reason, retryable=True, retry_after_seconds=1)


def permanent(reason: str = "403: your access tier does not allow replies") -> SendError:
    return SendError(reason, retryable=False)


def revoked() -> AuthError:
    return AuthError("token revoked by the user")


@dataclass
class PollingConnector(RecordingConnector):
    """Pretends to be the Mastodon connector: posts polls, remembers each, and answers their
    counts from ``tallies`` (poll id: the counts to answer next), or fails as told."""

    kind: ClassVar[ChannelKind] = ChannelKind.MASTODON
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=500, length_counting=LengthCounting.MASTODON, idempotent_sends=True
    )
    limits: PollLimits = field(
        default_factory=lambda: PollLimits(
            max_options=4, max_option_length=50, min_seconds=300, max_seconds=2_629_746
        )
    )
    polls: list[PollRequest] = field(default_factory=list)
    tallies: dict[str, list[PollTally]] = field(default_factory=dict)
    read_failures: list[Exception] = field(default_factory=list)

    def poll_limits(self, account: AccountContext) -> PollLimits:
        return self.limits

    def publish_poll(self, account: AccountContext, request: PollRequest) -> PollTally:
        if self.failures:
            raise self.failures.pop(0)
        self.polls.append(request)
        number = len(self.polls)
        return PollTally(
            post_id=str(next(self._ids)),
            poll_id=f"p{number}",
            closes_at=clock.now() + timedelta(seconds=request.seconds),
            closed=False,
            votes=tuple(0 for _ in request.options),
            votes_count=0,
            voters_count=0,
            url=f"https://mastodon.example/@brand/{number}",
        )

    def read_poll(self, account: AccountContext, poll_id: str) -> PollTally:
        if self.read_failures:
            raise self.read_failures.pop(0)
        return self.tallies[poll_id].pop(0)


def tally(
    poll_id: str, votes: tuple[int, ...], *, closed: bool = False, voters: int | None = None
) -> PollTally:
    """Counts as a network would answer them."""
    return PollTally(
        post_id="",
        poll_id=poll_id,
        closes_at=None,
        closed=closed,
        votes=votes,
        votes_count=sum(votes),
        voters_count=sum(votes) if voters is None else voters,
    )


@dataclass
class WithdrawingConnector(RecordingConnector):
    """Pretends to be the X connector that can also take a post back: remembers each
    withdrawal and can be told to fail it."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=280, length_counting=LengthCounting.CHARACTERS, deletes=True
    )
    withdrawn: list[str] = field(default_factory=list)
    withdraw_failures: list[Exception] = field(default_factory=list)

    def withdraw(self, account: AccountContext, native_id: str) -> None:
        if self.withdraw_failures:
            raise self.withdraw_failures.pop(0)
        self.withdrawn.append(native_id)


@dataclass
class WithdrawingPollConnector(PollingConnector):
    """Pretends to be the Mastodon connector, which posts polls and can also take a post back:
    remembers each withdrawal and can be told to fail it."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=500, length_counting=LengthCounting.MASTODON, idempotent_sends=True, deletes=True
    )
    withdrawn: list[str] = field(default_factory=list)
    withdraw_failures: list[Exception] = field(default_factory=list)

    def withdraw(self, account: AccountContext, native_id: str) -> None:
        if self.withdraw_failures:
            raise self.withdraw_failures.pop(0)
        self.withdrawn.append(native_id)
