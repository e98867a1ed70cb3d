"""Warnings before a breach and the breach itself, each exactly once per clock and due time (a
warning counts for the due time whose window, ``warn_at``, it was given in: tracking.py moves
that window with the due time).

The periodic task (jobs.py) calls ``run`` every minute. A clock is claimed with a conditional
UPDATE (``... WHERE warned_at IS NULL OR warned_at < warn_at``, ``... WHERE breached_at IS
NULL``) before anyone is told: of two workers looking at the same clock, one updates the row
and notifies, the other updates nothing and moves on. The claim and the notifications share one
transaction, so a crash before commit leaves the clock unclaimed for the next run.

Who hears: the conversation's owner (assignee) and the lead of its team. A breach nobody
holds (no assignee, no team lead) goes to the organization's admins, so it is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Team
from socialdesk.common import clock
from socialdesk.conversations.models import Conversation
from socialdesk.events import bus
from socialdesk.notifications import service as notifications
from socialdesk.sla import tracking
from socialdesk.sla.events import SlaBreached, SlaWarning
from socialdesk.sla.models import SlaClock, SlaPolicy, Target

BATCH = 200
WARNING_KIND = "sla.warning"
BREACH_KIND = "sla.breach"
TARGET_LABELS = {
    Target.FIRST_RESPONSE.value: "First response",
    Target.NEXT_RESPONSE.value: "Next response",
    Target.RESOLUTION.value: "Resolution",
}


@dataclass(frozen=True)
class Outcome:
    warned: int
    breached: int


def _running() -> ColumnElement[bool]:
    return and_(
        SlaClock.stopped_at.is_(None),
        SlaClock.paused_at.is_(None),
        SlaClock.breached_at.is_(None),
    )


def unwarned() -> ColumnElement[bool]:
    """No warning given inside the current due time's warning window (see ``warn_at``)."""
    return or_(SlaClock.warned_at.is_(None), SlaClock.warned_at < SlaClock.warn_at)


def due_for_warning(session: Session, *, now: datetime, limit: int = BATCH) -> list[SlaClock]:
    """Running clocks not yet due whose warning window is open and that have no warning for
    their current due time."""
    widest = session.scalar(select(func.max(SlaPolicy.warn_before_minutes)))
    if not widest or widest <= 0:
        return []
    return list(
        session.scalars(
            select(SlaClock)
            .where(
                _running(),
                unwarned(),
                SlaClock.warn_at <= now,
                SlaClock.due_at > now,
                # Bounds the range scan of ix_sla_clocks_running to the widest window.
                SlaClock.due_at <= now + timedelta(minutes=widest),
            )
            .order_by(SlaClock.due_at, SlaClock.id)
            .limit(limit)
        )
    )


def due_for_breach(session: Session, *, now: datetime, limit: int = BATCH) -> list[SlaClock]:
    return list(
        session.scalars(
            select(SlaClock)
            .where(_running(), SlaClock.due_at <= now)
            .order_by(SlaClock.due_at, SlaClock.id)
            .limit(limit)
        )
    )


def _lock_conversation(session: Session, clock_row: SlaClock) -> None:
    """Lock the clock's conversation before the clock (PostgreSQL), in the order reconcile
    takes them: claiming the clock first and then updating the conversation (a breach marks
    it) would deadlock against a reconcile holding the conversation and waiting for its
    clocks."""
    session.get(
        Conversation, clock_row.conversation_id, with_for_update=True, populate_existing=True
    )


def _claim(
    session: Session,
    clock_row: SlaClock,
    column: str,
    value: datetime,
    *,
    unclaimed: ColumnElement[bool],
) -> bool:
    """Set ``column`` on the clock while ``unclaimed`` holds: True when this call set it. Only
    while the clock still runs unpaused with the due time it was read with: a reconcile may
    have moved it since, and a warning or breach for a due time the clock no longer has would
    be wrong (the next run sees the new one)."""
    result = session.execute(
        update(SlaClock)
        .where(
            SlaClock.id == clock_row.id,
            unclaimed,
            SlaClock.stopped_at.is_(None),
            SlaClock.paused_at.is_(None),
            SlaClock.due_at == clock_row.due_at,
        )
        .values({column: value})
        .execution_options(synchronize_session=False)
    )
    claimed = bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult at run time
    if claimed:
        session.refresh(clock_row)
    return claimed


def claim_warning(session: Session, clock_row: SlaClock, now: datetime) -> bool:
    return _claim(session, clock_row, "warned_at", now, unclaimed=unwarned())


def claim_breach(session: Session, clock_row: SlaClock) -> bool:
    # breached_at is when it breached: the due time, not when this run noticed.
    return _claim(
        session,
        clock_row,
        "breached_at",
        clock_row.due_at,
        unclaimed=SlaClock.breached_at.is_(None),
    )


def org_zone(name: str | None) -> tzinfo:
    """The organization's zone; an unknown name (a typo in settings) reads as UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def recipients(session: Session, conversation: Conversation) -> list[int]:
    ids: list[int] = []
    if conversation.assignee_id is not None:
        ids.append(conversation.assignee_id)
    if conversation.team_id is not None:
        team = session.get(Team, conversation.team_id)
        if team is not None and team.lead_member_id is not None:
            ids.append(team.lead_member_id)
    return sorted(set(ids))


def _text(
    session: Session, conversation: Conversation, clock_row: SlaClock, *, breach: bool
) -> tuple[str, str]:
    label = TARGET_LABELS.get(clock_row.target, clock_row.target)
    subject = conversation.subject or f"conversation {conversation.id}"
    org = session.get_one(Organization, conversation.organization_id)
    zone = org_zone(org.timezone)
    when = clock_row.due_at.astimezone(zone).strftime("%a %d %b %H:%M")
    if breach:
        return f"SLA breached: {label.lower()} on “{subject}”", (
            f"{label} was due {when} ({org.timezone or 'UTC'}) and has not happened yet."
        )
    return f"SLA warning: {label.lower()} due soon on “{subject}”", (
        f"{label} is due {when} ({org.timezone or 'UTC'})."
    )


def _tell(session: Session, clock_row: SlaClock, *, breach: bool) -> None:
    conversation = session.get_one(Conversation, clock_row.conversation_id)
    title, body = _text(session, conversation, clock_row, breach=breach)
    members = recipients(session, conversation)
    if not members and breach:
        members = notifications.admin_ids(session, organization_id=conversation.organization_id)
    notifications.notify(
        session,
        organization_id=conversation.organization_id,
        member_ids=members,
        kind=BREACH_KIND if breach else WARNING_KIND,
        title=title,
        body=body,
        conversation_id=conversation.id,
        link=f"/conversations/{conversation.id}",
        data={
            "clock_id": clock_row.id,
            "target": clock_row.target,
            "due_at": clock_row.due_at.isoformat(),
        },
    )
    event = SlaBreached if breach else SlaWarning
    bus.emit(
        session,
        event(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            clock_id=clock_row.id,
            target=clock_row.target,
            due_at=clock_row.due_at.isoformat(),
        ),
    )
    if breach and conversation.team_id is not None:
        # The team's own channel (Slack or the like) hears of breaches, not of warnings: a
        # warning is for the owner, a breach is the team's business.
        team = session.get(Team, conversation.team_id)
        if team is not None:
            notifications.post_to_team(
                session,
                team=team,
                title=title,
                body=body,
                link=f"/conversations/{conversation.id}",
                fields=_breach_fields(session, conversation),
            )
    if breach:
        # Credit the breach to whoever held the conversation when it happened.
        channel = clock_row.channel
        tracking.snapshot(clock_row, conversation, channel)
        if not conversation.sla_breached:
            conversation.sla_breached = True
            tracking.announce(session, conversation)


def _breach_fields(session: Session, conversation: Conversation) -> dict[str, str]:
    owner = (
        session.get(Member, conversation.assignee_id)
        if conversation.assignee_id is not None
        else None
    )
    return {
        "Owner": owner.name if owner is not None else "nobody",
        "Conversation": f"#{conversation.id}",
    }


def warn(session: Session, *, now: datetime | None = None, limit: int = BATCH) -> int:
    now = now or clock.now()
    told = 0
    for row in due_for_warning(session, now=now, limit=limit):
        _lock_conversation(session, row)
        if claim_warning(session, row, now):
            _tell(session, row, breach=False)
            told += 1
    return told


def breach(session: Session, *, now: datetime | None = None, limit: int = BATCH) -> int:
    now = now or clock.now()
    told = 0
    for row in due_for_breach(session, now=now, limit=limit):
        _lock_conversation(session, row)
        if claim_breach(session, row):
            _tell(session, row, breach=True)
            told += 1
    return told


def run(session: Session, *, now: datetime | None = None, limit: int = BATCH) -> Outcome:
    """One pass: breaches first (they matter more), then warnings."""
    now = now or clock.now()
    breached = breach(session, now=now, limit=limit)
    warned = warn(session, now=now, limit=limit)
    return Outcome(warned=warned, breached=breached)
