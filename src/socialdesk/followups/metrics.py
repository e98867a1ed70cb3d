"""The care report: did we do what we said, and did we check that it worked?

For a date range (whole days in the organization's time zone, end included), per team and per
member, with the organization's total:

* **promise-kept rate**: commitments closed as kept / (kept + broken), by close time in the
  range; per the commitment's owner and team.
* **overdue open commitments**: open commitments past their due time now (a snapshot, not
  bound to the range); per owner and team.
* **follow-up rate**: follow-ups sent / conversations resolved. A conversation resolved several
  times in the range counts once (per member: once for each member who resolved it); a
  follow-up counts as sent when its message was queued (and not failed).
* **follow-up answer rate**: follow-ups sent in the range that were answered / those sent.
* **satisfaction**: the average and the distribution (1-5; a thumbs up is 5, down 1) of the
  answers to follow-ups sent in the range.

Members are the one who resolved (follow-ups, resolutions) or who owns (commitments); teams are
the conversation's (follow-ups, resolutions) or the commitment's own.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Team
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.common import clock, spreadsheet
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations.models import Activity, Conversation, Status
from socialdesk.followups.models import FollowUp, FollowUpStatus

MAX_RANGE_DAYS = 366
SCORES = (1, 2, 3, 4, 5)
NO_TEAM = "No team"
NOBODY = "Nobody (automation)"


@dataclass
class CareFigures:
    conversations_resolved: int = 0
    followups_sent: int = 0
    followups_answered: int = 0
    satisfaction: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SCORES, 0))
    commitments_kept: int = 0
    commitments_broken: int = 0
    commitments_overdue: int = 0

    @staticmethod
    def _rate(numerator: int, denominator: int) -> float | None:
        return round(numerator / denominator, 4) if denominator else None

    @property
    def followup_rate(self) -> float | None:
        return self._rate(self.followups_sent, self.conversations_resolved)

    @property
    def answer_rate(self) -> float | None:
        return self._rate(self.followups_answered, self.followups_sent)

    @property
    def satisfaction_count(self) -> int:
        return sum(self.satisfaction.values())

    @property
    def average_satisfaction(self) -> float | None:
        count = self.satisfaction_count
        if not count:
            return None
        return round(sum(s * n for s, n in self.satisfaction.items()) / count, 2)

    @property
    def promise_kept_rate(self) -> float | None:
        return self._rate(self.commitments_kept, self.commitments_kept + self.commitments_broken)

    def is_empty(self) -> bool:
        return not (
            self.conversations_resolved
            or self.followups_sent
            or self.commitments_kept
            or self.commitments_broken
            or self.commitments_overdue
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "conversations_resolved": self.conversations_resolved,
            "followups_sent": self.followups_sent,
            "followups_answered": self.followups_answered,
            "followup_rate": self.followup_rate,
            "answer_rate": self.answer_rate,
            "satisfaction_count": self.satisfaction_count,
            "average_satisfaction": self.average_satisfaction,
            "satisfaction_distribution": {str(s): n for s, n in self.satisfaction.items()},
            "commitments_kept": self.commitments_kept,
            "commitments_broken": self.commitments_broken,
            "promise_kept_rate": self.promise_kept_rate,
            "commitments_overdue": self.commitments_overdue,
        }


@dataclass(frozen=True)
class CareRow:
    id: int | None
    name: str
    figures: CareFigures


@dataclass(frozen=True)
class CareReport:
    start: date
    end: date  # inclusive
    timezone: str
    total: CareFigures
    teams: list[CareRow]
    members: list[CareRow]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight on ``start`` and after ``end`` (DST-correct)."""
    if end < start:
        raise ValidationFailed("the range ends before it starts", field="end")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_RANGE_DAYS} days", field="end")
    since = datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return since, until


def resolve_range(
    session: Session, *, organization_id: int, start: date | None, end: date | None
) -> tuple[date, date]:
    """The range a report covers: ``end`` defaults to today (in the organization's time
    zone), ``start`` to 29 days before ``end`` (30 days in all)."""
    if end is None:
        org = session.get_one(Organization, organization_id)
        end = clock.now().astimezone(_zone(org.timezone)).date()
    return (start if start is not None else end - timedelta(days=29)), end


class _Tally:
    def __init__(self) -> None:
        self.total = CareFigures()
        self.teams: dict[int | None, CareFigures] = defaultdict(CareFigures)
        self.members: dict[int | None, CareFigures] = defaultdict(CareFigures)

    def each(self, team_id: int | None, member_id: int | None) -> Iterable[CareFigures]:
        return (self.total, self.teams[team_id], self.members[member_id])


def care_report(
    session: Session,
    *,
    organization_id: int,
    start: date,
    end: date,
    now: datetime | None = None,
) -> CareReport:
    org = session.get_one(Organization, organization_id)
    zone = _zone(org.timezone)
    since, until = bounds(start, end, zone)
    now = now or clock.now()
    tally = _Tally()
    _resolutions(session, tally, organization_id=organization_id, since=since, until=until)
    _followups(session, tally, organization_id=organization_id, since=since, until=until)
    _commitments(session, tally, organization_id=organization_id, since=since, until=until, now=now)
    return CareReport(
        start=start,
        end=end,
        timezone=zone.key,
        total=tally.total,
        teams=_rows(tally.teams, _team_names(session, tally.teams), NO_TEAM),
        members=_rows(tally.members, _member_names(session, tally.members), NOBODY),
    )


def _resolutions(
    session: Session, tally: _Tally, *, organization_id: int, since: datetime, until: datetime
) -> None:
    rows = session.execute(
        select(
            Activity.conversation_id, Activity.actor_member_id, Activity.data, Conversation.team_id
        )
        .join(Conversation, Conversation.id == Activity.conversation_id)
        .where(
            Activity.organization_id == organization_id,
            Activity.kind == "status_changed",
            Activity.created_at >= since,
            Activity.created_at < until,
        )
    ).all()
    seen_total: set[int] = set()
    seen_team: set[int] = set()
    seen_member: set[tuple[int, int | None]] = set()
    for conversation_id, member_id, data, team_id in rows:
        if (data or {}).get("to") != Status.RESOLVED.value:
            continue
        if conversation_id not in seen_total:
            seen_total.add(conversation_id)
            tally.total.conversations_resolved += 1
        if conversation_id not in seen_team:
            seen_team.add(conversation_id)
            tally.teams[team_id].conversations_resolved += 1
        if (conversation_id, member_id) not in seen_member:
            seen_member.add((conversation_id, member_id))
            tally.members[member_id].conversations_resolved += 1


def _followups(
    session: Session, tally: _Tally, *, organization_id: int, since: datetime, until: datetime
) -> None:
    rows = session.execute(
        select(FollowUp.member_id, FollowUp.status, FollowUp.satisfaction, Conversation.team_id)
        .join(Conversation, Conversation.id == FollowUp.conversation_id)
        .where(
            FollowUp.organization_id == organization_id,
            FollowUp.sent_at >= since,
            FollowUp.sent_at < until,
        )
    ).all()
    for member_id, status, satisfaction, team_id in rows:
        for figures in tally.each(team_id, member_id):
            figures.followups_sent += 1
            if status == FollowUpStatus.ANSWERED.value:
                figures.followups_answered += 1
                if satisfaction in SCORES:
                    figures.satisfaction[satisfaction] += 1


def _commitments(
    session: Session,
    tally: _Tally,
    *,
    organization_id: int,
    since: datetime,
    until: datetime,
    now: datetime,
) -> None:
    closed = session.execute(
        select(Commitment.owner_id, Commitment.team_id, Commitment.status).where(
            Commitment.organization_id == organization_id,
            Commitment.status.in_([CommitmentStatus.KEPT.value, CommitmentStatus.BROKEN.value]),
            Commitment.closed_at >= since,
            Commitment.closed_at < until,
        )
    ).all()
    for owner_id, team_id, status in closed:
        for figures in tally.each(team_id, owner_id):
            if status == CommitmentStatus.KEPT.value:
                figures.commitments_kept += 1
            else:
                figures.commitments_broken += 1
    overdue = session.execute(
        select(Commitment.owner_id, Commitment.team_id).where(
            Commitment.organization_id == organization_id,
            Commitment.status == CommitmentStatus.OPEN.value,
            Commitment.due_at < now,
        )
    ).all()
    for owner_id, team_id in overdue:
        for figures in tally.each(team_id, owner_id):
            figures.commitments_overdue += 1


def _team_names(session: Session, figures: dict[int | None, CareFigures]) -> dict[int, str]:
    ids = [i for i in figures if i is not None]
    if not ids:
        return {}
    return {t.id: t.name for t in session.scalars(select(Team).where(Team.id.in_(ids)))}


def _member_names(session: Session, figures: dict[int | None, CareFigures]) -> dict[int, str]:
    ids = [i for i in figures if i is not None]
    if not ids:
        return {}
    return {m.id: m.name for m in session.scalars(select(Member).where(Member.id.in_(ids)))}


def _rows(
    figures: dict[int | None, CareFigures], names: dict[int, str], none_label: str
) -> list[CareRow]:
    rows = [
        CareRow(i, names.get(i, f"#{i}"), f)
        for i, f in figures.items()
        if i is not None and not f.is_empty()
    ]
    rows.sort(key=lambda r: (r.name.lower(), r.id or 0))
    if None in figures and not figures[None].is_empty():
        rows.append(CareRow(None, none_label, figures[None]))
    return rows


CSV_COLUMNS = (
    "scope",
    "id",
    "name",
    "conversations_resolved",
    "followups_sent",
    "followup_rate",
    "followups_answered",
    "answer_rate",
    "satisfaction_count",
    "average_satisfaction",
    *(f"satisfaction_{s}" for s in SCORES),
    "commitments_kept",
    "commitments_broken",
    "promise_kept_rate",
    "commitments_overdue",
)


def _csv_row(scope: str, row_id: int | None, name: str, f: CareFigures) -> list[object]:
    def num(value: float | None) -> object:
        return "" if value is None else value

    return [
        scope,
        "" if row_id is None else row_id,
        name,
        f.conversations_resolved,
        f.followups_sent,
        num(f.followup_rate),
        f.followups_answered,
        num(f.answer_rate),
        f.satisfaction_count,
        num(f.average_satisfaction),
        *(f.satisfaction[s] for s in SCORES),
        f.commitments_kept,
        f.commitments_broken,
        num(f.promise_kept_rate),
        f.commitments_overdue,
    ]


def to_csv(report: CareReport) -> str:
    """One row for the organization, one per team, one per member; rates as fractions, empty
    where nothing was there to count."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow(_csv_row("organization", None, "All", report.total))
    for row in report.teams:
        writer.writerow(_csv_row("team", row.id, str(spreadsheet.cell(row.name)), row.figures))
    for row in report.members:
        writer.writerow(_csv_row("member", row.id, str(spreadsheet.cell(row.name)), row.figures))
    return out.getvalue()
