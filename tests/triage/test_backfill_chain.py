"""One backfill chain per organization: imports that follow each other (or come while a chain
runs) leave their messages to the running chain, which does not stop before them. The jobs run
on the in-memory queue; every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Message
from socialdesk.events.models import EventRecord
from socialdesk.jobs.registry import Payload
from socialdesk.triage import backfill
from socialdesk.triage import jobs as triage_jobs
from socialdesk.triage.classify import TriageResult, artifact_path
from socialdesk.triage.jobs import BACKFILL_JOB, enqueue_backfill
from socialdesk.triage.models import MessageTriage
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.conversations import inbound
from tests.triage.test_backfill import _history

pytestmark = pytest.mark.skipif(
    not artifact_path("default").is_file(), reason="the default triage model is not built"
)


def _import(session: Session, account: BrandAccount, prefix: str, count: int) -> None:
    """An import of ``count`` customer messages, committed."""
    _history(
        session,
        account,
        [inbound(native_id=f"{prefix}{i}", author=f"{prefix}{i}") for i in range(count)],
    )


def _setup(session: Session, jobs: JobRunner) -> tuple[int, BrandAccount]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    jobs.run_pending()  # what creating them queued
    return org.id, account


def _untriaged(session: Session, organization_id: int) -> int:
    session.commit()  # a fresh read, and no lock held while jobs run
    todo = backfill.count_untriaged(session, organization_id=organization_id)
    session.commit()
    return todo


def _triaged(session: Session) -> int:
    count = int(session.scalar(select(func.count()).select_from(MessageTriage)) or 0)
    session.commit()
    return count


def _inbound(session: Session) -> int:
    count = int(session.scalar(select(func.count()).select_from(Message)) or 0)
    session.commit()
    return count


def _backfilled_events(session: Session) -> int:
    count = int(
        session.scalar(
            select(func.count())
            .select_from(EventRecord)
            .where(EventRecord.kind == backfill.TriageBackfilled.kind)
        )
        or 0
    )
    session.commit()
    return count


def _queued(jobs: JobRunner) -> list[Payload]:
    return [task.args[1] for task in jobs.huey.pending()]


def _run_one(session: Session, jobs: JobRunner) -> None:
    session.commit()
    task = jobs.huey.dequeue()
    assert task is not None
    jobs.huey.execute(task)


def test_two_imports_in_a_row_start_one_chain(session: Session, jobs: JobRunner) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 3)
    assert enqueue_backfill(organization_id=org_id, batch_size=10)
    _import(session, account, "b", 2)

    assert not enqueue_backfill(organization_id=org_id, batch_size=10)

    assert len(_queued(jobs)) == 1
    assert jobs.run_pending() == 1  # one batch read both imports
    assert (_triaged(session), _untriaged(session, org_id)) == (5, 0)
    assert _backfilled_events(session) == 1
    # Done and let go: the next import starts a chain again.
    assert enqueue_backfill(organization_id=org_id, batch_size=10)


def test_chains_are_per_organization(session: Session, jobs: JobRunner) -> None:
    org_id, account = _setup(session, jobs)
    other_id, other_account = _setup(session, jobs)
    _import(session, account, "a", 2)
    _import(session, other_account, "b", 2)

    assert enqueue_backfill(organization_id=org_id)
    assert enqueue_backfill(organization_id=other_id)

    assert {p["organization_id"] for p in _queued(jobs)} == {org_id, other_id}
    jobs.run_pending()
    assert _triaged(session) == 4


def test_an_import_while_a_chain_runs_is_left_to_it(session: Session, jobs: JobRunner) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 4)
    assert enqueue_backfill(organization_id=org_id, batch_size=2)
    _run_one(session, jobs)  # the first batch of the chain
    assert _triaged(session) == 2

    _import(session, account, "b", 3)
    assert not enqueue_backfill(organization_id=org_id, batch_size=2)

    assert [p["after_id"] > 0 for p in _queued(jobs)] == [True]  # only the chain's next batch
    jobs.run_pending()
    assert (_triaged(session), _untriaged(session, org_id)) == (7, 0)
    assert _queued(jobs) == []
    assert enqueue_backfill(organization_id=org_id)


def test_the_last_batch_does_not_stop_before_messages_imported_meanwhile(
    session: Session, jobs: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 3)
    classify = backfill.classify_pending
    started: list[bool] = []

    def import_meanwhile(pending: Sequence[backfill.Pending]) -> list[TriageResult | None]:
        # While the chain classifies its last batch (3 of 10: nothing after it, it thinks),
        # another import commits and announces its messages.
        if not started:
            started.append(True)
            _import(session, account, "b", 2)
            assert not enqueue_backfill(organization_id=org_id, batch_size=10)
        return classify(pending)

    monkeypatch.setattr(backfill, "classify_pending", import_meanwhile)
    assert enqueue_backfill(organization_id=org_id, batch_size=10)

    jobs.run_pending()

    assert started
    assert _inbound(session) == 5
    assert (_triaged(session), _untriaged(session, org_id)) == (5, 0)
    assert _queued(jobs) == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_import_as_the_chain_lets_go_is_not_lost(
    session: Session, jobs: JobRunner, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """The chain looked for more work, found none, and lets go of its key: an import announced
    just before the release is left to the chain (which looks again), one just after starts a
    chain of its own (and the old one does not go on)."""
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 2)
    queue = jobs.queue
    pop_key = queue.pop_key
    started: list[bool] = []

    def release(key: str) -> str | None:
        is_release = key.startswith(f"{BACKFILL_JOB}.chain.")
        if is_release and when == "before":
            _import(session, account, "b", 2)
            started.append(enqueue_backfill(organization_id=org_id))
        value = pop_key(key)
        if is_release and when == "after":
            _import(session, account, "b", 2)
            started.append(enqueue_backfill(organization_id=org_id))
        return value

    monkeypatch.setattr(queue, "pop_key", release)
    assert enqueue_backfill(organization_id=org_id)
    _run_one(session, jobs)  # reads both messages, finds nothing more, lets go
    monkeypatch.setattr(queue, "pop_key", pop_key)

    assert started == [when == "after"]
    assert len(_queued(jobs)) == 1  # one chain goes on, from the first message
    assert _queued(jobs)[0]["after_id"] == 0
    jobs.run_pending()
    assert (_triaged(session), _untriaged(session, org_id)) == (4, 0)
    assert _queued(jobs) == []


def test_a_chain_that_stopped_running_is_taken_over_after_a_while(
    session: Session, jobs: JobRunner, clock: FrozenClock
) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 2)
    assert enqueue_backfill(organization_id=org_id)
    assert jobs.huey.dequeue() is not None  # the worker died with the job
    _import(session, account, "b", 1)
    assert not enqueue_backfill(organization_id=org_id)  # it might be running still
    assert _queued(jobs) == []

    clock.advance(triage_jobs.STALE_AFTER + timedelta(minutes=1))
    _import(session, account, "c", 1)
    assert enqueue_backfill(organization_id=org_id)

    jobs.run_pending()
    assert (_triaged(session), _untriaged(session, org_id)) == (4, 0)
    assert enqueue_backfill(organization_id=org_id)  # the new chain let go at its end


def test_a_chain_taken_over_stops_at_its_next_job(
    session: Session, jobs: JobRunner, clock: FrozenClock
) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 3)
    assert enqueue_backfill(organization_id=org_id)  # queued, but no worker for a long time
    clock.advance(triage_jobs.STALE_AFTER + timedelta(minutes=1))
    assert enqueue_backfill(organization_id=org_id)

    assert jobs.run_pending() == 2  # the old chain's job stops without reading anything
    assert _triaged(session) == 3
    assert _backfilled_events(session) == 1


@pytest.mark.parametrize("failure", ["error", "gives up"])
def test_a_chain_that_fails_lets_go(
    session: Session,
    jobs: JobRunner,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 2)
    run_batch = backfill.run_batch

    def failing(**kwargs: object) -> backfill.BatchOutcome:
        if failure == "error":
            raise ValueError("a bug")
        raise backfill.BatchFailed("busy", after_id=0, cause="database is locked")

    monkeypatch.setattr(backfill, "run_batch", failing)
    assert enqueue_backfill(organization_id=org_id)
    jobs.run_pending(include_scheduled=True)  # every attempt the job has
    assert jobs.queue.pending_count() == 0
    if failure == "error":  # a bug: not retried (that would start the chain again), but seen
        assert "triage backfill (organization" in caplog.text
        assert "ValueError: a bug" in caplog.text
    monkeypatch.setattr(backfill, "run_batch", run_batch)

    assert enqueue_backfill(organization_id=org_id)
    jobs.run_pending()
    assert _triaged(session) == 2


def test_a_job_queued_before_chains_had_keys_becomes_the_chain(
    session: Session, jobs: JobRunner
) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 3)
    # A job of the payload's old shape, queued by an earlier version.
    jobs.queue.enqueue(BACKFILL_JOB, {"organization_id": org_id, "after_id": 0, "batch_size": 2})

    jobs.run_pending()

    assert (_triaged(session), _untriaged(session, org_id)) == (3, 0)
    assert enqueue_backfill(organization_id=org_id)  # it let go at its end


def test_every_organization_is_a_chain_of_its_own(session: Session, jobs: JobRunner) -> None:
    org_id, account = _setup(session, jobs)
    _import(session, account, "a", 2)

    assert enqueue_backfill(organization_id=None)
    assert not enqueue_backfill(organization_id=None)
    assert enqueue_backfill(organization_id=org_id)

    jobs.run_pending()
    assert (_triaged(session), _untriaged(session, org_id)) == (2, 0)
