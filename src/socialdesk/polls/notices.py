"""Who is told what about a poll: approvers when one waits for them, its author when an
approver decided, when it could not be posted, and when it closed with its result; whoever
asked to withdraw it when that failed."""

from __future__ import annotations

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.notifications import service as notifications_service
from socialdesk.outbound.notices import APPROVER_ROLES, account_named
from socialdesk.polls.models import Poll, PollState
from socialdesk.polls.results import choices

POLL_HELD = "approval.poll"
POLL_DECIDED = "poll.decided"
POLL_FAILED = "poll.failed"
POLL_CLOSED = "poll.closed"
POLL_WITHDRAWAL_FAILED = "poll.withdrawal_failed"


def _link(poll: Poll) -> str:
    return f"/polls/{poll.id}"


def _quote(poll: Poll) -> str:
    return f"“{notifications_service.excerpt(poll.question, 200)}”"


def approval_requested(session: Session, *, poll: Poll, author: Member) -> None:
    """Everyone who may approve it (not its author, and only those who may act for its
    account) is told, with the rules that held it."""
    approvers = session.scalars(
        select(Member.id).where(
            Member.organization_id == poll.organization_id,
            Member.is_active.is_(True),
            Member.role.in_(APPROVER_ROLES),
            Member.id != author.id,
            channels_service.may_act_clause(literal(poll.brand_account_id), member_id=Member.id),
        )
    ).all()
    reasons = "; ".join(str(r.get("explain") or r.get("rule")) for r in poll.reasons)
    notifications_service.notify(
        session,
        organization_id=poll.organization_id,
        member_ids=approvers,
        kind=POLL_HELD,
        title=f"{author.name}'s poll waits for approval",
        body=f"{reasons}\n\n{_quote(poll)}" if reasons else _quote(poll),
        link=_link(poll),
        data={"poll_id": poll.id},
    )


def decided(session: Session, *, poll: Poll, approver: Member) -> None:
    if poll.created_by_id is None:
        return
    what = "approved" if poll.state != PollState.REJECTED.value else "not approved"
    comment = (
        f"{approver.name}: {poll.decision_comment}" if poll.decision_comment else approver.name
    )
    notifications_service.notify(
        session,
        organization_id=poll.organization_id,
        member_ids=[poll.created_by_id],
        kind=POLL_DECIDED,
        title=f"Your poll was {what}",
        body=f"{comment}\n\n{_quote(poll)}",
        link=_link(poll),
        data={"poll_id": poll.id, "state": poll.state},
    )


def failed(session: Session, *, poll: Poll) -> None:
    if poll.created_by_id is None:
        return
    notifications_service.notify(
        session,
        organization_id=poll.organization_id,
        member_ids=[poll.created_by_id],
        kind=POLL_FAILED,
        title="Your poll could not be posted",
        body=f"{poll.error}\n\n{_quote(poll)}",
        link=_link(poll),
        data={"poll_id": poll.id},
    )


def closed(session: Session, *, poll: Poll) -> None:
    """The author learns the result: the leading choice and its share."""
    if poll.created_by_id is None:
        return
    leading = [c for c in choices(poll) if c.leading]
    if not leading:
        result = "no votes were counted"
    elif len(leading) > 1:
        result = "a tie: " + ", ".join(f"“{c.title}”" for c in leading)
    else:
        top = leading[0]
        share = f" ({top.share:.0%})" if top.share is not None else ""
        result = f"“{top.title}” won{share}"
    voters = f"; {poll.voters_count} voted" if poll.voters_count is not None else ""
    notifications_service.notify(
        session,
        organization_id=poll.organization_id,
        member_ids=[poll.created_by_id],
        kind=POLL_CLOSED,
        title=f"Your poll closed: {result}",
        body=f"{_quote(poll)}{voters}",
        link=_link(poll),
        data={"poll_id": poll.id},
    )


def withdrawal_failed(session: Session, *, poll: Poll) -> None:
    """Taking the poll back failed for good: whoever asked is told which poll, on which
    account, and the network's reason, since the post is still up."""
    if poll.withdrawal_requested_by_id is None:
        return
    account = session.get_one(BrandAccount, poll.brand_account_id)
    notifications_service.notify(
        session,
        organization_id=poll.organization_id,
        member_ids=[poll.withdrawal_requested_by_id],
        kind=POLL_WITHDRAWAL_FAILED,
        title=f"A poll could not be withdrawn from {account_named(account)}",
        body=f"{poll.withdrawal_error or 'no reason given'}\n\n{_quote(poll)}\n\n"
        "It is still up: try again from the poll's page, or delete it on the network.",
        link=_link(poll),
        data={"poll_id": poll.id, "brand_account_id": account.id},
    )
