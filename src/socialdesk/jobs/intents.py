"""Job intents (models.py): record them with the transaction that owes the work, settle them
when the job has run, and queue again the ones whose job was lost.

A job queued again may meet its lost twin still running (a worker that was only slow): every
handler is idempotent, so the second run finds its work done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.db.hooks import on_commit
from socialdesk.jobs import registry
from socialdesk.jobs.models import JobIntent
from socialdesk.jobs.registry import Payload

log = logging.getLogger(__name__)

# Long enough for a queued job to have started on a desk that is keeping up.
RECOVER_AFTER = timedelta(minutes=10)
RECOVER_BATCH = 500
# A job lost this many times is taken for one that kills its worker, and dropped (logged).
MAX_RECOVERIES = 5
# While the queue holds more than this, jobs are late, not lost: recovery waits.
BACKLOG_LIMIT = 1000

Enqueue = Callable[[str, Payload, str], None]


def record(session: Session, name: str, payload: Payload, *, due_at: datetime) -> str:
    """Write the intent into the session's transaction; returns its id."""
    intent_id = uuid.uuid4().hex
    session.add(
        JobIntent(
            id=intent_id,
            name=name,
            payload=payload,
            due_at=due_at,
            recoveries=0,
            created_at=clock.now(),
        )
    )
    return intent_id


def settle(session: Session, intent_id: str) -> None:
    """The job ran, or gave up: nothing is owed any more."""
    session.execute(delete(JobIntent).where(JobIntent.id == intent_id))


def postpone(session: Session, intent_id: str, *, due_at: datetime) -> None:
    """The job will run again at ``due_at`` (a retry): not lost before then."""
    session.execute(
        update(JobIntent)
        .where(JobIntent.id == intent_id)
        .values(due_at=due_at)
        .execution_options(synchronize_session=False)
    )


def recover(session: Session, enqueue: Enqueue, *, now: datetime | None = None) -> int:
    """Queue again the jobs whose intent is still there ``RECOVER_AFTER`` after it was due.

    Each is marked due now, so it is not queued again before another ``RECOVER_AFTER``. The
    caller commits; ``enqueue`` runs after the commit. Returns how many were queued again.
    """
    now = now or clock.now()
    lost = session.scalars(
        select(JobIntent)
        .where(JobIntent.due_at <= now - RECOVER_AFTER)
        .order_by(JobIntent.due_at, JobIntent.id)
        .limit(RECOVER_BATCH)
    ).all()
    queued = 0
    for intent in lost:
        try:
            registry.get(intent.name)
        except KeyError:
            log.error("job intent %s names no known job %r; dropped", intent.id, intent.name)
            session.delete(intent)
            continue
        if intent.recoveries >= MAX_RECOVERIES:
            log.error(
                "job %s (%s) was lost %d times; dropped: payload %s",
                intent.name,
                intent.id,
                intent.recoveries,
                intent.payload,
            )
            session.delete(intent)
            continue
        intent.recoveries += 1
        intent.due_at = now
        on_commit(session, partial(enqueue, intent.name, dict(intent.payload), intent.id))
        queued += 1
    if queued:
        log.warning("queued %d lost jobs again", queued)
    return queued
