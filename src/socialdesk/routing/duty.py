"""Who is on duty: active, available (not away), and inside their team's business hours.

A member with no team works around the clock; a member in several teams is on duty while any
of those teams is open. Asked about one team, only that team's members count, and only while
that team is open. Pure queries: nothing here changes anything.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Team, TeamMembership
from socialdesk.common import clock
from socialdesk.schedules.hours import ALWAYS, WeeklyHours
from socialdesk.schedules.models import BusinessHours


class Availability(enum.StrEnum):
    AVAILABLE = "available"
    AWAY = "away"


def team_hours(session: Session, team: Team) -> WeeklyHours:
    """The team's schedule; around the clock without one."""
    if team.business_hours_id is None:
        return ALWAYS
    return WeeklyHours.from_row(session.get(BusinessHours, team.business_hours_id))


def open_team_ids(session: Session, *, organization_id: int, at: datetime) -> set[int]:
    """The organization's teams that are working at ``at``."""
    teams = session.scalars(select(Team).where(Team.organization_id == organization_id))
    schedules: dict[int, WeeklyHours] = {}
    open_ids: set[int] = set()
    for team in teams:
        if team.business_hours_id is None:
            open_ids.add(team.id)
            continue
        hours = schedules.get(team.business_hours_id)
        if hours is None:
            hours = schedules[team.business_hours_id] = team_hours(session, team)
        if hours.is_open(at):
            open_ids.add(team.id)
    return open_ids


def teams_of(session: Session, member_ids: Iterable[int]) -> dict[int, set[int]]:
    """Each member's team ids (members without a team are absent)."""
    ids = list(set(member_ids))
    out: dict[int, set[int]] = {}
    if not ids:
        return out
    for team_id, member_id in session.execute(
        select(TeamMembership.team_id, TeamMembership.member_id).where(
            TeamMembership.member_id.in_(ids)
        )
    ):
        out.setdefault(member_id, set()).add(team_id)
    return out


def _available(member: Member) -> bool:
    return (
        member.is_active
        and member.deactivated_at is None
        and member.availability == Availability.AVAILABLE.value
    )


def on_duty_members(
    session: Session,
    *,
    organization_id: int,
    team_id: int | None = None,
    at: datetime | None = None,
) -> list[Member]:
    """Members who can take work now (or at ``at``), in id order. With ``team_id``: that team's
    members, and nobody while the team is closed."""
    at = at or clock.now()
    open_ids = open_team_ids(session, organization_id=organization_id, at=at)
    stmt = select(Member).where(
        Member.organization_id == organization_id,
        Member.is_active.is_(True),
        Member.deactivated_at.is_(None),
        Member.availability == Availability.AVAILABLE.value,
    )
    if team_id is not None:
        if team_id not in open_ids:
            return []
        stmt = stmt.join(TeamMembership, TeamMembership.member_id == Member.id).where(
            TeamMembership.team_id == team_id
        )
        return list(session.scalars(stmt.order_by(Member.id)))
    members = list(session.scalars(stmt.order_by(Member.id)))
    memberships = teams_of(session, (m.id for m in members))
    return [m for m in members if m.id not in memberships or memberships[m.id] & open_ids]


def off_duty_reason(
    session: Session,
    *,
    member: Member,
    at: datetime | None = None,
    open_ids: set[int] | None = None,
) -> str | None:
    """None when ``member`` is on duty; otherwise why not, in words for the trail."""
    if not member.is_active or member.deactivated_at is not None:
        return f"{member.name} was deactivated"
    if member.availability != Availability.AVAILABLE.value:
        return f"{member.name} went away"
    at = at or clock.now()
    teams = teams_of(session, [member.id]).get(member.id)
    if not teams:
        return None
    if open_ids is None:
        open_ids = open_team_ids(session, organization_id=member.organization_id, at=at)
    if teams & open_ids:
        return None
    return f"{member.name}'s working hours ended"


def is_on_duty(session: Session, *, member: Member, at: datetime | None = None) -> bool:
    return off_duty_reason(session, member=member, at=at) is None


def is_available(member: Member) -> bool:
    """Active and not away (business hours aside)."""
    return _available(member)
