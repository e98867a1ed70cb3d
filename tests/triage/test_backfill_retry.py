"""The triage backfill when the database aborts a batch: a deadlock, a serialization failure or
a locked SQLite file is tried again (the transaction was rolled back whole), anything else is
not, and a batch that keeps failing is reported with its cursor and cause. Every test runs on
SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg.errors
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.cli import main
from socialdesk.conversations.models import Message
from socialdesk.events.models import EventRecord
from socialdesk.triage import backfill
from socialdesk.triage.classify import TriageResult, artifact_path
from socialdesk.triage.jobs import enqueue_backfill
from socialdesk.triage.models import MessageTriage
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.conversations import inbound
from tests.triage.test_backfill import COMPLAINT, PRAISE, _history

pytestmark = pytest.mark.skipif(
    not artifact_path("default").is_file(), reason="the default triage model is not built"
)


def _aborted(orig: BaseException) -> OperationalError:
    """What SQLAlchemy raises when the driver reports ``orig``."""
    return OperationalError("INSERT INTO message_triage ...", None, orig)


def _locked_sqlite_error(tmp_path: Path) -> sqlite3.OperationalError:
    """A real "database is locked" from SQLite: a second writer that does not wait."""
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            other.execute("BEGIN IMMEDIATE")
        return caught.value
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        other.close()


TRANSIENT = {
    "deadlock": psycopg.errors.DeadlockDetected("deadlock detected"),
    "serialization": psycopg.errors.SerializationFailure(
        "could not serialize access due to concurrent update"
    ),
    "locked": sqlite3.OperationalError("database is locked"),
}


class _Fails:
    """``backfill.store`` that fails ``times`` times for the batch with ``message_id``: the
    first failure after doing the real work in the transaction, so the retry must find it
    rolled back."""

    def __init__(self, error: BaseException, *, message_id: int, times: int) -> None:
        self.error = error
        self.message_id = message_id
        self.times = times
        self.calls = 0
        self.store = backfill.store

    def __call__(
        self,
        session: Session,
        *,
        pending: Sequence[backfill.Pending],
        results: Sequence[TriageResult | None],
    ) -> backfill.BatchCounts:
        if any(p.id == self.message_id for p in pending):
            self.calls += 1
            if self.calls <= self.times:
                if self.calls == 1:
                    self.store(session, pending=pending, results=results)
                raise self.error
        return self.store(session, pending=pending, results=results)


def _five_messages(session: Session) -> tuple[int, list[int]]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    texts = [COMPLAINT, PRAISE, "where is my parcel?", COMPLAINT, PRAISE]
    _history(
        session,
        account,
        [inbound(native_id=f"m{i}", author=f"a{i}", text=t) for i, t in enumerate(texts)],
    )
    ids = list(session.scalars(select(Message.id).order_by(Message.id)))
    organization_id = org.id
    session.commit()  # the test's session holds no write lock while the backfill runs
    return organization_id, ids


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _backfilled_events(session: Session) -> int:
    kind = backfill.TriageBackfilled.kind
    return int(
        session.scalar(
            select(func.count()).where(EventRecord.kind == kind).select_from(EventRecord)
        )
        or 0
    )


@pytest.mark.parametrize("kind", sorted(TRANSIENT))
def test_a_batch_aborted_once_is_retried_and_complete(
    session: Session, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    org_id, ids = _five_messages(session)
    fails = _Fails(_aborted(TRANSIENT[kind]), message_id=ids[2], times=1)
    monkeypatch.setattr(backfill, "store", fails)
    slept: list[float] = []

    totals = backfill.run(organization_id=org_id, batch_size=2, sleep=slept.append)

    assert fails.calls == 2  # the second batch (messages 3 and 4), once more
    assert slept == [backfill.RETRY_DELAY]
    # The failed attempt's rows were rolled back: the retry stored them itself, once.
    assert (totals.scanned, totals.triaged, totals.already, totals.batches) == (5, 5, 0, 3)
    session.expire_all()
    assert set(session.scalars(select(MessageTriage.message_id))) == set(ids)
    # One event per committed batch, none from the attempt that failed.
    assert _backfilled_events(session) == 3
    assert backfill.count_untriaged(session, organization_id=org_id) == 0


def test_a_failed_read_is_retried(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    org_id, _ = _five_messages(session)
    find = backfill.find_untriaged
    calls: list[int] = []

    def busy_once(session: Session, **kwargs: Any) -> list[backfill.Pending]:
        calls.append(kwargs["after_id"])
        if len(calls) == 1:
            raise _aborted(TRANSIENT["locked"])
        return find(session, **kwargs)

    monkeypatch.setattr(backfill, "find_untriaged", busy_once)
    slept: list[float] = []

    totals = backfill.run(organization_id=org_id, batch_size=10, sleep=slept.append)

    assert calls == [0, 0]
    assert slept == [backfill.RETRY_DELAY]
    assert totals.triaged == 5


def test_a_batch_that_keeps_failing_names_its_cursor_and_cause(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id, ids = _five_messages(session)
    fails = _Fails(_aborted(TRANSIENT["deadlock"]), message_id=ids[2], times=100)
    monkeypatch.setattr(backfill, "store", fails)
    slept: list[float] = []

    with pytest.raises(backfill.BatchFailed) as caught:
        backfill.run(organization_id=org_id, batch_size=2, sleep=slept.append)

    message = str(caught.value)
    assert f"organization {org_id}" in message
    assert f"could not store the batch after message {ids[1]}" in message
    assert f"aborted it {backfill.ATTEMPTS} times" in message
    assert "DeadlockDetected: deadlock detected (SQLSTATE 40P01)" in message
    assert caught.value.after_id == ids[1]
    assert fails.calls == backfill.ATTEMPTS
    assert slept == [0.1, 0.2, 0.4]  # exponential
    # The first batch stays; nothing of the failed one was written.
    session.expire_all()
    assert set(session.scalars(select(MessageTriage.message_id))) == set(ids[:2])
    assert _backfilled_events(session) == 1

    session.commit()
    monkeypatch.setattr(backfill, "store", fails.store)
    again = backfill.run(organization_id=org_id, batch_size=2, sleep=slept.append)

    assert (again.triaged, again.already) == (3, 0)
    assert set(session.scalars(select(MessageTriage.message_id))) == set(ids)


@pytest.mark.parametrize(
    "error",
    [
        _aborted(psycopg.errors.DiskFull("could not extend file")),
        _aborted(sqlite3.OperationalError("no such table: message_triage")),
        IntegrityError("INSERT ...", None, psycopg.errors.UniqueViolation("duplicate key")),
        ValueError("not a database error"),
    ],
    ids=["disk-full", "no-such-table", "integrity", "not-database"],
)
def test_other_errors_are_not_retried(
    session: Session, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    org_id, ids = _five_messages(session)
    fails = _Fails(error, message_id=ids[0], times=100)
    monkeypatch.setattr(backfill, "store", fails)
    slept: list[float] = []

    with pytest.raises(type(error)) as caught:
        backfill.run(organization_id=org_id, batch_size=10, sleep=slept.append)

    assert caught.value is error
    assert (fails.calls, slept) == (1, [])
    assert _count(session, MessageTriage) == 0


def test_the_command_reports_a_batch_that_keeps_failing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id, ids = _five_messages(session)
    slug = session.get_one(Organization, org_id).slug
    session.commit()
    monkeypatch.setattr(backfill, "RETRY_DELAY", 0.0)
    monkeypatch.setattr(
        backfill, "store", _Fails(_aborted(TRANSIENT["locked"]), message_id=ids[0], times=100)
    )

    result = CliRunner().invoke(main, ["triage", "backfill", "--organization", slug])

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "could not store the batch after message 0" in result.stderr
    assert "OperationalError: database is locked" in result.stderr
    assert "Traceback" not in result.output


def test_the_job_leaves_a_batch_that_keeps_failing_to_the_queue(
    session: Session, jobs: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id, ids = _five_messages(session)
    jobs.run_pending()
    monkeypatch.setattr(backfill, "RETRY_DELAY", 0.0)
    fails = _Fails(_aborted(TRANSIENT["deadlock"]), message_id=ids[0], times=backfill.ATTEMPTS)
    monkeypatch.setattr(backfill, "store", fails)

    enqueue_backfill(organization_id=org_id)
    jobs.run_pending()

    assert fails.calls == backfill.ATTEMPTS  # one run of the job, its quick retries spent
    assert _count(session, MessageTriage) == 0
    assert jobs.huey.scheduled_count() == 1  # the job again, after the queue's backoff
    jobs.run_pending(include_scheduled=True)
    assert _count(session, MessageTriage) == 5


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (type("Psycopg2Error", (Exception,), {"pgcode": "40P01"})("deadlock detected"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database table is locked"), True),
        (psycopg.errors.DiskFull("could not extend file"), False),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (sqlite3.OperationalError("no such table: message_triage"), False),
    ],
)
def test_what_counts_as_transient(orig: BaseException, expected: bool) -> None:
    assert backfill.is_transient(_aborted(orig)) is expected


def test_a_real_sqlite_lock_is_transient_and_a_real_sqlite_error_is_not(tmp_path: Path) -> None:
    locked = _locked_sqlite_error(tmp_path)
    assert locked.sqlite_errorcode == sqlite3.SQLITE_BUSY
    assert backfill.is_transient(_aborted(locked))
    connection = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as caught:
        connection.execute("SELECT * FROM nowhere")
    connection.close()
    assert not backfill.is_transient(_aborted(caught.value))
    assert not backfill.is_transient(ValueError("database is locked"))
