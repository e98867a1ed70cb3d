"""The polls report: what the organization asked in a range of days, and what it learned.

For the polls *posted* in the range (days in the organization's time zone, as every report
takes them: ``sla.reports.resolve_range``), newest first: the question, the account that asked,
whether it is still open, the votes and voters as last read, the choice that leads (several
when they tie; none before the first vote, or while the network hides the counts), and what
people wrote back with how it sounds (triage's labels, ``polls.replies``). Above them the
totals of the range, and how many of the polls asked in it were never posted (waiting for an
approver, queued, failed, rejected), since those asked nothing yet. A poll posted in the range
and withdrawn since (``polls/withdrawal.py``) was a mistake: it is not listed, its votes and
replies are in no figure, and the totals only say how many there were.

A fixed number of queries whatever the number of polls: the polls with their accounts, the
replies' counts, their moods, and the polls not posted, each one grouped query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.channels.models import BrandAccount
from socialdesk.common import spreadsheet
from socialdesk.polls import replies
from socialdesk.polls.models import Poll, PollState
from socialdesk.polls.results import choices
from socialdesk.sla import reports as sla_reports
from socialdesk.sla.alerts import org_zone

MAX_DAYS = sla_reports.MAX_DAYS
POSTED = (PollState.OPEN.value, PollState.CLOSED.value)
# Posted, then taken back: read with the posted ones, counted apart.
WITHDRAWN = PollState.WITHDRAWN.value


@dataclass(frozen=True, slots=True)
class PollLine:
    """One posted poll as the report reads it."""

    poll_id: int
    question: str
    brand_account_id: int
    account_handle: str
    account_name: str
    channel: str  # the account's network: "mastodon", "x"
    state: str  # "open" or "closed"
    posted_at: datetime  # UTC
    closes_at: datetime | None  # when it closes, or closed (the network's end)
    counted_at: datetime | None  # when the counts were last read
    votes_count: int | None  # None until counted
    voters_count: int | None  # None where the network does not say
    leading: tuple[str, ...]  # the leading choice, several on a tie; none with no votes
    leading_share: float | None  # each leading choice's share of the votes, 0..1
    replies: int
    triaged: int  # replies with triage's labels
    negative: int  # of the labelled replies
    complaints: int
    url: str | None

    @property
    def tie(self) -> bool:
        return len(self.leading) > 1

    @property
    def negative_share(self) -> float | None:
        """Of the labelled replies, 0..1; None with none labelled."""
        return self.negative / self.triaged if self.triaged else None


@dataclass(frozen=True, slots=True)
class Totals:
    posted: int
    open: int
    closed: int
    votes: int
    replies: int
    triaged: int
    negative: int
    complaints: int
    # Posted in the range and withdrawn since: not listed, and in none of the figures above.
    withdrawn: int = 0

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.triaged if self.triaged else None


@dataclass(frozen=True, slots=True)
class NotPosted:
    """Polls asked in the range that were never posted, by where they stand now."""

    held: int = 0  # waiting for an approver
    queued: int = 0  # queued or being posted now
    failed: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.held + self.queued + self.failed + self.rejected


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # included
    timezone: str
    since: datetime  # UTC: local midnight starting ``start``
    until: datetime  # UTC: local midnight after ``end`` (excluded)
    totals: Totals
    polls: list[PollLine]
    not_posted: NotPosted


def bounds(organization: Organization, start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight on ``start`` and after ``end``, refused as every
    report refuses a range (``sla.reports.bounds``)."""
    since, until = sla_reports.bounds(organization, start, end)
    return since.astimezone(UTC), until.astimezone(UTC)


def build(
    session: Session, *, organization_id: int, start: date | None, end: date | None
) -> Report:
    """The report for the days asked, with the defaults every report has (the 30 days up to
    today when neither is given)."""
    first, last = sla_reports.resolve_range(
        session, organization_id=organization_id, start=start, end=end
    )
    return polls_report(session, organization_id=organization_id, start=first, end=last)


def polls_report(session: Session, *, organization_id: int, start: date, end: date) -> Report:
    organization = session.get_one(Organization, organization_id)
    since, until = bounds(organization, start, end)
    rows = session.execute(
        select(Poll, BrandAccount.handle, BrandAccount.display_name, BrandAccount.kind)
        .join(BrandAccount, BrandAccount.id == Poll.brand_account_id)
        .where(
            Poll.organization_id == organization_id,
            Poll.state.in_((*POSTED, WITHDRAWN)),
            Poll.posted_at >= since,
            Poll.posted_at < until,
        )
        .order_by(Poll.posted_at.desc(), Poll.id.desc())
    ).all()
    withdrawn = sum(1 for row in rows if row[0].state == WITHDRAWN)
    rows = [row for row in rows if row[0].state != WITHDRAWN]
    polls = [row[0] for row in rows]
    replied = replies.counts(session, polls=polls)
    moods = replies.moods(session, polls=polls)
    lines = [
        _line(
            poll,
            handle=handle,
            name=name,
            kind=kind,
            replies_count=replied.get(poll.id, 0),
            mood=moods.get(poll.id),
        )
        for poll, handle, name, kind in rows
    ]
    zone = org_zone(organization.timezone)
    return Report(
        start=start,
        end=end,
        timezone=getattr(zone, "key", "UTC"),
        since=since,
        until=until,
        totals=Totals(
            posted=len(lines),
            open=sum(1 for line in lines if line.state == PollState.OPEN.value),
            closed=sum(1 for line in lines if line.state == PollState.CLOSED.value),
            votes=sum(line.votes_count or 0 for line in lines),
            replies=sum(line.replies for line in lines),
            triaged=sum(line.triaged for line in lines),
            negative=sum(line.negative for line in lines),
            complaints=sum(line.complaints for line in lines),
            withdrawn=withdrawn,
        ),
        polls=lines,
        not_posted=_not_posted(session, organization_id=organization_id, since=since, until=until),
    )


def _line(
    poll: Poll,
    *,
    handle: str,
    name: str,
    kind: str,
    replies_count: int,
    mood: replies.Mood | None,
) -> PollLine:
    assert poll.posted_at is not None  # the query takes posted polls only
    leaders = [c for c in choices(poll) if c.leading]
    return PollLine(
        poll_id=poll.id,
        question=poll.question,
        brand_account_id=poll.brand_account_id,
        account_handle=handle,
        account_name=name or handle,
        channel=kind,
        state=poll.state,
        posted_at=poll.posted_at,
        closes_at=poll.closes_at,
        counted_at=poll.counted_at,
        votes_count=poll.votes_count,
        voters_count=poll.voters_count,
        leading=tuple(c.title for c in leaders),
        leading_share=leaders[0].share if leaders else None,
        replies=replies_count,
        triaged=mood.triaged if mood else 0,
        negative=mood.sentiments.get("negative", 0) if mood else 0,
        complaints=mood.complaints if mood else 0,
        url=poll.url,
    )


def _not_posted(
    session: Session, *, organization_id: int, since: datetime, until: datetime
) -> NotPosted:
    """The polls asked in the range (by when they were asked) that were never posted."""
    rows = session.execute(
        select(Poll.state, func.count())
        .where(
            Poll.organization_id == organization_id,
            Poll.posted_at.is_(None),
            Poll.state.not_in(POSTED),
            Poll.created_at >= since,
            Poll.created_at < until,
        )
        .group_by(Poll.state)
    )
    by_state = {state: int(number) for state, number in rows}
    return NotPosted(
        held=by_state.get(PollState.HELD.value, 0),
        queued=by_state.get(PollState.QUEUED.value, 0) + by_state.get(PollState.SENDING.value, 0),
        failed=by_state.get(PollState.FAILED.value, 0),
        rejected=by_state.get(PollState.REJECTED.value, 0),
    )


# -- CSV -----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "poll_id",
    "question",
    "account",
    "channel",
    "state",
    "posted_at",
    "closes_at",
    "votes_count",
    "voters_count",
    "leading",
    "leading_share",
    "tie",
    "replies",
    "replies_triaged",
    "replies_negative",
    "negative_share",
    "complaints",
    "counted_at",
    "url",
)
# Between the leading choices of a tie, in one cell.
TIE_SEPARATOR = " | "


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def to_csv(report: Report) -> str:
    """One row per poll, newest first, for a spreadsheet: shares from 0 to 1, times in UTC
    (ISO 8601), empty where there is nothing to count yet. Words people wrote that a
    spreadsheet would read as a formula are kept as text."""
    return spreadsheet.table(
        CSV_COLUMNS,
        (
            (
                line.poll_id,
                line.question,
                line.account_handle,
                line.channel,
                line.state,
                _iso(line.posted_at),
                _iso(line.closes_at),
                line.votes_count,
                line.voters_count,
                TIE_SEPARATOR.join(line.leading) or None,
                line.leading_share,
                "yes" if line.tie else "no",
                line.replies,
                line.triaged,
                line.negative,
                line.negative_share,
                line.complaints,
                _iso(line.counted_at),
                line.url,
            )
            for line in report.polls
        ),
    )
