"""Raw inbound events are deleted once processed and older than SOCIALDESK_RAW_EVENT_DAYS;
pending and failed ones stay, and a network sending an old event again adds nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import visitor_event

from socialdesk.channels.models import BrandAccount, EventStatus, InboundEvent
from socialdesk.common.clock import FrozenClock
from socialdesk.config import get_settings
from socialdesk.conversations import jobs as conversations_jobs
from socialdesk.conversations import raw_events
from socialdesk.conversations.models import Message


def _event(session: Session, account: BrandAccount, n: int) -> InboundEvent:
    stored, _ = visitor_event(
        session, account, visitor=f"visitor-{n}", text=f"Hello {n}", native_id=f"visitor-{n}:hello"
    )
    return stored


def _status(session: Session) -> dict[str, str]:
    return {
        e.native_id: e.status
        for e in session.scalars(select(InboundEvent).order_by(InboundEvent.id))
    }


def test_processed_events_go_after_their_days(
    session: Session, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="web")
    old = _event(session, account, 1)
    failed = _event(session, account, 2)
    failed.status = EventStatus.FAILED.value
    pending = _event(session, account, 3)
    pending.status = EventStatus.PENDING.value
    clock.advance(timedelta(days=20))
    _event(session, account, 4)  # recent
    old_native_id = old.native_id
    session.commit()
    monkeypatch.setenv("SOCIALDESK_RAW_EVENT_DAYS", "30")
    get_settings.cache_clear()

    clock.advance(timedelta(days=11))
    conversations_jobs.prune_raw_events()
    session.expire_all()
    assert set(_status(session)) == {"visitor-2:hello", "visitor-3:hello", "visitor-4:hello"}

    # The network sends the old event again: stored and processed once more, nothing doubled.
    messages = session.scalar(select(func.count()).select_from(Message))
    again = visitor_event(
        session, account, visitor="visitor-1", text="Hello 1", native_id=old_native_id
    )
    assert again[1]
    assert again[0].status == EventStatus.PROCESSED.value
    assert session.scalar(select(func.count()).select_from(Message)) == messages


def test_zero_days_keeps_everything_and_batches_go_on(
    session: Session, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="web")
    for n in range(5):
        _event(session, account, n)
    session.commit()
    clock.advance(timedelta(days=400))
    assert raw_events.prune(session, now=clock.now(), days=0) == 0
    monkeypatch.setattr(raw_events, "BATCH", 2)
    monkeypatch.setenv("SOCIALDESK_RAW_EVENT_DAYS", "1")
    get_settings.cache_clear()
    session.commit()
    conversations_jobs.prune_raw_events()
    session.expire_all()
    assert _status(session) == {}
