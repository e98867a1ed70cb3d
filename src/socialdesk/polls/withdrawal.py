"""Withdrawing a posted poll: taking it back off the network when it was posted by mistake (the
wrong question, the wrong account).

Who may, and how, is what a reply's withdrawal takes (``outbound/withdrawing.py``): its author,
or an owner or admin, who may act for its account, with a reason; the ``polls.withdraw`` job
asks the account's connector to delete the poll's post, retried with backoff, a final failure
kept with the network's reason (and whoever asked told), a post already gone counting as
withdrawn. While it is being withdrawn its counts are no longer read; once withdrawn, the poll
is ``withdrawn``: no longer open, counted or in the polls report's figures, its last counts
kept. A failed withdrawal leaves it where it was, counted again.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.models import Member
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import NotFound
from socialdesk.conversations.models import WithdrawalState
from socialdesk.outbound import withdrawing
from socialdesk.polls import notices
from socialdesk.polls import service as polls_service
from socialdesk.polls.models import Poll, PollState

WITHDRAW_JOB = "polls.withdraw"

# Why a poll that is not (or not certainly) on its network cannot be withdrawn.
_NOT_POSTED = {
    PollState.HELD.value: (
        "not posted yet: it waits for approval, and an approver can reject it instead"
    ),
    PollState.QUEUED.value: "not posted yet: it is on its way; withdraw it once it shows as open",
    PollState.SENDING.value: "not posted yet: it is on its way; withdraw it once it shows as open",
    PollState.REJECTED.value: "it was rejected by an approver and never posted",
    PollState.FAILED.value: "it was never posted, so there is nothing to take back",
}


def why_not(poll: Poll, account: BrandAccount) -> str | None:
    """Why ``poll`` cannot be withdrawn, or None when it can (whatever its withdrawal's state:
    a pending or finished one is simply not asked again)."""
    channel = channels_service.channel_name(account.kind)
    if not withdrawing.withdraws(account.kind):
        return f"{channel} polls cannot be taken back from the desk once posted"
    if poll.state in _NOT_POSTED:
        return _NOT_POSTED[poll.state]
    if not poll.post_id:
        return (
            f"{channel} never gave the desk this poll's post id, so it cannot be found to withdraw"
        )
    return None


class _Polls:
    """Polls as ``withdrawing`` takes them back: the audit trail keeps each request, its
    author is told of a final failure, a withdrawn poll is no longer open, and every change
    is a ``poll.changed`` event the open Polls pages follow."""

    what = "poll"
    job = WITHDRAW_JOB
    key = "poll_id"

    def load(self, session: Session, item_id: int) -> Poll | None:
        return session.get(Poll, item_id)

    def author_id(self, item: Poll) -> int | None:
        return item.created_by_id

    def native_id(self, item: Poll) -> str | None:
        return item.post_id

    def why_not(self, item: Poll, account: BrandAccount) -> str | None:
        return why_not(item, account)

    def asked(self, session: Session, item: Poll, actor: Member) -> None:
        audit.record(
            session,
            organization_id=item.organization_id,
            action="poll_withdrawn",
            actor=actor,
            target=("poll", item.id),
            after={"state": item.state, "reason": item.withdrawal_reason},
        )

    def changed(self, session: Session, item: Poll) -> None:
        if item.withdrawal_state == WithdrawalState.WITHDRAWN.value:
            item.state = PollState.WITHDRAWN.value
            item.error = None
            item.state_changed_at = clock.now()
        polls_service.changed(session, item)

    def failed(self, session: Session, item: Poll) -> None:
        notices.withdrawal_failed(session, poll=item)


POLLS = _Polls()


def offered(member: Member, poll: Poll, account: BrandAccount) -> bool:
    """Whether the poll's card offers ``member`` to withdraw it (or to try again)."""
    return withdrawing.offered(POLLS, member, poll, account)


def request(session: Session, *, poll: Poll, actor: Member, reason: str) -> Poll:
    """Ask for ``poll`` to be taken back off its network; the job does it after the commit.
    A withdrawal already pending or done is returned as it is, and the network is not asked
    again; a failed one is asked again (a person's "Try again")."""
    if poll.organization_id != actor.organization_id:
        raise NotFound(f"poll {poll.id} does not exist")
    account = session.get_one(BrandAccount, poll.brand_account_id)
    return withdrawing.request(
        session, POLLS, item=poll, account=account, actor=actor, reason=reason
    )


# The job: ask the network to delete one poll's post whose withdrawal is pending.
withdraw = withdrawing.register(POLLS)
