"""Jobs, periodic tasks and event listeners of the routing domain.

Listeners stay tiny: inside the transaction that made the change they enqueue a job (recorded
with the change, so it survives a crash of any process), which does the work in its own
transaction. Routing a new conversation runs after
the ingest transaction committed, so triage's results are there for the rules to read.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from socialdesk.connectors.base import Visibility
from socialdesk.conversations.models import Conversation, Direction
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import ConversationChanged, ConversationCreated, MessageCreated
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, Retry, job, periodic
from socialdesk.routing import automation
from socialdesk.routing import service as routing_service

log = logging.getLogger(__name__)

ROUTE_JOB = "routing.route"
AUTOMATION_JOB = "routing.automation"
PICK_UP_JOB = "routing.pick_up"


# -- listeners ------------------------------------------------------------------------------


@bus.in_transaction(ConversationCreated)
def _on_conversation_created(session: Session, event: ConversationCreated) -> None:
    jobs.enqueue(session, ROUTE_JOB, {"conversation_id": event.conversation_id})


@bus.in_transaction(MessageCreated)
def _on_message_created(session: Session, event: MessageCreated) -> None:
    if event.direction != Direction.INBOUND.value or event.visibility == Visibility.NOTE.value:
        return
    jobs.enqueue(
        session,
        AUTOMATION_JOB,
        {
            "trigger": automation.Trigger.MESSAGE_CREATED.value,
            "conversation_id": event.conversation_id,
            "occurrence": f"message:{event.message_id}",
        },
    )


@bus.in_transaction(ConversationChanged)
def _on_conversation_changed(session: Session, event: ConversationChanged) -> None:
    jobs.enqueue(
        session,
        AUTOMATION_JOB,
        {
            "trigger": automation.Trigger.CONVERSATION_CHANGED.value,
            "conversation_id": event.conversation_id,
            "occurrence": f"changed:{uuid.uuid4().hex}",
        },
    )
    if "status" in event.fields:
        # A resolved or snoozed conversation may have freed someone's place. (Hand-overs are
        # left to the minute's pass: every assignment changes the assignee, and a pass per
        # assignment would mostly find nothing to do.) Not recorded: the minute's pass does
        # the same if this job is lost.
        jobs.enqueue(
            session, PICK_UP_JOB, {"organization_id": event.organization_id}, durable=False
        )


# -- jobs -----------------------------------------------------------------------------------


def _retry_on_lock(exc: OperationalError) -> Retry:
    # A lock wait that ran out or a deadlock: the work is still to do; try again later.
    return Retry(f"database busy: {exc.orig}")


@job(ROUTE_JOB, max_attempts=8, backoff_seconds=5)
def route(payload: Payload) -> None:
    """Routing rules and auto-assignment for a new conversation, then the automation rules
    for conversation.created (which so see the team and assignee routing chose)."""
    try:
        with session_scope() as session:
            conversation = session.get(Conversation, int(payload["conversation_id"]))
            if conversation is None:  # merged into another before routing ran
                return
            result = routing_service.route(session, conversation=conversation)
            if not result.already_routed:
                automation.on_event(
                    session,
                    trigger=automation.Trigger.CONVERSATION_CREATED,
                    conversation=conversation,
                    occurrence="created",
                )
    except OperationalError as exc:
        raise _retry_on_lock(exc) from exc


@job(AUTOMATION_JOB, max_attempts=8, backoff_seconds=5)
def run_automation(payload: Payload) -> None:
    try:
        with session_scope() as session:
            conversation = session.get(Conversation, int(payload["conversation_id"]))
            if conversation is None:
                return
            automation.on_event(
                session,
                trigger=automation.Trigger(payload["trigger"]),
                conversation=conversation,
                occurrence=str(payload["occurrence"]),
            )
    except OperationalError as exc:
        raise _retry_on_lock(exc) from exc


@job(PICK_UP_JOB, max_attempts=3, backoff_seconds=10)
def pick_up(payload: Payload) -> None:
    try:
        with session_scope() as session:
            routing_service.pick_up_waiting(
                session, organization_id=int(payload["organization_id"])
            )
    except OperationalError as exc:
        raise _retry_on_lock(exc) from exc


# -- periodic tasks -------------------------------------------------------------------------


@periodic("routing.reassign", every_minutes=1)
def reassign() -> None:
    """Per organization, in its own transaction: hand back the work of members who went off
    duty, reassign customers left waiting too long, and give waiting conversations to members
    who have room again."""
    with session_scope(write=False) as session:
        organization_ids = routing_service.organization_ids(session)
    for organization_id in organization_ids:
        try:
            with session_scope() as session:
                routing_service.reassign_off_duty(session, organization_id=organization_id)
                routing_service.reassign_unanswered(session, organization_id=organization_id)
                routing_service.pick_up_waiting(session, organization_id=organization_id)
        except Exception:
            # One organization's failure must not hold up the others; the next minute retries.
            log.exception("routing.reassign failed for organization %s", organization_id)


@periodic("routing.automation_due", every_minutes=1)
def fire_due_automation() -> None:
    """Fire the scheduled automation runs that are due, each in its own transaction."""
    with session_scope(write=False) as session:
        run_ids = automation.due_run_ids(session)
    for run_id in run_ids:
        try:
            with session_scope() as session:
                automation.fire_due_run(session, run_id=run_id)
        except OperationalError:
            log.warning("automation run %s: database busy; tried again next minute", run_id)
        except Exception as exc:
            # A run that cannot fire is marked failed with the reason (shown with the rule's
            # runs) instead of being tried again every minute for ever.
            log.exception("automation run %s failed", run_id)
            with session_scope() as session:
                automation.mark_failed(session, run_id=run_id, reason=f"{type(exc).__name__}")
