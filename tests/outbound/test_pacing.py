"""Each brand account keeps within its channel's declared rate of sends: a reply over it
waits in the queue, says why, and goes out when the window ends; the wait costs it none of its
delivery attempts. The count is the account's, whatever worker sends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import RecordingConnector
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Member
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.connectors.base import Capabilities, LengthCounting
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.outbound import pacing
from socialdesk.outbound import service as outbound

TWO_A_MINUTE = Capabilities(
    max_length=280, length_counting=LengthCounting.CHARACTERS, rate_limit=2, rate_window_seconds=60
)


class PacedConnector(RecordingConnector):
    capabilities: ClassVar[Capabilities] = TWO_A_MINUTE


@pytest.fixture
def paced_x() -> Iterator[PacedConnector]:
    connector = PacedConnector()
    with registry.override(connector):
        yield connector


def _desk(session: Session) -> tuple[BrandAccount, Member, list[Conversation]]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="x")
    agent = accounts.member(session, org)
    conversations = [
        ingest(
            session, account, inbound(native_id=f"t{n}", author=f"cust{n}", text="Help")
        ).conversation
        for n in range(3)
    ]
    session.commit()
    return account, agent, conversations


def _message(session: Session, message_id: int) -> Message:
    session.expire_all()
    return session.get_one(Message, message_id)


def test_a_reply_over_the_channels_rate_waits_for_the_next_window(
    session: Session, jobs: JobRunner, clock: FrozenClock, paced_x: PacedConnector
) -> None:
    account, agent, conversations = _desk(session)
    replies = [
        outbound.queue_reply(session, conversation=c, author=agent, text=f"On it ({n})")
        for n, c in enumerate(conversations)
    ]
    session.commit()
    jobs.run_pending()
    assert [r.text for r in paced_x.sent] == ["On it (0)", "On it (1)"]
    waiting = _message(session, replies[2].id)
    assert waiting.delivery_state == DeliveryState.QUEUED.value
    assert waiting.delivery_attempts == 0  # the wait is not an attempt
    window_end = clock.now() + timedelta(seconds=60)
    assert waiting.delivery_error == (
        "X takes at most 2 posts from one account in 1 minute; this one waits for the next "
        f"window, at {window_end:%H:%M} UTC"
    )

    clock.advance(timedelta(seconds=61))
    jobs.run_pending(include_scheduled=True)
    sent = _message(session, replies[2].id)
    assert sent.delivery_state == DeliveryState.SENT.value
    assert sent.delivery_error is None
    assert sent.delivery_attempts == 1
    assert [r.text for r in paced_x.sent][-1] == "On it (2)"
    stored = session.get_one(BrandAccount, account.id)
    assert (stored.send_window_started_at, stored.send_window_count) == (clock.now(), 1)


def test_the_window_counts_sends_and_starts_again_when_it_ends(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="x")
    session.commit()
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def take(at: datetime) -> datetime | None:
        return pacing.take_send(
            session, brand_account_id=account.id, capabilities=TWO_A_MINUTE, now=at
        )

    assert take(start) is None
    assert take(start + timedelta(seconds=30)) is None
    assert take(start + timedelta(seconds=59)) == start + timedelta(seconds=60)
    assert take(start + timedelta(seconds=59)) == start + timedelta(seconds=60)  # not counted
    assert account.send_window_count == 2
    assert take(start + timedelta(seconds=60)) is None  # a new window
    assert (account.send_window_started_at, account.send_window_count) == (
        start + timedelta(seconds=60),
        1,
    )
    # A window that seems to start in the future (the clock was set back) starts again now.
    assert take(start) is None
    assert account.send_window_started_at == start
    # Channels with no known rate are not counted at all.
    unpaced = Capabilities(max_length=None, length_counting=LengthCounting.CHARACTERS)
    for _ in range(5):
        assert (
            pacing.take_send(session, brand_account_id=account.id, capabilities=unpaced, now=start)
            is None
        )
    assert account.send_window_count == 1


def test_the_wait_names_the_window_in_words() -> None:
    until = datetime(2026, 11, 24, 14, 5, tzinfo=UTC)
    mastodon = Capabilities(
        max_length=500,
        length_counting=LengthCounting.MASTODON,
        rate_limit=300,
        rate_window_seconds=3 * 3600,
    )
    assert pacing.describe(mastodon, "Mastodon", until=until) == (
        "Mastodon takes at most 300 posts from one account in 3 hours; this one waits for the "
        "next window, at 14:05 UTC"
    )
    odd = Capabilities(
        max_length=None,
        length_counting=LengthCounting.CHARACTERS,
        rate_limit=5,
        rate_window_seconds=90,
    )
    assert "5 posts from one account in 90 seconds" in pacing.describe(odd, "Web", until=until)
