"""Jobs enqueued with a transaction are recorded in it, so a job the queue loses runs anyway."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner

from socialdesk.common.clock import FrozenClock
from socialdesk.db.session import session_scope
from socialdesk.jobs import intents, registry
from socialdesk.jobs import queue as jobs_queue
from socialdesk.jobs.models import JobIntent
from socialdesk.jobs.registry import Retry

RAN: list[dict[str, object]] = []


@registry.job("tests.intent_record", max_attempts=3, backoff_seconds=60)
def _record(payload: registry.Payload) -> None:
    RAN.append(payload)


@registry.job("tests.intent_retry", max_attempts=3, backoff_seconds=3600)
def _retry(payload: registry.Payload) -> None:
    RAN.append(payload)
    raise Retry("provider said 503")


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def _intents(session: Session) -> list[JobIntent]:
    """The intents stored now. Ends the test's transaction, which holds SQLite's write lock."""
    session.expire_all()
    found = list(session.scalars(select(JobIntent).order_by(JobIntent.created_at)))
    session.commit()
    return found


def test_a_job_is_recorded_with_its_transaction_and_settled_when_it_has_run(
    session: Session, jobs: JobRunner
) -> None:
    jobs_queue.enqueue(session, "tests.intent_record", {"n": 1})
    session.commit()
    [intent] = _intents(session)
    assert (intent.name, intent.payload, intent.recoveries) == ("tests.intent_record", {"n": 1}, 0)
    assert jobs.run_pending() == 1
    assert RAN == [{"n": 1}]
    assert _intents(session) == []


def test_a_rolled_back_transaction_owes_nothing(session: Session, jobs: JobRunner) -> None:
    jobs_queue.enqueue(session, "tests.intent_record", {"n": 1})
    session.rollback()
    assert _intents(session) == []
    assert jobs.run_pending() == 0


def test_a_job_not_recorded_on_request_leaves_no_intent(session: Session, jobs: JobRunner) -> None:
    jobs_queue.enqueue(session, "tests.intent_record", {"n": 1}, durable=False)
    session.commit()
    assert _intents(session) == []
    assert jobs.run_pending() == 1


def test_a_lost_job_is_queued_again_once_it_is_overdue_and_runs(
    session: Session, jobs: JobRunner, clock: FrozenClock
) -> None:
    jobs_queue.enqueue(session, "tests.intent_record", {"n": 1})
    session.commit()
    jobs.flush()  # the worker that had dequeued it was killed: the queue has lost it

    clock.advance(intents.RECOVER_AFTER - timedelta(seconds=1))
    jobs_queue.recover_lost()
    assert jobs.run_pending() == 0  # not overdue yet: it may still be on its way

    clock.advance(timedelta(seconds=1))
    jobs_queue.recover_lost()
    [intent] = _intents(session)
    assert intent.recoveries == 1
    assert intent.due_at == clock.now()  # not queued again for another RECOVER_AFTER
    jobs_queue.recover_lost()
    assert jobs.run_pending() == 1
    assert RAN == [{"n": 1}]
    assert _intents(session) == []


def test_a_retry_moves_the_intent_to_its_time_so_it_is_not_taken_for_lost(
    session: Session, jobs: JobRunner, clock: FrozenClock
) -> None:
    jobs_queue.enqueue(session, "tests.intent_retry", {"n": 1})
    session.commit()
    jobs.run_pending()
    assert len(RAN) == 1
    [intent] = _intents(session)
    assert intent.due_at == clock.now() + timedelta(seconds=3600)  # the first backoff
    clock.advance(intents.RECOVER_AFTER * 2)
    jobs_queue.recover_lost()
    assert _intents(session)[0].recoveries == 0
    jobs.run_pending()
    assert len(RAN) == 1  # the retry waits in the schedule, nothing was added


def test_a_job_that_gives_up_owes_nothing_more(session: Session, jobs: JobRunner) -> None:
    jobs_queue.enqueue(session, "tests.intent_retry", {"n": 1})
    session.commit()
    jobs.run_pending(include_scheduled=True)
    assert len(RAN) == 3  # max_attempts
    assert _intents(session) == []


def test_a_job_lost_again_and_again_is_dropped_and_logged(
    session: Session, jobs: JobRunner, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    jobs_queue.enqueue(session, "tests.intent_record", {"n": 1})
    session.commit()
    for _ in range(intents.MAX_RECOVERIES):
        jobs.flush()
        clock.advance(intents.RECOVER_AFTER)
        jobs_queue.recover_lost()
    assert _intents(session)[0].recoveries == intents.MAX_RECOVERIES
    jobs.flush()
    clock.advance(intents.RECOVER_AFTER)
    with caplog.at_level(logging.ERROR, logger="socialdesk.jobs.intents"):
        jobs_queue.recover_lost()
    assert _intents(session) == []
    assert "tests.intent_record" in caplog.text
    assert "lost 5 times" in caplog.text
    assert jobs.run_pending() == 0


def test_an_intent_for_a_job_that_no_longer_exists_is_dropped(
    session: Session, jobs: JobRunner, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    intents.record(session, "tests.removed_in_an_upgrade", {}, due_at=clock.now())
    session.commit()
    clock.advance(intents.RECOVER_AFTER)
    with caplog.at_level(logging.ERROR, logger="socialdesk.jobs.intents"):
        jobs_queue.recover_lost()
    assert _intents(session) == []
    assert "tests.removed_in_an_upgrade" in caplog.text


def test_recovery_waits_while_the_queue_is_behind(
    session: Session, jobs: JobRunner, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs_queue.enqueue(session, "tests.intent_record", {"n": 1})
    session.commit()
    jobs.flush()
    clock.advance(intents.RECOVER_AFTER)
    monkeypatch.setattr(intents, "BACKLOG_LIMIT", -1)  # any queue is "behind"
    jobs_queue.recover_lost()
    assert _intents(session)[0].recoveries == 0
    monkeypatch.setattr(intents, "BACKLOG_LIMIT", 1000)
    jobs_queue.recover_lost()
    assert jobs.run_pending() == 1
    assert RAN == [{"n": 1}]


def test_a_job_queued_before_intents_existed_still_runs(jobs: JobRunner) -> None:
    """Jobs already in the queue's storage at upgrade carry (name, payload, attempt)."""
    jobs.queue._task("tests.intent_record", {"n": 9}, 1)
    assert jobs.run_pending() == 1
    assert RAN == [{"n": 9}]


LONG_JOB_CLOCK: list[FrozenClock] = []


@registry.job("tests.intent_long", max_attempts=1)
def _long(payload: registry.Payload) -> None:
    """A long pass: the clock moves past the recovery's wait while it works."""
    LONG_JOB_CLOCK[0].advance(intents.RECOVER_AFTER)
    jobs_queue.still_running()
    with session_scope() as session:
        queued_again = intents.recover(session, lambda *_: None)
    RAN.append({"queued again while running": queued_again})


def test_a_long_job_that_says_it_is_still_running_is_not_taken_for_lost(
    session: Session, clock: FrozenClock
) -> None:
    LONG_JOB_CLOCK[:] = [clock]
    intent = intents.record(session, "tests.intent_long", {}, due_at=clock.now())
    session.commit()
    jobs_queue.execute("tests.intent_long", {}, 1, intent=intent)
    assert RAN == [{"queued again while running": 0}]
    assert _intents(session) == []  # settled once it ended


def test_still_running_outside_a_job_does_nothing() -> None:
    jobs_queue.still_running()
