"""Background jobs of the conversations domain."""

from __future__ import annotations

from socialdesk.conversations import flows
from socialdesk.conversations import service as conversations_service
from socialdesk.db.session import session_scope
from socialdesk.jobs.registry import Payload, job, periodic


@job(flows.PROCESS_EVENT_JOB, max_attempts=5)
def process_event(payload: Payload) -> None:
    with session_scope() as session:
        flows.process_event(session, event_id=int(payload["event_id"]))


@periodic("conversations.wake_snoozed", every_minutes=1)
def wake_snoozed() -> None:
    with session_scope() as session:
        conversations_service.wake_snoozed(session)
