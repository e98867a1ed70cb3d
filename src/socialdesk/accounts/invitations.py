"""Joining and recovering: one-time invitation links and password reset links.

Both tokens are random, shown once (in the link), stored only as a keyed hash, expire, and
can be used once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Invitation, Member, PasswordReset, Role, TeamMembership
from socialdesk.common import clock
from socialdesk.common.crypto import hash_token, new_token
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.config import get_settings


@dataclass(frozen=True)
class NewInvitation:
    token: str  # goes in the link; shown once
    invitation: Invitation

    @property
    def path(self) -> str:
        return f"/invitations/{self.token}"


def invite(
    session: Session,
    *,
    inviter: Member,
    email: str,
    role: Role,
    team_ids: list[int] | None = None,
    source_address: str | None = None,
) -> NewInvitation:
    if role is Role.OWNER and inviter.role != Role.OWNER.value:
        raise PermissionDenied("only an owner can invite another owner")
    email = accounts_service.check_email(email)
    if session.scalar(select(Member.id).where(Member.email == email)) is not None:
        raise Conflict(f"{email} is already a member", field="email")
    for team_id in team_ids or []:
        accounts_service.get_team(session, organization_id=inviter.organization_id, team_id=team_id)
    token = new_token()
    now = clock.now()
    invitation = Invitation(
        organization_id=inviter.organization_id,
        email=email,
        role=role.value,
        team_ids=list(team_ids or []),
        token_hash=hash_token(token),
        invited_by_id=inviter.id,
        created_at=now,
        expires_at=now + timedelta(days=get_settings().invitation_days),
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        organization_id=inviter.organization_id,
        action="invitation_created",
        actor=inviter,
        target=("invitation", invitation.id),
        source_address=source_address,
        after={"email": email, "role": role.value, "team_ids": invitation.team_ids},
    )
    return NewInvitation(token=token, invitation=invitation)


def find_open_invitation(session: Session, *, token: str) -> Invitation:
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound("this invitation link is not valid; ask for a new one")
    if invitation.accepted_at is not None:
        raise Conflict("this invitation was already used; log in instead")
    if invitation.expires_at <= clock.now():
        raise ValidationFailed("this invitation has expired; ask for a new one")
    return invitation


def accept(
    session: Session, *, token: str, name: str, password: str, source_address: str | None = None
) -> Member:
    invitation = find_open_invitation(session, token=token)
    member = accounts_service.create_member(
        session,
        organization_id=invitation.organization_id,
        email=invitation.email,
        name=name,
        role=Role(invitation.role),
        password=password,
    )
    for team_id in invitation.team_ids:
        session.add(TeamMembership(team_id=team_id, member_id=member.id))
    invitation.accepted_at = clock.now()
    invitation.member_id = member.id
    audit.record(
        session,
        organization_id=invitation.organization_id,
        action="invitation_accepted",
        actor=member,
        target=("invitation", invitation.id),
        source_address=source_address,
    )
    return member


def revoke_invitation(session: Session, *, actor: Member, invitation_id: int) -> None:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.organization_id != actor.organization_id:
        raise NotFound(f"invitation {invitation_id} does not exist")
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = clock.now()
        audit.record(
            session,
            organization_id=actor.organization_id,
            action="invitation_revoked",
            actor=actor,
            target=("invitation", invitation.id),
        )


def list_invitations(session: Session, *, organization_id: int) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.organization_id == organization_id)
            .order_by(Invitation.created_at.desc())
        )
    )


@dataclass(frozen=True)
class NewReset:
    token: str
    member: Member

    @property
    def path(self) -> str:
        return f"/password-reset/{self.token}"


def request_reset(
    session: Session, *, member: Member, actor: Member | None, source_address: str | None = None
) -> NewReset:
    """A one-time link to set a new password: sent to the member (``actor`` None), or handed
    over by an admin (never for an owner, unless the admin is an owner too)."""
    if actor is not None:
        accounts_service.ensure_may_manage_sign_in(actor, member)
    token = new_token()
    now = clock.now()
    session.add(
        PasswordReset(
            member_id=member.id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(minutes=get_settings().password_reset_minutes),
        )
    )
    audit.record(
        session,
        organization_id=member.organization_id,
        action="password_reset_requested",
        actor=actor,
        target=("member", member.id),
        source_address=source_address,
    )
    return NewReset(token=token, member=member)


def reset_password(
    session: Session, *, token: str, password: str, source_address: str | None = None
) -> Member:
    """Set a new password with a reset link. Every existing login of the member ends."""
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == hash_token(token))
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= clock.now():
        raise ValidationFailed("this reset link is not valid any more; ask for a new one")
    member = session.get(Member, reset.member_id)
    if member is None or not member.is_active:
        raise ValidationFailed("this reset link is not valid any more; ask for a new one")
    member.password_hash = accounts_service.hash_password(password)
    member.failed_logins = 0
    member.locked_until = None
    reset.used_at = clock.now()
    accounts_service.end_all_sessions(session, member=member)
    audit.record(
        session,
        organization_id=member.organization_id,
        action="password_changed",
        actor=member,
        target=("member", member.id),
        source_address=source_address,
    )
    return member
