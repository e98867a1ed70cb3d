"""Offboarding: people leave, the customers and the history stay with the organization.

Deactivating a member (never deleting) at once ends their logins and API tokens, hands their
open conversations to a named colleague or back to their team's queue, and keeps everything
they wrote attributed to them. The handover report says what moved where. Other domains that
hold work for a member (escalation requests) hand it over on the MemberDeactivated event;
open promises move here, so the report lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Role, TeamMembership
from socialdesk.commitments import service as commitments_service
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Status
from socialdesk.events import bus
from socialdesk.events.types import MemberDeactivated


@dataclass(frozen=True)
class Handover:
    conversation_id: int
    subject: str
    to_member_id: int | None
    to_team_id: int | None


@dataclass
class HandoverReport:
    member_id: int
    sessions_ended: int = 0
    tokens_revoked: int = 0
    conversations: list[Handover] = field(default_factory=list)
    commitments: list[commitments_service.CommitmentHandover] = field(default_factory=list)


def deactivate(
    session: Session,
    *,
    member: Member,
    actor: Member,
    hand_to_member_id: int | None = None,
    source_address: str | None = None,
) -> HandoverReport:
    """Deactivate ``member``. Open work goes to ``hand_to_member_id`` or, if None, unassigned
    to the conversation's team (or the member's first team) so the team's queue picks it up."""
    if member.organization_id != actor.organization_id:
        raise NotFound(f"member {member.id} does not exist")
    if member.id == actor.id:
        raise ValidationFailed("you cannot deactivate yourself; ask another admin")
    if not member.is_active:
        raise Conflict(f"{member.name} is already deactivated")
    if member.role == "owner":
        accounts_service.change_role(session, member=member, role=Role.AGENT, actor=actor)
    successor = None
    if hand_to_member_id is not None:
        successor = accounts_service.get_member(
            session, organization_id=member.organization_id, member_id=hand_to_member_id
        )
        if not successor.is_active or successor.id == member.id:
            raise ValidationFailed(
                "hand the work to an active colleague", field="hand_to_member_id"
            )
    member.is_active = False
    member.deactivated_at = clock.now()
    report = HandoverReport(member_id=member.id)
    report.sessions_ended = accounts_service.end_all_sessions(session, member=member)
    report.tokens_revoked = accounts_service.revoke_all_api_tokens(session, member=member)
    first_team = session.scalar(
        select(TeamMembership.team_id)
        .where(TeamMembership.member_id == member.id)
        .order_by(TeamMembership.team_id)
        .limit(1)
    )
    open_work = session.scalars(
        select(Conversation)
        .where(
            Conversation.organization_id == member.organization_id,
            Conversation.assignee_id == member.id,
            Conversation.status != Status.RESOLVED.value,
        )
        .order_by(Conversation.id)
    ).all()
    for conversation in open_work:
        if successor is not None:
            conversations_service.assign(
                session, conversation=conversation, assignee_id=successor.id, actor=actor
            )
        else:
            conversations_service.assign(
                session, conversation=conversation, assignee_id=None, actor=actor
            )
            if conversation.team_id is None and first_team is not None:
                conversations_service.set_team(
                    session, conversation=conversation, team_id=first_team, actor=actor
                )
        report.conversations.append(
            Handover(
                conversation_id=conversation.id,
                subject=conversation.subject,
                to_member_id=conversation.assignee_id,
                to_team_id=conversation.team_id,
            )
        )
    # Promises move in the same transaction, so the report can say where each one went.
    report.commitments = commitments_service.hand_over(
        session, member=member, to_member_id=successor.id if successor else None, actor=actor
    )
    audit.record(
        session,
        organization_id=member.organization_id,
        action="member_deactivated",
        actor=actor,
        target=("member", member.id),
        source_address=source_address,
        after={
            "sessions_ended": report.sessions_ended,
            "tokens_revoked": report.tokens_revoked,
            "handed_over": [
                {
                    "conversation_id": h.conversation_id,
                    "to_member_id": h.to_member_id,
                    "to_team_id": h.to_team_id,
                }
                for h in report.conversations
            ],
            "commitments_handed_over": [
                {
                    "commitment_id": h.commitment_id,
                    "to_member_id": h.to_member_id,
                    "reason": h.reason,
                }
                for h in report.commitments
            ],
        },
    )
    bus.emit(
        session,
        MemberDeactivated(
            organization_id=member.organization_id,
            member_id=member.id,
            hand_to_member_id=successor.id if successor else None,
        ),
    )
    return report


def reactivate(
    session: Session, *, member: Member, actor: Member, source_address: str | None = None
) -> None:
    if member.organization_id != actor.organization_id:
        raise NotFound(f"member {member.id} does not exist")
    if member.is_active:
        return
    member.is_active = True
    member.deactivated_at = None
    member.failed_logins = 0
    member.locked_until = None
    audit.record(
        session,
        organization_id=member.organization_id,
        action="member_reactivated",
        actor=actor,
        target=("member", member.id),
        source_address=source_address,
    )
