"""SLA reports: the share of conversations kept within their targets, and first-response and
resolution times, per team, member, channel and priority, over a range of days.

What counts (docs/sla.md):

* the clocks that started in the range (days in the organization's time zone);
* each clock is credited to the team, member, channel and priority it had when it stopped or
  breached (the snapshot); a conversation whose clocks were held by two teams counts in both;
* a conversation is *breached* in a group when any of its clocks there breached (including
  one overdue right now that the periodic check has not marked yet), *in progress* when none
  breached but one still runs, *within* otherwise; the share is within / (within + breached);
* times are the clocks' measured ``elapsed_seconds``: business seconds where the policy counts
  business hours, calendar seconds otherwise; cancelled clocks (resolved without a reply) have
  no time and are left out.

The counts are one grouped SQL query per dimension. The medians and 90th percentiles are
computed in Python over the range's measured clocks (one narrow query), since SQLite has no
percentile function; that reads one row per stopped clock of the range, which is fine for
months of a busy desk but is the part to move into SQL (percentile_cont on PostgreSQL) if
ranges grow to millions of clocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Team
from socialdesk.channels.service import CHANNEL_NAMES
from socialdesk.commitments.calendar import local_datetime
from socialdesk.common import clock, spreadsheet
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations.models import Priority
from socialdesk.sla.alerts import org_zone
from socialdesk.sla.models import SlaClock, Target

DIMENSIONS = ("team", "member", "channel", "priority")
MAX_DAYS = 366
COLUMNS = {
    "team": SlaClock.team_id,
    "member": SlaClock.assignee_id,
    "channel": SlaClock.channel,
    "priority": SlaClock.priority,
}


@dataclass(frozen=True)
class Figures:
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Row:
    value: str  # what people read: a team's name, "Unassigned", "urgent"
    key: str | None  # the id or code; None for "no team" / "unassigned"
    conversations: int
    within: int
    breached: int
    in_progress: int
    first_response: Figures
    resolution: Figures

    @property
    def within_share(self) -> float | None:
        settled = self.within + self.breached
        return self.within / settled if settled else None


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # included
    timezone: str
    total: Row
    by: dict[str, list[Row]]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont, numpy's
    default): the median of 1, 2, 3, 10 is 2.5; its 90th percentile 7.9."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def figures(values: Sequence[float]) -> Figures:
    return Figures(len(values), percentile(values, 0.5), percentile(values, 0.9))


DEFAULT_DAYS = 30


def resolve_range(
    session: Session, *, organization_id: int, start: date | None, end: date | None
) -> tuple[date, date]:
    """The days a report covers: both given as they are; the end alone, the 30 days up to
    it; the start alone, up to today; neither, the last 30 days (today included), in the
    organization's time zone."""
    org = session.get_one(Organization, organization_id)
    today = clock.now().astimezone(org_zone(org.timezone)).date()
    last = end or (today if start is None or start <= today else start)
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    return first, last


def bounds(org: Organization, start: date, end: date) -> tuple[datetime, datetime]:
    """Local midnight on ``start`` and after ``end`` in the organization's time zone (DST
    included); a range that ends before it starts, or spans more than ``MAX_DAYS``, is refused
    naming the field to change."""
    if end < start:
        raise ValidationFailed(f"the range ends ({end}) before it starts ({start})", field="end")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_DAYS} days", field="start")
    zone = org_zone(org.timezone)
    return local_datetime(start, time(0), zone), local_datetime(
        end + timedelta(days=1), time(0), zone
    )


def _counts(
    session: Session,
    *,
    organization_id: int,
    since: datetime,
    until: datetime,
    now: datetime,
    column: Any | None,
) -> dict[Any, tuple[int, int, int]]:
    """(conversations, breached, in progress) per value of ``column`` (None: one total)."""
    breached = case(
        (
            or_(
                SlaClock.breached_at.is_not(None),
                and_(
                    SlaClock.stopped_at.is_(None),
                    SlaClock.paused_at.is_(None),
                    SlaClock.due_at <= now,
                ),
            ),
            1,
        ),
        else_=0,
    )
    running = case((SlaClock.stopped_at.is_(None), 1), else_=0)
    keys: list[Any] = (
        [SlaClock.conversation_id] if column is None else [column, SlaClock.conversation_id]
    )
    per_conversation = (
        select(
            *keys,
            func.max(breached).label("breached"),
            func.max(running).label("running"),
        )
        .where(
            SlaClock.organization_id == organization_id,
            SlaClock.started_at >= since,
            SlaClock.started_at < until,
        )
        .group_by(*keys)
        .subquery()
    )
    sub = per_conversation.c
    figures_ = (
        func.count(),
        func.sum(sub.breached),
        func.sum(case((and_(sub.breached == 0, sub.running == 1), 1), else_=0)),
    )
    if column is None:
        n, b, p = session.execute(select(*figures_).select_from(per_conversation)).one()
        return {None: (int(n), int(b or 0), int(p or 0))}
    group = sub[column.key]
    rows = session.execute(select(group, *figures_).select_from(per_conversation).group_by(group))
    return {g: (int(n), int(b or 0), int(p or 0)) for g, n, b, p in rows}


def _times(
    session: Session, *, organization_id: int, since: datetime, until: datetime
) -> list[tuple[int | None, int | None, str, int, str, int]]:
    """(team, member, channel, priority, target, elapsed) of every measured clock."""
    rows = session.execute(
        select(
            SlaClock.team_id,
            SlaClock.assignee_id,
            SlaClock.channel,
            SlaClock.priority,
            SlaClock.target,
            SlaClock.elapsed_seconds,
        ).where(
            SlaClock.organization_id == organization_id,
            SlaClock.started_at >= since,
            SlaClock.started_at < until,
            SlaClock.elapsed_seconds.is_not(None),
            SlaClock.target.in_([Target.FIRST_RESPONSE.value, Target.RESOLUTION.value]),
        )
    )
    return [(t, m, c, p, target, int(e or 0)) for t, m, c, p, target, e in rows]


def _labels(session: Session, organization_id: int) -> dict[str, dict[Any, str]]:
    teams = dict(
        session.execute(
            select(Team.id, Team.name).where(Team.organization_id == organization_id)
        ).all()
    )
    members = dict(
        session.execute(
            select(Member.id, Member.name).where(Member.organization_id == organization_id)
        ).all()
    )
    return {
        "team": {None: "No team", **teams},
        "member": {None: "Unassigned", **members},
        "priority": {p.value: p.name.lower() for p in Priority},
        "channel": dict(CHANNEL_NAMES),
    }


def sla_report(
    session: Session,
    *,
    organization_id: int,
    start: date,
    end: date,
    now: datetime | None = None,
) -> Report:
    now = now or clock.now()
    org = session.get_one(Organization, organization_id)
    since, until = bounds(org, start, end)
    times = _times(session, organization_id=organization_id, since=since, until=until)
    labels = _labels(session, organization_id)
    index = {"team": 0, "member": 1, "channel": 2, "priority": 3}

    def build(dimension: str | None, key: Any, counts: tuple[int, int, int]) -> Row:
        mine = [r for r in times if dimension is None or r[index[dimension]] == key]
        first = [float(r[5]) for r in mine if r[4] == Target.FIRST_RESPONSE.value]
        resolution = [float(r[5]) for r in mine if r[4] == Target.RESOLUTION.value]
        conversations, breached, in_progress = counts
        label = "All conversations" if dimension is None else labels[dimension].get(key, str(key))
        return Row(
            value=label,
            key=None if key is None else str(key),
            conversations=conversations,
            within=conversations - breached - in_progress,
            breached=breached,
            in_progress=in_progress,
            first_response=figures(first),
            resolution=figures(resolution),
        )

    totals = _counts(
        session, organization_id=organization_id, since=since, until=until, now=now, column=None
    )
    total = build(None, None, totals[None])
    by: dict[str, list[Row]] = {}
    for dimension in DIMENSIONS:
        counts = _counts(
            session,
            organization_id=organization_id,
            since=since,
            until=until,
            now=now,
            column=COLUMNS[dimension],
        )
        rows = [build(dimension, key, value) for key, value in counts.items()]
        by[dimension] = sorted(rows, key=_order(dimension))
    return Report(start=start, end=end, timezone=org.timezone or "UTC", total=total, by=by)


def _order(dimension: str) -> Any:
    if dimension == "priority":
        return lambda row: -int(row.key or 0)
    return lambda row: (row.key is None, row.value.lower())


# -- CSV ------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "dimension",
    "value",
    "key",
    "conversations",
    "within",
    "breached",
    "in_progress",
    "within_share",
    "first_response_count",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_count",
    "resolution_median_seconds",
    "resolution_p90_seconds",
)


def rows_of(report: Report) -> Iterable[tuple[str, Row]]:
    yield "total", report.total
    for dimension in DIMENSIONS:
        for row in report.by[dimension]:
            yield dimension, row


def to_csv(report: Report) -> str:
    return spreadsheet.table(
        CSV_COLUMNS,
        (
            (
                dimension,
                row.value,
                row.key,
                row.conversations,
                row.within,
                row.breached,
                row.in_progress,
                row.within_share,
                row.first_response.count,
                row.first_response.median,
                row.first_response.p90,
                row.resolution.count,
                row.resolution.median,
                row.resolution.p90,
            )
            for dimension, row in rows_of(report)
        ),
    )
