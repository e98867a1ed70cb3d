"""Telling people what became of replies: one that could not be sent, a draft waiting for an
approver, the approver's decision, and a withdrawal that failed. Each is a notification in the
desk (and by email, unless the member turned the "Replies and approvals" topic off), linked to
the conversation."""

from __future__ import annotations

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Team
from socialdesk.accounts.permissions import ROLE_PERMISSIONS, Permission
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Conversation, Message
from socialdesk.notifications import service as notifications_service
from socialdesk.policy.models import Approval, ApprovalStatus

REPLY_FAILED = "reply.failed"
REPLY_WITHDRAWAL_FAILED = "reply.withdrawal_failed"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_DECIDED = "approval.decided"
# The roles that may approve a held draft.
APPROVER_ROLES = tuple(
    sorted(
        role.value for role, granted in ROLE_PERMISSIONS.items() if Permission.APPROVE in granted
    )
)


def _customer(session: Session, conversation: Conversation) -> str:
    contact = session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    return contact.name if contact is not None and contact.name else "a customer"


def _link(conversation: Conversation) -> str:
    return f"/conversations/{conversation.id}"


def account_named(account: BrandAccount) -> str:
    """A brand account as a notification names it: "the X account @acme"."""
    return f"the {channels_service.channel_name(account.kind)} account {account.handle}"


def _stand_ins(session: Session, conversation: Conversation) -> list[int]:
    """Who hears of a failed reply when its author and the conversation's owner cannot: the
    lead of the conversation's team, else the admins."""
    team = session.get(Team, conversation.team_id) if conversation.team_id else None
    if team is not None and team.lead_member_id is not None:
        lead = session.get(Member, team.lead_member_id)
        if lead is not None and lead.is_active:
            return [lead.id]
    return notifications_service.admin_ids(session, organization_id=conversation.organization_id)


def reply_failed(session: Session, *, message: Message) -> None:
    """A reply failed for good: its author and the conversation's owner are told why, so the
    customer is not left believing they were answered. When neither is an active member (the
    author left, nobody owns the conversation), the team lead or the admins are told instead."""
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is None:
        return
    title = f"A reply to {_customer(session, conversation)} was not sent"
    quoted = notifications_service.excerpt(message.text)
    body = f"{message.delivery_error or 'no reason given'}\n\n“{quoted}”"

    def tell(member_ids: list[int]) -> bool:
        return bool(
            notifications_service.notify(
                session,
                organization_id=message.organization_id,
                member_ids=member_ids,
                kind=REPLY_FAILED,
                title=title,
                body=body,
                conversation_id=conversation.id,
                link=_link(conversation),
                data={"message_id": message.id},
            )
        )

    told = [m for m in (message.author_member_id, conversation.assignee_id) if m is not None]
    if not tell(told):
        tell(_stand_ins(session, conversation))


def withdrawal_failed(session: Session, *, message: Message) -> None:
    """Taking a reply back failed for good: whoever asked is told which reply, on which
    account, and the network's reason, since the post is still up (they may try again from
    the conversation, or delete it on the network)."""
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is None or message.withdrawal_requested_by_id is None:
        return
    account = session.get_one(BrandAccount, message.brand_account_id)
    where = account_named(account)
    quoted = notifications_service.excerpt(message.text)
    notifications_service.notify(
        session,
        organization_id=message.organization_id,
        member_ids=[message.withdrawal_requested_by_id],
        kind=REPLY_WITHDRAWAL_FAILED,
        title=f"A reply to {_customer(session, conversation)} could not be withdrawn from {where}",
        body=f"{message.withdrawal_error or 'no reason given'}\n\n“{quoted}”\n\n"
        "It is still up: try again from the conversation, or delete it on the network.",
        conversation_id=conversation.id,
        link=f"{_link(conversation)}#message-{message.id}",
        data={"message_id": message.id, "brand_account_id": account.id},
    )


def approval_requested(session: Session, *, approval: Approval, message: Message) -> None:
    """A draft is held: everyone who may approve it (not its author, and only those who may
    act for its brand account) is told, with the rules that held it."""
    conversation = session.get_one(Conversation, message.conversation_id)
    approvers = session.scalars(
        select(Member.id).where(
            Member.organization_id == message.organization_id,
            Member.is_active.is_(True),
            Member.role.in_(APPROVER_ROLES),
            Member.id != approval.requested_by_id,
            channels_service.may_act_clause(literal(message.brand_account_id), member_id=Member.id),
        )
    ).all()
    author = session.get(Member, approval.requested_by_id)
    reasons = "; ".join(str(r.get("explain") or r.get("rule")) for r in approval.reasons)
    notifications_service.notify(
        session,
        organization_id=message.organization_id,
        member_ids=approvers,
        kind=APPROVAL_REQUESTED,
        title=(
            f"{author.name if author else 'A colleague'}'s reply to "
            f"{_customer(session, conversation)} waits for approval"
        ),
        body=f"{reasons}\n\n“{notifications_service.excerpt(message.text)}”"
        if reasons
        else notifications_service.excerpt(message.text),
        conversation_id=conversation.id,
        link="/approvals",
        data={"approval_id": approval.id, "message_id": message.id},
    )


def approval_decided(
    session: Session, *, approval: Approval, approver: Member, message: Message
) -> None:
    """The author learns what the approver decided, and why."""
    conversation = session.get_one(Conversation, message.conversation_id)
    approved = approval.status == ApprovalStatus.APPROVED.value
    edited = approved and approval.approved_text not in (None, approval.original_text)
    # Sending comes after (a job); if it fails, a "could not be sent" notice follows.
    what = "approved and is on its way" if approved else "not approved"
    if edited:
        what = "approved with changes and is on its way"
    comment = f"{approver.name}: {approval.comment}" if approval.comment else approver.name
    notifications_service.notify(
        session,
        organization_id=message.organization_id,
        member_ids=[approval.requested_by_id],
        kind=APPROVAL_DECIDED,
        title=f"Your reply to {_customer(session, conversation)} was {what}",
        body=f"{comment}\n\n“{notifications_service.excerpt(message.text)}”",
        conversation_id=conversation.id,
        link=_link(conversation),
        data={"approval_id": approval.id, "message_id": message.id, "status": approval.status},
    )
