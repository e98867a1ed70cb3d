"""Inbound events whose processing failed or whose job was lost.

A stored event is processed by the ``ingest.process_event`` job. Two things can leave it
pending for ever, and the customer's message would never reach the desk:

* the job fails (the database is restarting, a bug in a connector): each run counts an attempt
  before it works (``start_attempt``), records what went wrong (``record_failure``) and is
  retried with backoff; after ``MAX_ATTEMPTS`` runs the event is marked failed and the
  organization's admins are told, in the desk;
* the job is lost: the queue hands a job to a worker before it runs, so a worker killed
  mid-way (or a queue that lost its data) takes the job with it. ``recover_lost`` finds events
  still pending ``RECOVER_AFTER`` after they arrived and queues them again (a periodic task);
  one that has used its attempts is marked failed instead.

Processing an event twice is harmless (flows.process_event does nothing to an event that is no
longer pending, and messages are unique per brand account and native id), so a recovery that
races a slow job costs only the duplicate's look at the event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount, EventStatus, InboundEvent
from socialdesk.channels.service import account_link, channel_name
from socialdesk.common import clock
from socialdesk.common.errors import NotFound
from socialdesk.conversations.flows import PROCESS_EVENT_JOB
from socialdesk.jobs import queue as jobs
from socialdesk.notifications import service as notifications_service

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Long enough for a queued job to have run on a desk that is keeping up.
RECOVER_AFTER = timedelta(minutes=10)
RECOVER_BATCH = 100
FAILED_NOTIFICATION = "account.event_failed"
LOST = "the worker stopped while processing it"


def start_attempt(session: Session, *, event_id: int) -> int | None:
    """Count one run on a pending event (the caller commits before working on it). Returns
    the run's number, or None when the event is gone or no longer pending."""
    result = session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, InboundEvent.status == EventStatus.PENDING.value)
        .values(attempts=InboundEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]  # CursorResult at run time
        return None
    return session.scalar(select(InboundEvent.attempts).where(InboundEvent.id == event_id))


def record_failure(session: Session, *, event_id: int, reason: str, final: bool) -> None:
    """Keep why the run failed on the still-pending event; the last run marks it failed and
    tells the admins."""
    stored = session.get(InboundEvent, event_id)
    if stored is None or stored.status != EventStatus.PENDING.value:
        return
    stored.error = reason[:1000]
    if final:
        _give_up(session, stored, reason)


def _give_up(session: Session, stored: InboundEvent, reason: str) -> None:
    stored.status = EventStatus.FAILED.value
    stored.error = f"gave up after {stored.attempts} attempts: {reason}"[:1000]
    stored.processed_at = clock.now()
    account = session.get_one(BrandAccount, stored.brand_account_id)
    label = channel_name(account.kind)
    log.error(
        "inbound event %s (%s %s) on %s account %s: %s",
        stored.id,
        stored.kind,
        stored.native_id,
        account.kind,
        account.id,
        stored.error,
    )
    # Once until read: a failure that repeats (a broken connector) is one notice, not hundreds.
    notifications_service.notify_admins_unless_unread(
        session,
        organization_id=stored.organization_id,
        kind=FAILED_NOTIFICATION,
        title=f"An incoming {label} event on {account.handle} could not be processed",
        body=f"Event {stored.native_id} ({stored.kind}) {stored.error}. The raw event is kept; "
        "any further failures are in the worker's log.",
        link=account_link(account),
    )


@dataclass(frozen=True)
class Recovered:
    requeued: int
    failed: int


def recover_lost(
    session: Session, *, now: datetime | None = None, limit: int = RECOVER_BATCH
) -> Recovered:
    """Queue again the events still pending ``RECOVER_AFTER`` after they arrived, oldest
    first; one that has used its attempts (its worker died each time) is marked failed."""
    now = now or clock.now()
    stuck = session.scalars(
        select(InboundEvent)
        .where(
            InboundEvent.status == EventStatus.PENDING.value,
            InboundEvent.received_at <= now - RECOVER_AFTER,
        )
        .order_by(InboundEvent.id)
        .limit(limit)
        .execution_options(populate_existing=True)  # attempts are counted by UPDATE
    ).all()
    requeued = failed = 0
    for stored in stuck:
        if stored.attempts >= MAX_ATTEMPTS:
            _give_up(session, stored, stored.error or LOST)
            failed += 1
        else:
            jobs.enqueue(session, PROCESS_EVENT_JOB, {"event_id": stored.id}, durable=False)
            requeued += 1
    if requeued or failed:
        log.warning(
            "inbound events pending for over %s: %d queued again, %d given up",
            RECOVER_AFTER,
            requeued,
            failed,
        )
    return Recovered(requeued=requeued, failed=failed)


# -- failed events, seen and processed again by an admin -----------------------------------

FAILED_SHOWN = 20


def failed_events(
    session: Session, *, brand_account_id: int, limit: int = FAILED_SHOWN
) -> tuple[list[InboundEvent], int]:
    """The account's failed events, newest first (at most ``limit``), and how many there
    are in all."""
    failed = (
        InboundEvent.brand_account_id == brand_account_id,
        InboundEvent.status == EventStatus.FAILED.value,
    )
    rows = session.scalars(
        select(InboundEvent).where(*failed).order_by(InboundEvent.id.desc()).limit(limit)
    ).all()
    total = session.scalar(select(func.count()).select_from(InboundEvent).where(*failed)) or 0
    return list(rows), int(total)


def process_again(
    session: Session, *, brand_account_id: int, event_ids: Sequence[int] | None
) -> list[int]:
    """Queue failed events of the account again (``None``: all of them), with fresh attempts,
    once whatever failed them has been fixed (a connector upgraded, the database back).
    Returns the ids queued. An id that is not a failed event of this account is refused by
    name."""
    query = select(InboundEvent).where(
        InboundEvent.brand_account_id == brand_account_id,
        InboundEvent.status == EventStatus.FAILED.value,
    )
    if event_ids is not None:
        query = query.where(InboundEvent.id.in_(set(event_ids)))
    events = list(session.scalars(query.order_by(InboundEvent.id)))
    missing = sorted(set(event_ids or ()) - {e.id for e in events})
    if missing:
        raise NotFound(f"no failed incoming event {', '.join(map(str, missing))} on this account")
    for stored in events:
        stored.status = EventStatus.PENDING.value
        stored.attempts = 0
        stored.error = None
        stored.processed_at = None
        jobs.enqueue(session, PROCESS_EVENT_JOB, {"event_id": stored.id}, durable=False)
    return [e.id for e in events]
