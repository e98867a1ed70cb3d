"""Jobs, periodic tasks and event listeners of the commitments domain.

* ``commitments.remind`` (every minute): reminders before the due time, then overdue notices.
  Each notice is claimed by a conditional UPDATE in the transaction that writes it, so a second
  run, or a run on another worker at the same moment, finds nothing left to send.
* On ``member.deactivated``: the leaving member's open commitments are handed over (a job, so
  the handover survives a crash between the deactivation and the listener).
* On ``approval.decided`` with a rejection: the promises of the rejected reply are cancelled;
  with an approval of an edited reply: the commitments follow the text that was sent.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.commitments import service
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import ApprovalDecided, MemberDeactivated
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, job, periodic
from socialdesk.policy.models import Approval

log = logging.getLogger(__name__)

HAND_OVER_JOB = "commitments.hand_over"
CANCEL_UNSENT_JOB = "commitments.cancel_unsent"
RECONCILE_APPROVED_JOB = "commitments.reconcile_approved"


@periodic("commitments.remind", every_minutes=1)
def remind() -> None:
    """Send the reminders and overdue notices whose time has come. Each batch is its own
    transaction; a full batch means more may be waiting, so go on until one is not full."""
    for step in (service.send_due_reminders, service.notify_overdue):
        while True:
            with session_scope() as session:
                done = step(session)
            if done < service.BATCH:
                break


@job(HAND_OVER_JOB, max_attempts=5)
def hand_over(payload: Payload) -> None:
    with session_scope() as session:
        member = session.get(Member, int(payload["member_id"]))
        if member is None or member.is_active:
            return  # reactivated before the job ran: their promises stay theirs
        hand_to = payload.get("hand_to_member_id")
        moved = service.hand_over(
            session,
            member=member,
            to_member_id=int(hand_to) if hand_to is not None else None,
            actor=None,
        )
        if moved:
            log.info("handed %d commitments of member %s over", len(moved), member.id)


@bus.in_transaction(MemberDeactivated)
def _on_member_deactivated(session: Session, event: MemberDeactivated) -> None:
    jobs.enqueue(
        session,
        HAND_OVER_JOB,
        {"member_id": event.member_id, "hand_to_member_id": event.hand_to_member_id},
    )


@job(CANCEL_UNSENT_JOB, max_attempts=5)
def cancel_unsent(payload: Payload) -> None:
    with session_scope() as session:
        service.cancel_for_unsent_message(
            session,
            organization_id=int(payload["organization_id"]),
            message_id=int(payload["message_id"]),
            reason="The reply that made this promise was rejected by an approver and never sent",
        )


@job(RECONCILE_APPROVED_JOB, max_attempts=5)
def reconcile_approved(payload: Payload) -> None:
    with session_scope() as session:
        approval = session.get(Approval, int(payload["approval_id"]))
        if approval is None or approval.organization_id != int(payload["organization_id"]):
            return
        edits = service.reconcile_approved_reply(session, approval=approval)
        if edits:
            log.info(
                "approval %s: %d promises edited out, %d added, %d given another time",
                approval.id,
                len(edits.cancelled),
                len(edits.created),
                len(edits.moved),
            )


@bus.in_transaction(ApprovalDecided)
def _on_approval_decided(session: Session, event: ApprovalDecided) -> None:
    if event.status == "rejected":
        jobs.enqueue(
            session,
            CANCEL_UNSENT_JOB,
            {"organization_id": event.organization_id, "message_id": event.message_id},
        )
    elif event.status == "approved":
        jobs.enqueue(
            session,
            RECONCILE_APPROVED_JOB,
            {"organization_id": event.organization_id, "approval_id": event.approval_id},
        )
