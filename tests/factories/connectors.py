"""Connectors for tests: a recording one and a failing one, registered like any other."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
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
