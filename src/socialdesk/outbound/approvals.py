"""The approval queue: drafts the code of conduct sends to an approver.

A held draft is a message in state ``held``. An approver approves it (optionally editing the
text), and it is queued for delivery; or rejects it with a comment, and it is never sent. The
author sees the outcome in the conversation's trail; the decision is audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import Permission, require
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.connectors.base import Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.events import bus
from socialdesk.events.types import ApprovalDecided, ApprovalRequested
from socialdesk.outbound import notices
from socialdesk.outbound.checks import Decision, Outcome
from socialdesk.policy.models import Approval, ApprovalStatus


def hold(
    session: Session, *, message: Message, author: Member, reasons: list[dict[str, Any]]
) -> Approval:
    approval = Approval(
        organization_id=message.organization_id,
        message_id=message.id,
        conversation_id=message.conversation_id,
        requested_by_id=author.id,
        reasons=reasons,
        original_text=message.text,
        status=ApprovalStatus.PENDING.value,
        created_at=clock.now(),
    )
    session.add(approval)
    session.flush()
    notices.approval_requested(session, approval=approval, message=message)
    conversation = session.get_one(Conversation, message.conversation_id)
    conversations_service.record(
        session,
        conversation=conversation,
        kind="approval_requested",
        actor=author,
        data={
            "message_id": message.id,
            "approval_id": approval.id,
            "rules": [r["rule"] for r in reasons],
        },
    )
    bus.emit(
        session,
        ApprovalRequested(
            organization_id=message.organization_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            approval_id=approval.id,
        ),
    )
    return approval


def is_approved(session: Session, *, message: Message) -> bool:
    """True when an approver let exactly this text out."""
    approval = session.scalar(select(Approval).where(Approval.message_id == message.id))
    return (
        approval is not None
        and approval.status == ApprovalStatus.APPROVED.value
        and approval.approved_text == message.text
    )


def get_or_raise(session: Session, *, organization_id: int, approval_id: int) -> Approval:
    approval = session.get(Approval, approval_id)
    if approval is None or approval.organization_id != organization_id:
        raise NotFound(f"approval {approval_id} does not exist")
    return approval


def _waiting_for(approver: Member) -> Select[Approval]:
    """The held drafts of ``approver``'s organization on the brand accounts they may act for:
    an approver who edits and lets a draft out writes as the account."""
    return (
        select(Approval)
        .join(Message, Message.id == Approval.message_id)
        .where(
            Approval.organization_id == approver.organization_id,
            Approval.status == ApprovalStatus.PENDING.value,
            channels_service.may_act_clause(Message.brand_account_id, member_id=approver.id),
        )
    )


def pending(session: Session, *, approver: Member, limit: int = 100) -> list[Approval]:
    """The drafts waiting on the accounts ``approver`` may act for, oldest first (their own
    among them, shown for someone else to decide)."""
    return list(session.scalars(_waiting_for(approver).order_by(Approval.created_at).limit(limit)))


def pending_count(session: Session, *, approver: Member) -> int:
    """How many drafts ``approver`` could decide now (the menu's count): not their own."""
    theirs = _waiting_for(approver).where(Approval.requested_by_id != approver.id)
    return int(session.scalar(select(func.count()).select_from(theirs.subquery())) or 0)


def _decide(session: Session, *, approval: Approval, approver: Member) -> Message:
    require(approver, Permission.APPROVE)
    if approval.organization_id != approver.organization_id:
        raise NotFound(f"approval {approval.id} does not exist")
    if approval.status != ApprovalStatus.PENDING.value:
        raise Conflict(f"this draft was already {approval.status}")
    message = session.get_one(Message, approval.message_id)
    if message.delivery_state != DeliveryState.HELD.value:
        raise Conflict(f"this draft is no longer held (it is {message.delivery_state})")
    account = session.get_one(BrandAccount, message.brand_account_id)
    ensure_may_decide(
        session,
        approver=approver,
        author_id=approval.requested_by_id,
        account=account,
        what="draft",
    )
    return message


def ensure_may_decide(
    session: Session, *, approver: Member, author_id: int | None, account: BrandAccount, what: str
) -> None:
    """Who may let a held ``what`` (a draft, a poll) out: someone other than its author, who
    may act for the account it goes out from. The permission and the organization are the
    caller's to check first."""
    if author_id is not None and author_id == approver.id:
        raise PermissionDenied(f"someone other than the author must approve a held {what}")
    if not channels_service.may_act_for(session, account=account, member_id=approver.id):
        raise PermissionDenied(
            f"you may not act for {account.display_name}, so you may not let its {what}s out: "
            "ask an admin for access to this account"
        )


def approve(
    session: Session,
    *,
    approval: Approval,
    approver: Member,
    edited_text: str | None = None,
    comment: str = "",
    confirmed: bool = False,
) -> Message:
    """Let the draft out, as written or as the approver edited it. An edit is checked again:
    the approver's decision covers the clauses the draft was held for, never a block. Clauses
    that ask a person (a warning, an approval) which the edit brings and the draft was not held
    for have not been seen by anyone: like an agent who sends, the approver confirms them first
    (``NeedsConfirmation`` until ``confirmed``). A refusal changes nothing; its decision is
    kept, even though the caller rolls the request back."""
    from socialdesk.jobs import queue as jobs
    from socialdesk.outbound import service as outbound_service
    from socialdesk.policy.models import DecisionStage

    message = _decide(session, approval=approval, approver=approver)
    text = message.text
    if edited_text is not None:
        text = edited_text.strip()
        if not text:
            raise ValidationFailed("the edited text must not be empty", field="text")
    account = session.get_one(BrandAccount, message.brand_account_id)
    checked = outbound_service.check(
        session,
        account,
        outbound_service.compose(text, message.signature),
        Visibility(message.visibility),
    )

    def keep_refusal() -> None:
        # A refusal rolls the request back; its decision is kept all the same, as an agent's
        # refused reply's is.
        outbound_service.keep_decision(
            session,
            account=account,
            checked=checked,
            stage=DecisionStage.APPROVAL,
            member_id=approver.id,
            message_id=None,
        )

    if checked.outcome.decision is Decision.BLOCK:
        keep_refusal()
        raise outbound_service.Blocked(checked.outcome)
    unseen = _not_held_for(checked.outcome, approval) if edited_text is not None else None
    if unseen is not None and not confirmed:
        keep_refusal()
        raise outbound_service.NeedsConfirmation(unseen)
    # Only now that the edit may go out: a refused approval leaves the draft as it was.
    message.text = text
    outbound_service.record_decision_of(
        session,
        account=account,
        checked=checked,
        stage=DecisionStage.APPROVAL,
        member_id=approver.id,
        message_id=message.id,
    )
    now = clock.now()
    approval.status = ApprovalStatus.APPROVED.value
    approval.approved_text = message.text
    approval.decided_by_id = approver.id
    approval.decided_at = now
    approval.comment = comment.strip()[:1000]
    message.delivery_state = DeliveryState.QUEUED.value
    _after_decision(
        session,
        approval=approval,
        approver=approver,
        message=message,
        edited=edited_text is not None,
    )
    jobs.enqueue(session, outbound_service.DELIVER_JOB, {"message_id": message.id})
    return message


def _not_held_for(outcome: Outcome, approval: Approval) -> Outcome | None:
    """The clauses of ``outcome`` that ask a person to look (a warning, an approval) and that
    the draft was not held for, so its approver was never shown them; None when there are
    none."""
    held_for = {str(reason.get("rule")) for reason in approval.reasons}
    unseen = [
        reason
        for reason in outcome.reasons
        if reason.decision in (Decision.WARN, Decision.APPROVE) and reason.rule not in held_for
    ]
    if not unseen:
        return None
    return Outcome(
        max(reason.decision for reason in unseen),
        unseen,
        length=outcome.length,
        limit=outcome.limit,
    )


def reject(session: Session, *, approval: Approval, approver: Member, comment: str) -> Message:
    if not comment.strip():
        raise ValidationFailed("say why, so the author can write it better", field="comment")
    message = _decide(session, approval=approval, approver=approver)
    approval.status = ApprovalStatus.REJECTED.value
    approval.decided_by_id = approver.id
    approval.decided_at = clock.now()
    approval.comment = comment.strip()[:1000]
    message.delivery_state = DeliveryState.REJECTED.value
    message.delivery_error = f"rejected by {approver.name}: {approval.comment}"[:1000]
    _after_decision(session, approval=approval, approver=approver, message=message, edited=False)
    return message


def _after_decision(
    session: Session, *, approval: Approval, approver: Member, message: Message, edited: bool
) -> None:
    from socialdesk.outbound import service as outbound_service

    conversation = session.get_one(Conversation, message.conversation_id)
    data = {
        "message_id": message.id,
        "approval_id": approval.id,
        "comment": approval.comment,
        "edited": edited,
    }
    conversations_service.record(
        session,
        conversation=conversation,
        kind=f"approval_{approval.status}",
        actor=approver,
        data=data,
    )
    if approval.status == ApprovalStatus.APPROVED.value:
        conversations_service.refresh_aggregates(session, conversation=conversation)
    notices.approval_decided(session, approval=approval, approver=approver, message=message)
    audit.record(
        session,
        organization_id=approval.organization_id,
        action="approval_decided",
        actor=approver,
        target=("approval", approval.id),
        before={"text": approval.original_text},
        after={"status": approval.status, "text": message.text, "comment": approval.comment},
    )
    bus.emit(
        session,
        ApprovalDecided(
            organization_id=approval.organization_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            approval_id=approval.id,
            status=approval.status,
        ),
    )
    outbound_service.emit_delivery_state(session, message)
