"""Jobs, periodic tasks and event listeners of the sla domain.

Listeners stay tiny: each asks, inside the transaction that made the change, for a reconcile
of the conversation in a durable job (its intent is recorded with the change), which
replays the conversation's history (tracking.py), so the order jobs run in does not matter.
The periodic task warns and breaches once a minute (alerts.py).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.connectors.base import Visibility
from socialdesk.conversations.models import DeliveryState
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import (
    ApprovalDecided,
    ConversationChanged,
    ConversationsMerged,
    MessageCreated,
    MessageDeliveryChanged,
)
from socialdesk.jobs import queue as jobs_queue
from socialdesk.jobs.registry import Payload, job, periodic
from socialdesk.sla import alerts, tracking
from socialdesk.sla.models import SlaClock

log = logging.getLogger(__name__)

RECONCILE_JOB = "sla.reconcile"
RESYNC_JOB = "sla.resync"
# Conversation fields whose change can move a clock: status pauses, stops and reopens;
# priority re-picks the policy.
CLOCK_FIELDS = frozenset({"status", "priority"})
RESYNC_CHUNK = 100
MAX_ALERT_ROUNDS = 20


def request_reconcile(session: Session, conversation_id: int) -> None:
    jobs_queue.enqueue(session, RECONCILE_JOB, {"conversation_id": conversation_id})


@bus.in_transaction(MessageCreated)
def _on_message(session: Session, event: MessageCreated) -> None:
    if event.visibility != Visibility.NOTE.value:
        request_reconcile(session, event.conversation_id)


@bus.in_transaction(ConversationChanged)
def _on_change(session: Session, event: ConversationChanged) -> None:
    if CLOCK_FIELDS.intersection(event.fields):
        request_reconcile(session, event.conversation_id)


@bus.in_transaction(ConversationsMerged)
def _on_merge(session: Session, event: ConversationsMerged) -> None:
    request_reconcile(session, event.conversation_id)


@bus.in_transaction(MessageDeliveryChanged)
def _on_delivery(session: Session, event: MessageDeliveryChanged) -> None:
    # A reply that failed is no answer: the clock it stopped runs again (from its start, so it
    # may be breached by now); a retry queues it again and it answers once more.
    if event.state in (DeliveryState.FAILED.value, DeliveryState.QUEUED.value):
        request_reconcile(session, event.conversation_id)


@bus.in_transaction(ApprovalDecided)
def _on_approval(session: Session, event: ApprovalDecided) -> None:
    # An approved draft is the answer, from the moment it was approved.
    request_reconcile(session, event.conversation_id)


@job(RECONCILE_JOB, max_attempts=5)
def reconcile(payload: Payload) -> None:
    with session_scope() as session:
        tracking.reconcile(session, conversation_id=int(payload["conversation_id"]))


@job(RESYNC_JOB, max_attempts=3)
def resync(payload: Payload) -> None:
    """Every conversation of the organization with a running clock, after its policies or
    business hours changed: running clocks follow at once. One transaction per chunk."""
    organization_id = int(payload["organization_id"])
    with session_scope(write=False) as session:
        ids = list(
            session.scalars(
                select(SlaClock.conversation_id)
                .where(
                    SlaClock.organization_id == organization_id,
                    SlaClock.stopped_at.is_(None),
                )
                .distinct()
            )
        )
    for start in range(0, len(ids), RESYNC_CHUNK):
        with session_scope() as session:
            for conversation_id in ids[start : start + RESYNC_CHUNK]:
                tracking.reconcile(session, conversation_id=conversation_id)
        jobs_queue.still_running()  # a large organization takes a while: not lost


def enqueue_resync(session: Session, *, organization_id: int) -> None:
    """After the transaction that changed a policy or business hours commits."""
    jobs_queue.enqueue(session, RESYNC_JOB, {"organization_id": organization_id})


@periodic("sla.alerts", every_minutes=1)
def check_clocks() -> None:
    """Warn about clocks close to their due time and breach the overdue ones, each once."""
    for _ in range(MAX_ALERT_ROUNDS):
        with session_scope() as session:
            outcome = alerts.run(session)
        if outcome.warned:
            log.info("SLA: %d warning(s) sent", outcome.warned)
        if outcome.breached:
            log.info("SLA: %d breach(es) notified", outcome.breached)
        if outcome.warned < alerts.BATCH and outcome.breached < alerts.BATCH:
            return
