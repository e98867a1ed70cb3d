"""Auto-assignment: choose an on-duty member with room for one more conversation.

Round robin gives the conversation to the member assigned longest ago; least loaded to the
member with the fewest open and pending conversations. Either way a member's open plus pending
assigned conversations stay below their capacity, away and off-duty members are skipped, and
when some on-duty member speaks the conversation's language, those members go first.

Two workers must not both fill a member's last free place. The choice is re-checked inside the
transaction that assigns: on PostgreSQL the chosen member's row is locked (``FOR UPDATE``) and
their load counted again after the lock is held, so a concurrent assignment that committed
first is seen; on SQLite a writing transaction already holds the database's one write lock
(``BEGIN IMMEDIATE``), so nothing can change in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.common import clock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Status
from socialdesk.routing import duty
from socialdesk.routing.models import Strategy

LOADED_STATUSES = (Status.OPEN.value, Status.PENDING.value)
_NEVER = datetime.min.replace(tzinfo=UTC)


def loads(session: Session, *, organization_id: int, member_ids: Iterable[int]) -> dict[int, int]:
    """Open plus pending conversations assigned to each member (0 for none)."""
    ids = sorted(set(member_ids))
    out = dict.fromkeys(ids, 0)
    if not ids:
        return out
    rows = session.execute(
        select(Conversation.assignee_id, func.count())
        .where(
            Conversation.organization_id == organization_id,
            Conversation.status.in_(LOADED_STATUSES),
            Conversation.assignee_id.in_(ids),
        )
        .group_by(Conversation.assignee_id)
    )
    for member_id, n in rows:
        if member_id is not None:
            out[member_id] = int(n)
    return out


def _ordered(members: list[Member], load: dict[int, int], strategy: Strategy) -> list[Member]:
    if strategy is Strategy.LEAST_LOADED:
        return sorted(members, key=lambda m: (load[m.id], m.last_assigned_at or _NEVER, m.id))
    return sorted(members, key=lambda m: (m.last_assigned_at or _NEVER, m.id))


def candidates(
    session: Session,
    *,
    conversation: Conversation,
    team_id: int | None,
    strategy: Strategy,
    exclude: Iterable[int] = (),
    at: datetime | None = None,
) -> list[Member]:
    """On-duty members with room, best first."""
    skip = set(exclude)
    on_duty = [
        m
        for m in duty.on_duty_members(
            session, organization_id=conversation.organization_id, team_id=team_id, at=at
        )
        if m.id not in skip
    ]
    load = loads(
        session, organization_id=conversation.organization_id, member_ids=(m.id for m in on_duty)
    )
    with_room = [m for m in on_duty if load[m.id] < m.capacity]
    language = conversation.language
    if language:
        speakers = [m for m in with_room if language in (m.languages or [])]
        if speakers:
            others = [m for m in with_room if m not in speakers]
            return _ordered(speakers, load, strategy) + _ordered(others, load, strategy)
    return _ordered(with_room, load, strategy)


def still_has_room(session: Session, member: Member) -> bool:
    """Lock the member (PostgreSQL) and count their load again, now that nobody else can
    assign to them until this transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    load = loads(session, organization_id=member.organization_id, member_ids=[member.id])
    return load[member.id] < member.capacity


def give(
    session: Session, *, conversation: Conversation, member: Member, actor: Member | None
) -> None:
    """Assign and stamp: when the assignee got it (timeouts count from here) and when the
    member last got work (round robin's order)."""
    conversations_service.assign(
        session, conversation=conversation, assignee_id=member.id, actor=actor
    )
    now = clock.now()
    conversation.assigned_at = now
    # Strictly after every colleague's stamp, so round robin stays a rotation even when two
    # assignments share one clock reading.
    newest = session.scalar(
        select(func.max(Member.last_assigned_at)).where(
            Member.organization_id == member.organization_id, Member.id != member.id
        )
    )
    member.last_assigned_at = max(now, newest + timedelta(microseconds=1)) if newest else now


def auto_assign(
    session: Session,
    *,
    conversation: Conversation,
    strategy: Strategy,
    team_id: int | None = None,
    exclude: Iterable[int] = (),
    at: datetime | None = None,
) -> Member | None:
    """Give ``conversation`` to the best on-duty member of ``team_id`` (any team with None)
    who still has room; None when nobody has."""
    for member in candidates(
        session,
        conversation=conversation,
        team_id=team_id,
        strategy=strategy,
        exclude=exclude,
        at=at,
    ):
        if still_has_room(session, member):
            give(session, conversation=conversation, member=member, actor=None)
            return member
    return None
