"""Business hours: named weekly schedules in a time zone, with holidays.

Plain keyword-only functions that never commit. Every refusal names the field that was wrong
(``timezone``, ``intervals``, ``holidays``, ``name``) and says what would be right; the
validation itself is ``WeeklyHours.parse``, so what is stored is exactly what the arithmetic
reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Team
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.schedules.hours import ALWAYS, WeeklyHours
from socialdesk.schedules.models import BusinessHours

NAME_MAX = 120


def get_or_raise(
    session: Session, *, organization_id: int, business_hours_id: int
) -> BusinessHours:
    row = session.get(BusinessHours, business_hours_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound(f"business hours {business_hours_id} do not exist")
    return row


def list_hours(session: Session, *, organization_id: int) -> list[BusinessHours]:
    return list(
        session.scalars(
            select(BusinessHours)
            .where(BusinessHours.organization_id == organization_id)
            .order_by(func.lower(BusinessHours.name), BusinessHours.id)
        )
    )


def weekly(session: Session, *, business_hours_id: int | None) -> WeeklyHours:
    """The arithmetic for a stored schedule; around the clock for None (or a row that has
    gone, which cannot happen while something refers to it)."""
    if business_hours_id is None:
        return ALWAYS
    return WeeklyHours.from_row(session.get(BusinessHours, business_hours_id))


def normalised(
    *, timezone: str, intervals: Mapping[str, Sequence[Sequence[str]]], holidays: Sequence[str]
) -> tuple[str, dict[str, list[list[str]]], list[str]]:
    """Validate and return the canonical form: weekdays "0".."6" with their intervals sorted
    and written HH:MM, days without intervals left out, holidays sorted without repeats."""
    parsed = WeeklyHours.parse(timezone=timezone.strip(), intervals=intervals, holidays=holidays)
    canonical = {
        str(day): [[_hhmm(start), _hhmm(end)] for start, end in periods]
        for day, periods in sorted(parsed.periods.items())
    }
    days = sorted({date.fromisoformat(str(h).strip()) for h in holidays})
    return parsed.zone.key, canonical, [d.isoformat() for d in days]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _clean_name(session: Session, organization_id: int, name: str, *, own_id: int | None) -> str:
    clean = name.strip()
    if not clean:
        raise ValidationFailed("give the business hours a name, such as Office", field="name")
    if len(clean) > NAME_MAX:
        raise ValidationFailed(f"the name is longer than {NAME_MAX} characters", field="name")
    taken = session.scalar(
        select(BusinessHours.id).where(
            BusinessHours.organization_id == organization_id,
            func.lower(BusinessHours.name) == clean.lower(),
        )
    )
    if taken is not None and taken != own_id:
        raise Conflict(f"business hours named {clean!r} already exist", field="name")
    return clean


def create(
    session: Session,
    *,
    organization_id: int,
    name: str,
    timezone: str,
    intervals: Mapping[str, Sequence[Sequence[str]]],
    holidays: Sequence[str] = (),
) -> BusinessHours:
    clean = _clean_name(session, organization_id, name, own_id=None)
    zone, canonical, days = normalised(timezone=timezone, intervals=intervals, holidays=holidays)
    now = clock.now()
    row = BusinessHours(
        organization_id=organization_id,
        name=clean,
        timezone=zone,
        intervals=canonical,
        holidays=days,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update(
    session: Session,
    *,
    hours: BusinessHours,
    name: str | None = None,
    timezone: str | None = None,
    intervals: Mapping[str, Sequence[Sequence[str]]] | None = None,
    holidays: Sequence[str] | None = None,
) -> BusinessHours:
    """Change what is given; the rest stays. Clocks already running keep their due times
    until their conversation next changes (docs/sla.md)."""
    if name is not None:
        hours.name = _clean_name(session, hours.organization_id, name, own_id=hours.id)
    zone, canonical, days = normalised(
        timezone=timezone if timezone is not None else hours.timezone,
        intervals=intervals if intervals is not None else hours.intervals,
        holidays=holidays if holidays is not None else hours.holidays,
    )
    hours.timezone, hours.intervals, hours.holidays = zone, canonical, days
    hours.updated_at = clock.now()
    session.flush()
    return hours


def users_of(session: Session, *, hours: BusinessHours) -> list[str]:
    """What refers to ``hours``, as people read it ("team Billing", "SLA policy Urgent")."""
    from socialdesk.sla.models import SlaPolicy

    teams = session.scalars(
        select(Team.name).where(Team.business_hours_id == hours.id).order_by(Team.name)
    )
    policies = session.scalars(
        select(SlaPolicy.name)
        .where(SlaPolicy.business_hours_id == hours.id)
        .order_by(SlaPolicy.name)
    )
    return [f"team {n}" for n in teams] + [f"SLA policy {n}" for n in policies]


def delete(session: Session, *, hours: BusinessHours) -> None:
    """Remove a schedule nothing uses; one in use is refused with who uses it."""
    users = users_of(session, hours=hours)
    if users:
        raise Conflict(
            f"{hours.name!r} is in use by {', '.join(users)}: give them other hours (or around "
            "the clock) first",
            field="business_hours_id",
        )
    session.delete(hours)
    session.flush()
