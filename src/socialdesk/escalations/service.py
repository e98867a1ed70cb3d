"""Escalation requests: the owner of a conversation pulls in another department or person
("please refund order 123") without handing the conversation over.

A request is tracked inside the conversation (open, then done with a resolution or cancelled),
each step is written to the conversation's trail, and the conversation keeps its assignee and
team throughout: the front-line owner answers the customer once the request is done.

Plain keyword-only functions that never commit. Notifications in the desk are rows written in
the caller's transaction; email, the team's address and the team's webhook are jobs enqueued
after the commit, so a rolled-back request tells nobody.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Team, TeamMembership
from socialdesk.accounts.permissions import ADMIN_ROLES
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.config import get_settings
from socialdesk.contacts.models import Contact
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.escalations.events import EscalationClosed, EscalationCreated, EscalationOverdue
from socialdesk.escalations.models import EscalationRequest, RequestStatus
from socialdesk.events import bus
from socialdesk.jobs import queue as jobs
from socialdesk.notifications import service as notifications_service

TEAM_EMAIL_JOB = "escalations.team_email"
HAND_OVER_JOB = "escalations.hand_over"

MAX_TEXT = 4000
MAX_RESOLUTION = 4000

# Activity kinds written to the conversation's trail.
ACTIVITY_REQUESTED = "escalation_requested"
ACTIVITY_DONE = "escalation_done"
ACTIVITY_CANCELLED = "escalation_cancelled"
ACTIVITY_OVERDUE = "escalation_overdue"
ACTIVITY_HANDED_OVER = "escalation_handed_over"

# Notification kinds.
KIND_REQUESTED = "escalation.requested"
KIND_DONE = "escalation.done"
KIND_CANCELLED = "escalation.cancelled"
KIND_OVERDUE = "escalation.overdue"
KIND_HANDED_OVER = "escalation.handed_over"


class Scope(enum.StrEnum):
    """Which requests a list shows, seen from one member."""

    FOR_ME = "me"  # asked of me by name
    FOR_MY_TEAMS = "teams"  # asked of a team I am in (or lead)
    ASKED_BY_ME = "asked"  # the ones I asked for


STATUS_ALL = "all"
STATUS_CHOICES: tuple[str, ...] = (*(s.value for s in RequestStatus), STATUS_ALL)


# -- reading ------------------------------------------------------------------------------


def get_or_raise(session: Session, *, organization_id: int, request_id: int) -> EscalationRequest:
    request = session.get(EscalationRequest, request_id)
    if request is None or request.organization_id != organization_id:
        raise NotFound(f"escalation request {request_id} does not exist")
    return request


def get_in_conversation(
    session: Session, *, conversation: Conversation, request_id: int
) -> EscalationRequest:
    """A request of ``conversation``; one of another conversation is "not found" here."""
    request = session.get(EscalationRequest, request_id)
    if request is None or request.conversation_id != conversation.id:
        raise NotFound(f"escalation request {request_id} is not in conversation {conversation.id}")
    return request


def for_conversation(session: Session, *, conversation: Conversation) -> list[EscalationRequest]:
    """Every request of the conversation, oldest first (the panel splits open and closed)."""
    return list(
        session.scalars(
            select(EscalationRequest)
            .where(EscalationRequest.conversation_id == conversation.id)
            .order_by(EscalationRequest.id)
        )
    )


def team_ids_of(session: Session, *, member: Member) -> list[int]:
    """The teams a member is in, or leads."""
    ids = set(
        session.scalars(select(TeamMembership.team_id).where(TeamMembership.member_id == member.id))
    )
    ids.update(
        session.scalars(
            select(Team.id).where(
                Team.organization_id == member.organization_id,
                Team.lead_member_id == member.id,
            )
        )
    )
    return sorted(ids)


def page(
    session: Session,
    *,
    member: Member,
    scope: Scope,
    status: str = RequestStatus.OPEN.value,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[EscalationRequest]:
    """One page of the requests ``scope`` selects for ``member``, newest first."""
    if status not in STATUS_CHOICES:
        raise ValidationFailed(
            f"status must be one of {', '.join(STATUS_CHOICES)}, not {status!r}", field="status"
        )
    stmt = select(EscalationRequest).where(
        EscalationRequest.organization_id == member.organization_id
    )
    if scope is Scope.FOR_ME:
        stmt = stmt.where(EscalationRequest.member_id == member.id)
    elif scope is Scope.FOR_MY_TEAMS:
        stmt = stmt.where(EscalationRequest.team_id.in_(team_ids_of(session, member=member)))
    else:
        stmt = stmt.where(EscalationRequest.requested_by_id == member.id)
    if status != STATUS_ALL:
        stmt = stmt.where(EscalationRequest.status == status)
    return keyset_page(
        session,
        stmt,
        when=EscalationRequest.created_at,
        row_id=EscalationRequest.id,
        key=lambda r: (r.created_at, r.id),
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )


def is_overdue(request: EscalationRequest, *, now: datetime | None = None) -> bool:
    return (
        request.status == RequestStatus.OPEN.value
        and request.due_at is not None
        and request.due_at <= (now or clock.now())
    )


# -- asking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    team: Team | None
    member: Member | None

    @property
    def label(self) -> str:
        if self.member is not None and self.team is not None:
            return f"{self.member.name} ({self.team.name})"
        if self.member is not None:
            return self.member.name
        assert self.team is not None
        return self.team.name


def _target(
    session: Session, *, organization_id: int, team_id: int | None, member_id: int | None
) -> _Target:
    if team_id is None and member_id is None:
        raise ValidationFailed("choose a team or a person to ask", field="team_id")
    team: Team | None = None
    member: Member | None = None
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None or team.organization_id != organization_id:
            raise NotFound(f"team {team_id} does not exist", field="team_id")
    if member_id is not None:
        member = session.get(Member, member_id)
        if member is None or member.organization_id != organization_id:
            raise NotFound(f"member {member_id} does not exist", field="member_id")
        if not member.is_active:
            raise ValidationFailed(
                f"{member.name} is deactivated: ask someone else", field="member_id"
            )
    return _Target(team=team, member=member)


def _team_recipients(session: Session, team: Team) -> list[int]:
    """The team's active members, its lead first (a lead outside the team is included)."""
    members = notifications_service.team_member_ids(session, team_id=team.id)
    lead = team.lead_member_id
    return ([lead] if lead is not None else []) + [m for m in members if m != lead]


def _target_recipients(session: Session, request: EscalationRequest) -> list[int]:
    """Who hears of a request in the desk: the person asked, else the team (lead first)."""
    if request.member_id is not None:
        return [request.member_id]
    if request.team_id is not None:
        return _team_recipients(session, session.get_one(Team, request.team_id))
    return []


def _recipients_of(session: Session, target: _Target) -> list[int]:
    if target.member is not None:
        return [target.member.id]
    assert target.team is not None
    return _team_recipients(session, target.team)


def _active(session: Session, ids: Iterable[int], *, organization_id: int) -> list[int]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = set(
        session.scalars(
            select(Member.id).where(
                Member.id.in_(wanted),
                Member.organization_id == organization_id,
                Member.is_active.is_(True),
            )
        )
    )
    return [i for i in wanted if i in found]


def _notify_in_order(
    session: Session,
    *,
    organization_id: int,
    member_ids: Sequence[int],
    kind: str,
    title: str,
    body: str,
    conversation_id: int,
    data: dict[str, Any],
) -> list[int]:
    """Notify ``member_ids`` one by one, in the order given (a team's lead first), each once."""
    told: list[int] = []
    for member_id in dict.fromkeys(member_ids):
        rows = notifications_service.notify(
            session,
            organization_id=organization_id,
            member_ids=[member_id],
            kind=kind,
            title=title,
            body=body,
            conversation_id=conversation_id,
            link=f"/conversations/{conversation_id}",
            data=data,
        )
        told.extend(r.member_id for r in rows)
    return told


def _short(text: str, length: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _local(session: Session, organization_id: int, when: datetime) -> str:
    """A time as the organization reads it (messages leave the desk, so no browser zone)."""
    org = session.get_one(Organization, organization_id)
    return when.astimezone(_zone(org.timezone)).strftime("%a %d %b %Y, %H:%M (%Z)")


def _customer(session: Session, conversation: Conversation) -> str:
    contact = session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    name = contact.name if contact is not None and contact.name else "the customer"
    return f"#{conversation.id} with {name}"


def _announce_to_team(
    session: Session, *, request: EscalationRequest, conversation: Conversation, event: str
) -> None:
    """The team's own channels: its email address (a job with retries) and its webhook."""
    if request.team_id is None:
        return
    team = session.get_one(Team, request.team_id)
    if team.notify_email and get_settings().mail_url:
        jobs.enqueue(session, TEAM_EMAIL_JOB, {"request_id": request.id, "event": event})
    title, body = _team_message(session, request=request, conversation=conversation, event=event)
    notifications_service.post_to_team(
        session,
        team=team,
        title=title,
        body=body,
        link=f"/conversations/{conversation.id}",
        fields=_fields(session, request=request, conversation=conversation),
    )


def _fields(
    session: Session, *, request: EscalationRequest, conversation: Conversation
) -> dict[str, str]:
    requester = session.get_one(Member, request.requested_by_id)
    fields = {"Conversation": _customer(session, conversation), "Asked by": requester.name}
    if request.member_id is not None:
        fields["Asked of"] = session.get_one(Member, request.member_id).name
    if request.due_at is not None:
        fields["Due"] = _local(session, request.organization_id, request.due_at)
    return fields


def _team_message(
    session: Session, *, request: EscalationRequest, conversation: Conversation, event: str
) -> tuple[str, str]:
    """Title and body of what a team's email address and webhook receive."""
    team = session.get_one(Team, request.team_id) if request.team_id is not None else None
    requester = session.get_one(Member, request.requested_by_id)
    team_name = team.name if team is not None else "your team"
    if event == "overdue":
        title = f"Overdue request for {team_name}: {_short(request.text)}"
    elif event == "cancelled":
        title = f"Request for {team_name} cancelled: {_short(request.text)}"
    else:
        title = f"{requester.name} asks {team_name}: {_short(request.text)}"
    lines = [request.text]
    if event == "cancelled" and request.resolution:
        lines.append(f"Why: {request.resolution}")
    if request.due_at is not None and event != "cancelled":
        lines.append(f"Due: {_local(session, request.organization_id, request.due_at)}")
    lines.append(f"Conversation {_customer(session, conversation)}.")
    return title, "\n\n".join(lines)


def team_email_message(session: Session, *, request_id: int, event: str) -> tuple[str, str, str]:
    """(to, subject, body) of the email to a team's address; raises NotFound when the request
    or the address is gone."""
    request = session.get(EscalationRequest, request_id)
    if request is None or request.team_id is None:
        raise NotFound(f"escalation request {request_id} does not exist or asks no team")
    team = session.get_one(Team, request.team_id)
    if not team.notify_email:
        raise NotFound(f"team {team.name} has no email address")
    conversation = session.get_one(Conversation, request.conversation_id)
    title, body = _team_message(session, request=request, conversation=conversation, event=event)
    link = notifications_service.absolute_link(f"/conversations/{conversation.id}")
    return team.notify_email, title, f"{body}\n\n{link}" if link else body


def create(
    session: Session,
    *,
    conversation: Conversation,
    requested_by: Member,
    text: str,
    team_id: int | None = None,
    member_id: int | None = None,
    due_at: datetime | None = None,
) -> EscalationRequest:
    """Ask a team and/or a person for something on ``conversation``. The conversation keeps
    its assignee and team. Refused when nobody would hear of the request."""
    if requested_by.organization_id != conversation.organization_id:
        raise NotFound(f"conversation {conversation.id} does not exist")
    text = text.strip()
    if not text:
        raise ValidationFailed("say what you need from them", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"the request is {len(text)} characters; keep it under {MAX_TEXT}", field="text"
        )
    target = _target(
        session,
        organization_id=conversation.organization_id,
        team_id=team_id,
        member_id=member_id,
    )
    if target.member is not None and target.member.id == requested_by.id:
        raise ValidationFailed("you cannot ask yourself: choose someone else", field="member_id")
    now = clock.now()
    if due_at is not None:
        if due_at.tzinfo is None:
            raise ValidationFailed("the due time needs a time zone", field="due_at")
        if due_at <= now:
            raise ValidationFailed("the due time must be in the future", field="due_at")
    recipients = [
        m
        for m in _active(
            session,
            _recipients_of(session, target),
            organization_id=conversation.organization_id,
        )
        if m != requested_by.id
    ]
    team = target.team
    team_channels = team is not None and (
        team.webhook_url_encrypted is not None
        or bool(team.notify_email and get_settings().mail_url)
    )
    if not recipients and not team_channels:
        raise ValidationFailed(
            f"nobody would hear of this: {target.label} has no other active member, lead, "
            "email address or webhook; ask a person instead",
            field="member_id" if target.member is not None else "team_id",
        )
    request = EscalationRequest(
        organization_id=conversation.organization_id,
        conversation_id=conversation.id,
        requested_by_id=requested_by.id,
        team_id=target.team.id if target.team else None,
        member_id=target.member.id if target.member else None,
        text=text,
        status=RequestStatus.OPEN.value,
        due_at=due_at,
        created_at=now,
    )
    session.add(request)
    session.flush()
    conversations_service.record(
        session,
        conversation=conversation,
        kind=ACTIVITY_REQUESTED,
        actor=requested_by,
        data={
            "request_id": request.id,
            "team_id": request.team_id,
            "member_id": request.member_id,
            "text": _short(text, 280),
            "due_at": due_at.isoformat() if due_at else None,
        },
    )
    title = f"{requested_by.name} asks {'you' if target.member else target.label}: {_short(text)}"
    body = text
    if due_at is not None:
        body += f"\n\nDue: {_local(session, conversation.organization_id, due_at)}"
    body += f"\n\nConversation {_customer(session, conversation)}."
    _notify_in_order(
        session,
        organization_id=conversation.organization_id,
        member_ids=recipients,
        kind=KIND_REQUESTED,
        title=title,
        body=body,
        conversation_id=conversation.id,
        data={"request_id": request.id},
    )
    _announce_to_team(session, request=request, conversation=conversation, event="created")
    bus.emit(
        session,
        EscalationCreated(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            request_id=request.id,
            requested_by_id=requested_by.id,
            team_id=request.team_id,
            member_id=request.member_id,
        ),
    )
    return request


# -- closing ------------------------------------------------------------------------------


def _require_open(request: EscalationRequest) -> None:
    if request.status != RequestStatus.OPEN.value:
        raise Conflict(f"request #{request.id} is already {request.status}")


@dataclass(frozen=True)
class CloseRights:
    """What a member may do with an open request."""

    done: bool
    cancel: bool


def close_rights(
    session: Session, *, request: EscalationRequest, actor: Member, conversation: Conversation
) -> CloseRights:
    """Who may close a request. Mark done: whoever was asked (the person, or the asked team's
    members and lead), whoever asked, the conversation's owner, and admins. Cancel: whoever
    asked, the conversation's owner, and admins; the people asked cannot drop the work."""
    if actor.organization_id != request.organization_id:
        return CloseRights(done=False, cancel=False)
    owner = actor.id in (request.requested_by_id, conversation.assignee_id)
    if owner or actor.role in ADMIN_ROLES:
        return CloseRights(done=True, cancel=True)
    asked = actor.id == request.member_id
    if not asked and request.team_id is not None:
        team = session.get(Team, request.team_id)
        asked = (team is not None and team.lead_member_id == actor.id) or actor.id in (
            notifications_service.team_member_ids(session, team_id=request.team_id)
        )
    return CloseRights(done=asked, cancel=False)


def _close(
    session: Session,
    *,
    request: EscalationRequest,
    actor: Member,
    status: RequestStatus,
    note: str | None,
) -> Conversation:
    if actor.organization_id != request.organization_id:
        raise NotFound(f"escalation request {request.id} does not exist")
    _require_open(request)
    conversation = session.get_one(Conversation, request.conversation_id)
    rights = close_rights(session, request=request, actor=actor, conversation=conversation)
    if status is RequestStatus.DONE and not rights.done:
        raise PermissionDenied(
            f"request #{request.id} can be marked done by whoever was asked, whoever asked, "
            "the conversation's owner or an admin"
        )
    if status is RequestStatus.CANCELLED and not rights.cancel:
        raise PermissionDenied(
            f"request #{request.id} can be cancelled by whoever asked, the conversation's "
            "owner or an admin"
        )
    request.status = status.value
    request.closed_at = clock.now()
    request.closed_by_id = actor.id
    request.resolution = note
    conversations_service.record(
        session,
        conversation=conversation,
        kind=ACTIVITY_DONE if status is RequestStatus.DONE else ACTIVITY_CANCELLED,
        actor=actor,
        data={"request_id": request.id, "resolution": _short(note, 280) if note else None},
    )
    bus.emit(
        session,
        EscalationClosed(
            organization_id=request.organization_id,
            conversation_id=conversation.id,
            request_id=request.id,
            status=status.value,
            closed_by_id=actor.id,
        ),
    )
    return conversation


def _owners(request: EscalationRequest, conversation: Conversation) -> list[int]:
    """Who owns the outcome: whoever asked, and the conversation's current assignee."""
    ids = [request.requested_by_id]
    if conversation.assignee_id is not None:
        ids.append(conversation.assignee_id)
    return ids


def mark_done(
    session: Session, *, request: EscalationRequest, actor: Member, resolution: str
) -> EscalationRequest:
    """The request was carried out: ``resolution`` says what was done. The requester and the
    conversation's owner are told, so they can answer the customer."""
    resolution = resolution.strip()
    if not resolution:
        raise ValidationFailed(
            "say what was done: the owner answers the customer with it", field="resolution"
        )
    if len(resolution) > MAX_RESOLUTION:
        raise ValidationFailed(
            f"the note is {len(resolution)} characters; keep it under {MAX_RESOLUTION}",
            field="resolution",
        )
    conversation = _close(
        session, request=request, actor=actor, status=RequestStatus.DONE, note=resolution
    )
    recipients = [m for m in _owners(request, conversation) if m != actor.id]
    notifications_service.notify(
        session,
        organization_id=request.organization_id,
        member_ids=recipients,
        kind=KIND_DONE,
        title=f"Done by {actor.name}: {_short(request.text)}",
        body=f"{resolution}\n\nYou asked: {request.text}\n\n"
        f"Conversation {_customer(session, conversation)} is still yours: "
        "answer the customer.",
        conversation_id=conversation.id,
        link=f"/conversations/{conversation.id}",
        data={"request_id": request.id},
    )
    return request


def cancel(
    session: Session, *, request: EscalationRequest, actor: Member, reason: str | None = None
) -> EscalationRequest:
    """Withdraw a request; whoever was asked is told to stop."""
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_RESOLUTION:
        raise ValidationFailed(f"keep the reason under {MAX_RESOLUTION} characters", field="reason")
    conversation = _close(
        session, request=request, actor=actor, status=RequestStatus.CANCELLED, note=reason
    )
    recipients = [
        m
        for m in _target_recipients(session, request) + _owners(request, conversation)
        if m != actor.id
    ]
    notifications_service.notify(
        session,
        organization_id=request.organization_id,
        member_ids=recipients,
        kind=KIND_CANCELLED,
        title=f"Cancelled by {actor.name}: {_short(request.text)}",
        body=(f"Why: {reason}\n\n" if reason else "") + f"The request was: {request.text}",
        conversation_id=conversation.id,
        link=f"/conversations/{conversation.id}",
        data={"request_id": request.id},
    )
    _announce_to_team(session, request=request, conversation=conversation, event="cancelled")
    return request


# -- overdue ------------------------------------------------------------------------------


def overdue_candidates(session: Session, *, now: datetime, limit: int = 500) -> list[int]:
    """Open requests past their due time whose overdue notice has not gone out yet."""
    return list(
        session.scalars(
            select(EscalationRequest.id)
            .where(
                EscalationRequest.status == RequestStatus.OPEN.value,
                EscalationRequest.due_at.is_not(None),
                EscalationRequest.due_at <= now,
                EscalationRequest.overdue_notified_at.is_(None),
            )
            .order_by(EscalationRequest.due_at, EscalationRequest.id)
            .limit(limit)
        )
    )


def notify_overdue(session: Session, *, request_id: int, now: datetime) -> bool:
    """Tell the owner and whoever was asked that the request is overdue, exactly once.

    The notice is claimed with a conditional UPDATE (only while ``overdue_notified_at`` is
    unset) in the same transaction as the notifications: of two workers running this at
    once, one claims and the other finds nothing. False when there was nothing to do.
    """
    claimed = session.execute(
        update(EscalationRequest)
        .where(
            EscalationRequest.id == request_id,
            EscalationRequest.status == RequestStatus.OPEN.value,
            EscalationRequest.due_at.is_not(None),
            EscalationRequest.due_at <= now,
            EscalationRequest.overdue_notified_at.is_(None),
        )
        .values(overdue_notified_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # UPDATE results carry rowcount
        return False
    # One read that also refreshes a copy already in the session (the UPDATE bypassed it).
    request = session.get_one(EscalationRequest, request_id, populate_existing=True)
    conversation = session.get_one(Conversation, request.conversation_id)
    conversations_service.record(
        session,
        conversation=conversation,
        kind=ACTIVITY_OVERDUE,
        actor=None,
        data={"request_id": request.id},
    )
    assert request.due_at is not None
    due = _local(session, request.organization_id, request.due_at)
    owners = _owners(request, conversation)
    targets = [m for m in _target_recipients(session, request) if m not in owners]
    notifications_service.notify(
        session,
        organization_id=request.organization_id,
        member_ids=owners,
        kind=KIND_OVERDUE,
        title=f"Your request is overdue: {_short(request.text)}",
        body=f"It was due {due} and is still open.\n\nConversation "
        f"{_customer(session, conversation)}.",
        conversation_id=conversation.id,
        link=f"/conversations/{conversation.id}",
        data={"request_id": request.id},
    )
    _notify_in_order(
        session,
        organization_id=request.organization_id,
        member_ids=targets,
        kind=KIND_OVERDUE,
        title=f"Overdue: {_short(request.text)}",
        body=f"It was due {due}.\n\n{request.text}\n\nConversation "
        f"{_customer(session, conversation)}.",
        conversation_id=conversation.id,
        data={"request_id": request.id},
    )
    _announce_to_team(session, request=request, conversation=conversation, event="overdue")
    bus.emit(
        session,
        EscalationOverdue(
            organization_id=request.organization_id,
            conversation_id=conversation.id,
            request_id=request.id,
        ),
    )
    return True


# -- offboarding --------------------------------------------------------------------------


def hand_over(
    session: Session, *, organization_id: int, member_id: int, hand_to_member_id: int | None
) -> int:
    """Open requests asked of a member who left: to the person their work goes to, else to the
    request's team alone; with neither, the requester and owner are told to ask someone else.
    Returns how many requests were touched."""
    gone = session.get(Member, member_id)
    if gone is None or gone.organization_id != organization_id:
        return 0
    hand_to = session.get(Member, hand_to_member_id) if hand_to_member_id is not None else None
    if hand_to is not None and (
        hand_to.organization_id != organization_id or not hand_to.is_active
    ):
        hand_to = None
    open_requests = list(
        session.scalars(
            select(EscalationRequest).where(
                EscalationRequest.organization_id == organization_id,
                EscalationRequest.member_id == member_id,
                EscalationRequest.status == RequestStatus.OPEN.value,
            )
        )
    )
    for request in open_requests:
        conversation = session.get_one(Conversation, request.conversation_id)
        if hand_to is None and request.team_id is None:
            notifications_service.notify(
                session,
                organization_id=organization_id,
                member_ids=_owners(request, conversation),
                kind=KIND_HANDED_OVER,
                title=f"{gone.name} left; your request to them is unanswered",
                body=f"{request.text}\n\nCancel it and ask someone else.",
                conversation_id=conversation.id,
                link=f"/conversations/{conversation.id}",
                data={"request_id": request.id},
            )
            continue
        request.member_id = hand_to.id if hand_to is not None else None
        conversations_service.record(
            session,
            conversation=conversation,
            kind=ACTIVITY_HANDED_OVER,
            actor=None,
            data={
                "request_id": request.id,
                "from": gone.id,
                "to": request.member_id,
                "team_id": request.team_id,
            },
        )
        _notify_in_order(
            session,
            organization_id=organization_id,
            member_ids=_target_recipients(session, request),
            kind=KIND_HANDED_OVER,
            title=f"{gone.name}'s request is now yours: {_short(request.text)}",
            body=f"{request.text}\n\nConversation {_customer(session, conversation)}.",
            conversation_id=conversation.id,
            data={"request_id": request.id},
        )
    return len(open_requests)
