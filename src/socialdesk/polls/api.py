"""REST API of public polls (mounted under /api).

Any member reads the organization's polls and the polls report; those who may reply ask them,
from an account they may act for; approvers let held ones out or refuse them; a posted one is
withdrawn as a reply is (its author, or an owner or admin). Refusals by the code of conduct
answer as a reply's do: a 422 with the rules, or a 409 with warnings to confirm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import Permission
from socialdesk.common import clock, spreadsheet
from socialdesk.common.deps import DB, Actor, PageCursor, Reader, Replier, require
from socialdesk.common.schemas import (
    CheckReason,
    Limit,
    RowId,
    api_token_scheme,
    error_responses,
)
from socialdesk.conversations.schemas import WithdrawalRead
from socialdesk.polls import replies, report, service, withdrawal
from socialdesk.polls.models import Poll
from socialdesk.polls.results import choices, to_csv
from socialdesk.polls.schemas import (
    ChoiceRead,
    DecisionWrite,
    PollPage,
    PollRead,
    PollRepliesRead,
    PollReplyRead,
    PollsNotPostedRead,
    PollsReportLineRead,
    PollsReportRead,
    PollsReportTotalsRead,
    PollWrite,
    WithdrawWrite,
)

router = APIRouter(
    tags=["polls"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)

Approver = Annotated[Actor, Depends(require(Permission.APPROVE))]


def askers(db: Session, polls: Iterable[Poll]) -> dict[int, Member]:
    """The members who asked to withdraw ``polls``, in one query for a page."""
    wanted = {p.withdrawal_requested_by_id for p in polls} - {None}
    if not wanted:
        return {}
    return {m.id: m for m in db.scalars(select(Member).where(Member.id.in_(wanted)))}


def read(poll: Poll, *, replies_count: int, members: Mapping[int, Member]) -> PollRead:
    return PollRead(
        id=poll.id,
        brand_account_id=poll.brand_account_id,
        question=poll.question,
        choices=[
            ChoiceRead(title=c.title, votes=c.votes, share=c.share, leading=c.leading)
            for c in choices(poll)
        ],
        seconds=poll.seconds,
        multiple=poll.multiple,
        state=poll.state,
        error=poll.error,
        reasons=[CheckReason.model_validate(r) for r in poll.reasons],
        created_by_id=poll.created_by_id,
        created_at=poll.created_at,
        decided_by_id=poll.decided_by_id,
        decided_at=poll.decided_at,
        decision_comment=poll.decision_comment,
        url=poll.url,
        post_id=poll.post_id,
        posted_at=poll.posted_at,
        closes_at=poll.closes_at,
        votes_count=poll.votes_count,
        voters_count=poll.voters_count,
        counted_at=poll.counted_at,
        replies_count=replies_count,
        withdrawal=WithdrawalRead.of(poll, members),
    )


def read_one(db: Session, poll: Poll) -> PollRead:
    """One poll with its number of replies (none is read before it is posted)."""
    return read(
        poll,
        replies_count=replies.counts(db, polls=[poll]).get(poll.id, 0),
        members=askers(db, [poll]),
    )


def _poll(poll_id: RowId, db: DB, actor: Reader) -> Poll:
    return service.get(db, member=actor.member, poll_id=poll_id)


PollDep = Annotated[Poll, Depends(_poll)]


@router.get("/polls", summary="The organization's polls, newest first, with their counts")
def list_polls(db: DB, actor: Reader, cursor: PageCursor, limit: Limit = 50) -> PollPage:
    page = service.page(
        db, organization_id=actor.member.organization_id, cursor=cursor.value, limit=limit
    )
    # One query for the replies of the whole page, not one per poll (and one for who asked
    # to withdraw them).
    replied = replies.counts(db, polls=page.items)
    members = askers(db, page.items)
    return PollPage(
        items=[read(p, replies_count=replied.get(p.id, 0), members=members) for p in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.post(
    "/polls",
    status_code=status.HTTP_201_CREATED,
    summary="Ask a public poll from a brand account: queued for posting, or held for an "
    "approver when a rule says so (422: refused, with the rules; 409: warnings to confirm)",
    responses=error_responses(403, 409),
)
def create_poll(body: PollWrite, db: DB, actor: Replier) -> PollRead:
    poll = service.create(
        db,
        author=actor.member,
        draft=service.Draft(
            brand_account_id=body.brand_account_id,
            question=body.question,
            options=tuple(body.options),
            seconds=body.seconds,
            multiple=body.multiple,
        ),
        confirmed=body.confirm,
    )
    return read_one(db, poll)


@router.get("/polls/{poll_id}", summary="One poll and its counts", responses=error_responses(404))
def get_poll(poll: PollDep, db: DB) -> PollRead:
    return read_one(db, poll)


@router.get(
    "/polls/{poll_id}/replies",
    summary="What people wrote back to the poll's post, newest first, with how the replies "
    "sound and what they are (triage's labels)",
    responses=error_responses(404),
)
def poll_replies(poll: PollDep, db: DB, cursor: PageCursor, limit: Limit = 50) -> PollRepliesRead:
    found = replies.page(db, poll=poll, cursor=cursor.value, limit=limit)
    mood = replies.mood(db, poll=poll)
    return PollRepliesRead(
        items=[
            PollReplyRead(
                message_id=r.message_id,
                conversation_id=r.conversation_id,
                author_name=r.author_name,
                author_handle=r.author_handle,
                text=r.text,
                created_at=r.created_at,
                sentiment=r.sentiment,
                intent=r.intent,
                complaint=r.complaint,
            )
            for r in found.items
        ],
        next_cursor=cursor.next(found.next_cursor),
        count=replies.counts(db, polls=[poll]).get(poll.id, 0),
        triaged=mood.triaged,
        sentiments=mood.sentiments,
        intents=mood.intents,
        complaints=mood.complaints,
    )


@router.get(
    "/polls/{poll_id}/results.csv",
    summary="The poll's results as CSV, one row per choice",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(404)},
)
def poll_results_csv(poll: PollDep) -> Response:
    return results_csv(poll)


def results_csv(poll: Poll) -> Response:
    """The download, named after the poll and the day it was read."""
    stamp = clock.now().strftime("%Y%m%d")
    return spreadsheet.download(to_csv(poll), f"poll-{poll.id}-results-{stamp}.csv")


@router.post(
    "/polls/{poll_id}/approve",
    summary="Let a held poll out (not your own; it is checked again first)",
    responses=error_responses(403, 404, 409),
)
def approve_poll(poll: PollDep, body: DecisionWrite, db: DB, actor: Approver) -> PollRead:
    return read_one(db, service.approve(db, poll=poll, approver=actor.member, comment=body.comment))


@router.post(
    "/polls/{poll_id}/reject",
    summary="Refuse a held poll, saying why: it is never posted",
    responses=error_responses(403, 404, 409),
)
def reject_poll(poll: PollDep, body: DecisionWrite, db: DB, actor: Approver) -> PollRead:
    return read_one(db, service.reject(db, poll=poll, approver=actor.member, comment=body.comment))


@router.post(
    "/polls/{poll_id}/retry",
    summary="Post a failed poll again (checked again first)",
    responses=error_responses(403, 404, 409),
)
def retry_poll(poll: PollDep, db: DB, actor: Replier) -> PollRead:
    return read_one(db, service.retry(db, poll=poll, actor=actor.member))


@router.post(
    "/polls/{poll_id}/withdraw",
    status_code=HTTPStatus.ACCEPTED,
    summary="Take a posted poll back off its network, saying why (its author, or an owner or "
    "admin)",
    responses=error_responses(403, 404, 409),
)
def withdraw_poll(poll: PollDep, body: WithdrawWrite, db: DB, actor: Replier) -> PollRead:
    return read_one(db, withdrawal.request(db, poll=poll, actor=actor.member, reason=body.reason))


# -- the polls report --------------------------------------------------------------------------

StartDay = Annotated[
    date | None, Query(description="First day, in your time zone (default: 29 days before end)")
]
EndDay = Annotated[date | None, Query(description="Last day, included (default: today)")]


def report_out(found: report.Report) -> PollsReportRead:
    totals = found.totals
    return PollsReportRead(
        start=found.start,
        end=found.end,
        timezone=found.timezone,
        since=found.since,
        until=found.until,
        totals=PollsReportTotalsRead(
            posted=totals.posted,
            open=totals.open,
            closed=totals.closed,
            votes=totals.votes,
            replies=totals.replies,
            replies_triaged=totals.triaged,
            replies_negative=totals.negative,
            negative_share=totals.negative_share,
            complaints=totals.complaints,
            withdrawn=totals.withdrawn,
        ),
        polls=[
            PollsReportLineRead(
                poll_id=line.poll_id,
                question=line.question,
                brand_account_id=line.brand_account_id,
                account_handle=line.account_handle,
                channel=line.channel,
                state=line.state,
                posted_at=line.posted_at,
                closes_at=line.closes_at,
                counted_at=line.counted_at,
                votes_count=line.votes_count,
                voters_count=line.voters_count,
                leading=list(line.leading),
                leading_share=line.leading_share,
                tie=line.tie,
                replies=line.replies,
                replies_triaged=line.triaged,
                replies_negative=line.negative,
                negative_share=line.negative_share,
                complaints=line.complaints,
                url=line.url,
            )
            for line in found.polls
        ],
        not_posted=PollsNotPostedRead(
            held=found.not_posted.held,
            queued=found.not_posted.queued,
            failed=found.not_posted.failed,
            rejected=found.not_posted.rejected,
        ),
    )


@router.get(
    "/reports/polls",
    summary="The polls posted in a range of days, newest first: votes, the leading choice, "
    "replies and how they sound, with the range's totals",
)
def polls_report(
    db: DB, actor: Reader, start: StartDay = None, end: EndDay = None
) -> PollsReportRead:
    return report_out(report.build(db, organization_id=actor.organization_id, start=start, end=end))


@router.get(
    "/reports/polls.csv",
    summary="The polls report as CSV, one row per poll",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def polls_report_csv(db: DB, actor: Reader, start: StartDay = None, end: EndDay = None) -> Response:
    return report_csv(report.build(db, organization_id=actor.organization_id, start=start, end=end))


def report_csv(found: report.Report) -> Response:
    """The download, named after the range."""
    name = f"polls-{found.start.isoformat()}-{found.end.isoformat()}.csv"
    return spreadsheet.download(report.to_csv(found), name)
