"""Jobs, periodic tasks and event listeners of the followups domain.

Listeners only enqueue (inside the transaction that made the change, so the job is recorded
with it); the work happens in jobs, each in its own transaction. Two periodic tasks make the
timing durable: ``followups.tick`` (every minute) sends what is due and follows deliveries, and
``followups.sweep`` (every five minutes) catches what a lost listener call or job left undone.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.conversations.models import Direction
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import ConversationChanged, MessageCreated
from socialdesk.followups import service
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, job, periodic

log = logging.getLogger(__name__)

SYNC_JOB = "followups.sync"
ANSWER_JOB = "followups.answer"
RUN_DUE_JOB = "followups.run_due"
# One pass sends at most this many; the next minute's tick takes the rest.
MAX_PER_RUN = 500


@bus.in_transaction(ConversationChanged)
def on_conversation_changed(session: Session, event: ConversationChanged) -> None:
    if "status" in event.fields:
        jobs.enqueue(session, SYNC_JOB, {"conversation_id": event.conversation_id})


@bus.in_transaction(MessageCreated)
def on_message_created(session: Session, event: MessageCreated) -> None:
    if event.direction == Direction.INBOUND.value and event.visibility != "note":
        jobs.enqueue(session, ANSWER_JOB, {"message_id": event.message_id})


@job(SYNC_JOB, max_attempts=5)
def sync_conversation(payload: Payload) -> None:
    """Schedule the follow-up of a resolution, or skip the waiting one of a reopened thread."""
    with session_scope() as session:
        service.sync(session, conversation_id=int(payload["conversation_id"]))


@job(ANSWER_JOB, max_attempts=5)
def record_answer(payload: Payload) -> None:
    with session_scope() as session:
        service.record_answer(session, message_id=int(payload["message_id"]))


def run_due() -> int:
    """Send every due follow-up, each in its own transaction (claim, checks, queued message
    and new status commit together or not at all). Returns how many were handled."""
    handled = 0
    failed: set[int] = set()
    while handled < MAX_PER_RUN:
        now = clock.now()
        with session_scope(write=False) as session:
            ids = [i for i in service.due_ids(session, now=now) if i not in failed]
        if not ids:
            break
        for follow_up_id in ids:
            try:
                with session_scope() as session:
                    if service.send_one(session, follow_up_id=follow_up_id, now=now) is not None:
                        handled += 1
            except Exception as exc:
                log.exception("follow-up %s could not be sent", follow_up_id)
                failed.add(follow_up_id)
                with session_scope() as session:
                    service.fail_unexpectedly(
                        session, follow_up_id=follow_up_id, error=f"{type(exc).__name__}: {exc}"
                    )
    return handled


@job(RUN_DUE_JOB, max_attempts=1)
def run_due_now(_payload: Payload) -> None:
    """What the minute's tick does, on demand (operators, the durability test)."""
    run_due()


@periodic("followups.tick", every_minutes=1)
def tick() -> None:
    run_due()
    with session_scope() as session:
        service.reconcile_deliveries(session)


@periodic("followups.sweep", every_minutes=5)
def sweep() -> None:
    with session_scope(write=False) as session:
        conversation_ids = service.unscheduled_resolutions(session)
        message_ids = service.unanswered_messages(session)
    for conversation_id in conversation_ids:
        log.info("follow-ups: scheduling conversation %s, missed earlier", conversation_id)
        with session_scope() as session:
            service.sync(session, conversation_id=conversation_id)
    for message_id in message_ids:
        with session_scope() as session:
            service.record_answer(session, message_id=message_id)
