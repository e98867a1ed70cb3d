from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts, channels

from socialdesk.channels.models import BrandAccount, Health
from socialdesk.connectors import registry
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Capabilities,
    ChannelKind,
    Identity,
    InboundMessage,
    LengthCounting,
    OutboundRequest,
    PollResult,
    RawEvent,
    SendResult,
)
from socialdesk.conversations import jobs as conversation_jobs
from socialdesk.conversations.models import Message

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class FakeMastodon:
    """A polled channel: pages of mention events after a cursor."""

    kind: ClassVar[ChannelKind] = ChannelKind.MASTODON
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=500, length_counting=LengthCounting.MASTODON
    )
    supported_events: ClassVar[frozenset[str]] = frozenset({"mention"})
    ignored_events: ClassVar[frozenset[str]] = frozenset()
    posts: list[str] = field(default_factory=list)
    seen_cursors: list[str | None] = field(default_factory=list)
    fail_auth: bool = False

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return [
            InboundMessage(
                native_id=event.native_id,
                author=Identity(
                    native_id="https://example.social/users/ann", handle="ann@example.social"
                ),
                text=str(event.payload["text"]),
                created_at=T0,
            )
        ]

    def poll(self, account: AccountContext, cursor: str | None) -> PollResult:
        self.seen_cursors.append(cursor)
        if self.fail_auth:
            raise AuthError("the access token was revoked on the instance")
        start = int(cursor or 0)
        events = [
            RawEvent(native_id=str(i + 1), kind="mention", payload={"text": text}, received_at=T0)
            for i, text in enumerate(self.posts)
            if i >= start
        ]
        return PollResult(
            events=events, cursor=str(len(self.posts)), credentials_update={"token": "fresh"}
        )

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        raise NotImplementedError


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    connector = FakeMastodon(posts=["@brand my bus is late", "@brand still waiting"])
    with registry.override(connector):
        yield connector


def _messages(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def test_poll_stores_events_then_moves_cursor(
    session: Session, jobs: JobRunner, fake_mastodon: FakeMastodon
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    session.commit()
    conversation_jobs.poll_all()
    jobs.run_pending()
    session.expire_all()
    assert _messages(session) == 2
    stored = session.get_one(BrandAccount, account.id)
    assert stored.poll_cursor == "2"
    assert stored.health == Health.OK.value
    from socialdesk.channels import service as channels_service

    assert channels_service.context_for(stored).credentials["token"] == "fresh"
    fake_mastodon.posts.append("@brand hello?")
    conversation_jobs.poll_all()
    jobs.run_pending()
    assert fake_mastodon.seen_cursors == [None, "2"]
    assert _messages(session) == 3


def test_a_crash_before_commit_loses_nothing_and_doubles_nothing(
    session: Session, jobs: JobRunner, fake_mastodon: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    session.commit()
    from socialdesk.channels import service as channels_service

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(channels_service, "mark_health", crash)
    with pytest.raises(RuntimeError):
        conversation_jobs.poll_account({"brand_account_id": account.id})
    monkeypatch.undo()
    session.expire_all()
    assert session.get_one(BrandAccount, account.id).poll_cursor is None  # not moved
    session.commit()
    conversation_jobs.poll_account({"brand_account_id": account.id})
    jobs.run_pending()
    conversation_jobs.poll_account({"brand_account_id": account.id})  # a replay of the same page
    jobs.run_pending()
    assert _messages(session) == 2


def test_revoked_credentials_mark_the_account_unhealthy(
    session: Session, jobs: JobRunner, fake_mastodon: FakeMastodon
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    session.commit()
    fake_mastodon.fail_auth = True
    conversation_jobs.poll_account({"brand_account_id": account.id})
    session.expire_all()
    stored = session.get_one(BrandAccount, account.id)
    assert stored.health == Health.UNHEALTHY.value
    assert stored.health_reason == "the access token was revoked on the instance"
