"""Inbound events that fail or whose job is lost are retried, then given up on visibly: a
customer's message never waits unseen in the raw event store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.conversations import visitor_event

from socialdesk.accounts.models import Organization, Role
from socialdesk.channels.models import BrandAccount, EventStatus, InboundEvent
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import flows, recovery
from socialdesk.conversations import jobs as conversations_jobs
from socialdesk.conversations.models import Message
from socialdesk.notifications.models import Notification


@pytest.fixture
def desk(session: Session) -> tuple[Organization, BrandAccount]:
    org = accounts.organization(session)
    accounts.member(session, org, role=Role.ADMIN)
    return org, channels.brand_account(session, org, kind="web")


def arrive(session: Session, account: BrandAccount, n: int) -> InboundEvent:
    """A visitor's message stored as the API channel stores it: processed by a job."""
    stored, is_new = visitor_event(
        session,
        account,
        visitor=f"visitor-{n}",
        text=f"My order {n} never came",
        native_id=f"visitor-{n}:form",
        process_now=False,
    )
    assert is_new
    session.commit()
    return stored


def failing(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Make ingesting fail ``times`` times (the database away, a bug), then work."""
    calls: list[int] = []
    real = flows.ingest_message

    def ingest(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(flows, "ingest_message", ingest)
    return calls


def fresh(session: Session, event_id: int) -> InboundEvent:
    session.expire_all()
    return session.get_one(InboundEvent, event_id)


def told(session: Session) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(
            select(Notification).where(Notification.kind == recovery.FAILED_NOTIFICATION)
        )
    )


def messages(session: Session) -> int:
    session.expire_all()
    return len(session.scalars(select(Message.id)).all())


def test_a_failing_event_is_retried_and_its_message_arrives(
    session: Session,
    jobs: JobRunner,
    desk: tuple[Organization, BrandAccount],
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, account = desk
    calls = failing(monkeypatch, times=2)
    stored = arrive(session, account, 1)
    jobs.run_pending()
    event = fresh(session, stored.id)
    assert (event.status, event.attempts) == (EventStatus.PENDING.value, 1)
    assert event.error == "RuntimeError: the database went away"
    jobs.run_pending(include_scheduled=True)
    event = fresh(session, stored.id)
    assert (event.status, event.attempts, event.error) == (EventStatus.PROCESSED.value, 3, None)
    assert len(calls) == 3
    assert messages(session) == 1
    assert told(session) == []


def test_an_event_that_keeps_failing_is_given_up_and_the_admins_are_told_once(
    session: Session,
    jobs: JobRunner,
    desk: tuple[Organization, BrandAccount],
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org, account = desk
    failing(monkeypatch, times=100)
    first = arrive(session, account, 1)
    second = arrive(session, account, 2)
    jobs.run_pending(include_scheduled=True)
    for stored in (first, second):
        event = fresh(session, stored.id)
        assert (event.status, event.attempts) == (EventStatus.FAILED.value, recovery.MAX_ATTEMPTS)
        assert event.error == "gave up after 5 attempts: RuntimeError: the database went away"
        assert event.processed_at is not None
    assert messages(session) == 0
    [notice] = told(session)  # one unread notice for a failure that repeats
    assert notice.organization_id == org.id
    assert account.handle in notice.title
    assert notice.link == f"/admin/accounts/{account.id}"
    # Given up: a job that turns up later (a duplicate) leaves the event alone.
    first_id = first.id
    session.commit()
    conversations_jobs.process_event({"event_id": first_id})
    assert fresh(session, first_id).attempts == recovery.MAX_ATTEMPTS


def test_an_event_whose_job_was_lost_is_queued_again_after_a_while(
    session: Session, jobs: JobRunner, desk: tuple[Organization, BrandAccount], clock: FrozenClock
) -> None:
    _, account = desk
    stored = arrive(session, account, 1)
    jobs.flush()  # the worker holding the job was killed
    clock.advance(recovery.RECOVER_AFTER - timedelta(seconds=1))
    assert recovery.recover_lost(session) == recovery.Recovered(requeued=0, failed=0)
    clock.advance(timedelta(seconds=1))
    assert recovery.recover_lost(session) == recovery.Recovered(requeued=1, failed=0)
    jobs.run_pending()
    event = fresh(session, stored.id)
    assert (event.status, event.attempts) == (EventStatus.PROCESSED.value, 1)
    assert messages(session) == 1
    # Processed: nothing more to recover.
    clock.advance(recovery.RECOVER_AFTER)
    assert recovery.recover_lost(session) == recovery.Recovered(requeued=0, failed=0)


def test_an_event_whose_worker_died_on_every_attempt_is_given_up(
    session: Session, jobs: JobRunner, desk: tuple[Organization, BrandAccount], clock: FrozenClock
) -> None:
    _, account = desk
    stored = arrive(session, account, 1)
    jobs.flush()
    for _ in range(recovery.MAX_ATTEMPTS):  # each run counted, none finished
        assert recovery.start_attempt(session, event_id=stored.id) is not None
    session.commit()
    clock.advance(recovery.RECOVER_AFTER)
    assert recovery.recover_lost(session) == recovery.Recovered(requeued=0, failed=1)
    session.commit()
    event = fresh(session, stored.id)
    assert event.status == EventStatus.FAILED.value
    assert event.error == f"gave up after 5 attempts: {recovery.LOST}"
    assert len(told(session)) == 1


def test_the_periodic_recovery_waits_while_the_queue_has_a_backlog(
    session: Session,
    jobs: JobRunner,
    desk: tuple[Organization, BrandAccount],
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, account = desk
    stored = arrive(session, account, 1)  # its job is still queued
    clock.advance(recovery.RECOVER_AFTER)
    monkeypatch.setattr(conversations_jobs, "RECOVERY_BACKLOG", 0)
    conversations_jobs.recover_events()
    assert jobs.queue.pending_count() == 1  # nothing added to the backlog
    monkeypatch.setattr(conversations_jobs, "RECOVERY_BACKLOG", 1000)
    conversations_jobs.recover_events()
    assert jobs.queue.pending_count() == 2  # queued again: harmless, processed once
    jobs.run_pending()
    assert fresh(session, stored.id).status == EventStatus.PROCESSED.value
    assert messages(session) == 1
