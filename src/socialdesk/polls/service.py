"""Asking the audience: a public poll from a brand account, checked, approved where a rule
says so, posted by a job, and counted until it closes.

Every word of a poll passes the code of conduct, as every reply does (``outbound.service``):
the question against the channel's length and the rules, and the choices against the rules.
A poll the rules hold waits for an approver who may act for its account. The job that posts
it claims it first (exactly one worker wins), checks it again, keeps the account's posting
rate, and gives the network a key that makes a retried post return the first one, so a
retry never posts twice. Counts are read every few minutes while it is open, and once more
after it closes.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import Permission, require
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.config import get_settings
from socialdesk.connectors import registry as connectors
from socialdesk.connectors.base import (
    AuthError,
    ConnectorError,
    LengthCounting,
    PollLimits,
    PollPublisher,
    PollRequest,
    PollTally,
    Visibility,
    waiting_person,
)
from socialdesk.conversations.models import WithdrawalState
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import PollChanged
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, job, periodic
from socialdesk.outbound import approvals, checks, sending
from socialdesk.outbound import service as outbound
from socialdesk.outbound.checks import Decision, Outcome
from socialdesk.policy import service as policy_service
from socialdesk.policy.length import count as text_length
from socialdesk.policy.models import DecisionStage
from socialdesk.polls import notices
from socialdesk.polls.models import Poll, PollState

log = logging.getLogger(__name__)

PUBLISH_JOB = "polls.publish"
# How often the counts of an open poll are read.
COUNT_EVERY = timedelta(minutes=5)
# A closed poll whose final counts cannot be read is given up on after this long.
GIVE_UP_COUNTING = timedelta(days=1)
# The durations the desk offers; a client of the API may ask for any the network allows.
DURATIONS: tuple[tuple[int, str], ...] = (
    (5 * 60, "5 minutes"),
    (30 * 60, "30 minutes"),
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (86400, "1 day"),
    (3 * 86400, "3 days"),
    (7 * 86400, "7 days"),
)
MAX_QUESTION = 5_000


@dataclass(frozen=True)
class Draft:
    """A poll as its author wrote it."""

    brand_account_id: int
    question: str
    options: tuple[str, ...]
    seconds: int
    multiple: bool = False


def _set_state(poll: Poll, state: PollState, *, error: str | None = None) -> None:
    poll.state = state.value
    poll.error = error[:1000] if error else None
    poll.state_changed_at = clock.now()


def changed(session: Session, poll: Poll) -> None:
    """``poll`` changed as people see it (its state, its counts, its withdrawal): the event
    lets every open Polls page of its organization show it. Called once a write is done, so
    its event says where the poll ended up."""
    bus.emit(
        session,
        PollChanged(
            organization_id=poll.organization_id,
            poll_id=poll.id,
            state=poll.state,
            withdrawal_state=poll.withdrawal_state,
            error=poll.error,
            withdrawal_error=poll.withdrawal_error,
        ),
    )


# -- which accounts can ask -------------------------------------------------------------------


def publisher_of(account: BrandAccount) -> PollPublisher | None:
    connector = connectors.get(account.kind)
    return connector if isinstance(connector, PollPublisher) else None


def accounts_for(session: Session, *, member: Member) -> list[BrandAccount]:
    """The organization's accounts whose network takes polls and that ``member`` may act for."""
    return [
        account
        for account in channels_service.list_for_org(
            session, organization_id=member.organization_id
        )
        if publisher_of(account) is not None
        and channels_service.may_act_for(session, account=account, member_id=member.id)
    ]


def _account(session: Session, *, member: Member, brand_account_id: int) -> BrandAccount:
    account = session.get(BrandAccount, brand_account_id)
    if account is None or account.organization_id != member.organization_id:
        raise ValidationFailed(
            f"brand account {brand_account_id} does not exist", field="brand_account_id"
        )
    if publisher_of(account) is None:
        raise ValidationFailed(
            f"{channels_service.channel_name(account.kind)} accounts cannot post polls from the "
            "desk; choose a Mastodon or X account",
            field="brand_account_id",
        )
    if not channels_service.may_act_for(session, account=account, member_id=member.id):
        raise PermissionDenied(
            f"you may not post as {account.display_name}: ask an admin for access to this account"
        )
    return account


def limits_of(account: BrandAccount) -> PollLimits:
    """The account's poll limits as its network states them. An account that cannot post now
    (no token yet) is refused with the reason, before anyone is asked to approve."""
    publisher = publisher_of(account)
    assert publisher is not None
    problem = channels_service.send_problem(account)
    if problem:
        raise ValidationFailed(
            f"{account.display_name} cannot post now: {problem}", field="brand_account_id"
        )
    try:
        return publisher.poll_limits(channels_service.context_for(account))
    except AuthError as exc:
        raise ValidationFailed(
            f"{account.display_name} cannot post now: {exc.reason}", field="brand_account_id"
        ) from exc


# -- what a poll may say ----------------------------------------------------------------------


def span(seconds: int) -> str:
    for unit, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= unit and seconds % unit == 0:
            count = seconds // unit
            return f"{count} {name}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def cleaned(draft: Draft, limits: PollLimits) -> Draft:
    """The draft with blank choices left out and spaces trimmed, or ValidationFailed naming
    what the network would refuse."""
    question = draft.question.strip()
    if not question:
        raise ValidationFailed("a poll needs a question", field="question")
    if len(question) > MAX_QUESTION:
        raise ValidationFailed(
            f"a question is at most {MAX_QUESTION:,} characters; this one has {len(question):,}",
            field="question",
        )
    options = tuple(o.strip() for o in draft.options if o.strip())
    if len(options) < 2:
        raise ValidationFailed("a poll needs at least two choices", field="options")
    if len(options) > limits.max_options:
        raise ValidationFailed(
            f"this account's network allows at most {limits.max_options} choices; "
            f"this poll has {len(options)}",
            field="options",
        )
    for number, option in enumerate(options, start=1):
        # Counted as the networks count a choice: in characters as people see them (an emoji
        # made of several code points is one).
        length = text_length(option, LengthCounting.GRAPHEMES)
        if length > limits.max_option_length:
            raise ValidationFailed(
                f"choice {number} has {length} characters; this account's network allows "
                f"{limits.max_option_length} per choice",
                field="options",
            )
    folded = [o.casefold() for o in options]
    twice = next((o for i, o in enumerate(options) if folded[i] in folded[:i]), None)
    if twice is not None:
        raise ValidationFailed(f"the choice {twice!r} is there twice", field="options")
    if not limits.min_seconds <= draft.seconds <= limits.max_seconds:
        raise ValidationFailed(
            f"a poll on this account's network stays open from {span(limits.min_seconds)} "
            f"to {span(limits.max_seconds)}; {span(draft.seconds)} is outside that",
            field="seconds",
        )
    if draft.seconds % limits.seconds_step:
        raise ValidationFailed(
            f"a poll on this account's network stays open for whole multiples of "
            f"{span(limits.seconds_step)}; {span(draft.seconds)} is not one",
            field="seconds",
        )
    if draft.multiple and not limits.multiple:
        raise ValidationFailed(
            "polls on this account's network take one answer per voter", field="multiple"
        )
    return dataclasses.replace(draft, question=question, options=options)


def check(
    session: Session, account: BrandAccount, question: str, options: tuple[str, ...]
) -> outbound.Checked:
    """Every check a poll must pass: the question against the channel's length, and every
    word of it, choices included, against the code of conduct and the desk's other checks.
    The choices do not count towards the post's length on the networks that take polls."""
    active = policy_service.active_for(
        session, organization_id=account.organization_id, brand_account_id=account.id
    )
    capabilities = outbound.capabilities_of(account)

    def draft(text: str, *, counted: bool) -> checks.Draft:
        return checks.Draft(
            organization_id=account.organization_id,
            brand_account_id=account.id,
            channel=account.kind,
            capabilities=capabilities
            if counted
            else dataclasses.replace(capabilities, max_length=None),
            text=text,
            visibility=Visibility.PUBLIC,
            policy=active.compiled if active else None,
        )

    length = checks.length_check(draft(question, counted=True))
    words = checks.run_all(draft(text_of(question, options), counted=False))
    outcome = Outcome(
        max(length.decision, words.decision),
        [*length.reasons, *words.reasons],
        length=length.length,
        limit=length.limit,
    )
    return outbound.Checked(outcome, active)


def text_of(question: str, options: tuple[str, ...] | list[str]) -> str:
    """The poll as one text: what the code of conduct reads."""
    return "\n".join([question, *(f"- {option}" for option in options)])


def _refusal(
    outcome: Outcome, exc_type: type[outbound.Blocked | outbound.NeedsConfirmation]
) -> outbound.Blocked | outbound.NeedsConfirmation:
    refused = exc_type(outcome)
    refused.field = "question"
    # The gateway's words are a reply's ("not sent: ..."); a poll is posted.
    refused.message = refused.message.replace("not sent:", "not posted:", 1)
    refused.args = (refused.message,)
    return refused


# -- asking -----------------------------------------------------------------------------------


def create(session: Session, *, author: Member, draft: Draft, confirmed: bool = False) -> Poll:
    """Queue a poll for posting, or hold it for an approver when a rule says so. Raises
    ``outbound.Blocked``, or ``outbound.NeedsConfirmation`` for warnings the author has not
    confirmed yet, as a reply does."""
    require(author, Permission.REPLY)
    account = _account(session, member=author, brand_account_id=draft.brand_account_id)
    # The account's limits may need one look-up on its network (cached for hours): its author
    # waits for the answer, so a network that does not answer is given up on within seconds.
    with waiting_person():
        draft = cleaned(draft, limits_of(account))
        checked = check(session, account, draft.question, draft.options)
    decision = checked.outcome.decision
    if decision is Decision.BLOCK or (decision is Decision.WARN and not confirmed):
        outbound.keep_decision(
            session,
            account=account,
            checked=checked,
            stage=DecisionStage.QUEUE,
            member_id=author.id,
            message_id=None,
        )
        raise _refusal(
            checked.outcome,
            outbound.Blocked if decision is Decision.BLOCK else outbound.NeedsConfirmation,
        )
    now = clock.now()
    held = decision is Decision.APPROVE
    poll = Poll(
        organization_id=author.organization_id,
        brand_account_id=account.id,
        created_by_id=author.id,
        question=draft.question,
        options=list(draft.options),
        seconds=draft.seconds,
        multiple=draft.multiple,
        state=(PollState.HELD if held else PollState.QUEUED).value,
        reasons=outbound.reasons_json(checked.outcome, per_rule=True),
        attempts=0,
        created_at=now,
        state_changed_at=now,
    )
    session.add(poll)
    session.flush()
    outbound.record_decision_of(
        session,
        account=account,
        checked=checked,
        stage=DecisionStage.QUEUE,
        member_id=author.id,
        message_id=None,
    )
    audit.record(
        session,
        organization_id=poll.organization_id,
        action="poll_created",
        actor=author,
        target=("poll", poll.id),
        after={"question": poll.question, "options": poll.options, "state": poll.state},
    )
    if held:
        notices.approval_requested(session, poll=poll, author=author)
    else:
        jobs.enqueue(session, PUBLISH_JOB, {"poll_id": poll.id})
    changed(session, poll)
    return poll


def get(session: Session, *, member: Member, poll_id: int) -> Poll:
    poll = session.get(Poll, poll_id)
    if poll is None or poll.organization_id != member.organization_id:
        raise NotFound(f"poll {poll_id} does not exist")
    return poll


def page(session: Session, *, organization_id: int, cursor: str | None, limit: int) -> Page[Poll]:
    """The organization's polls, newest first."""
    return keyset_page(
        session,
        select(Poll).where(Poll.organization_id == organization_id),
        when=Poll.created_at,
        row_id=Poll.id,
        key=lambda p: (p.created_at, p.id),
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )


def held_count(session: Session, *, approver: Member) -> int:
    """Polls waiting for ``approver``: not their own, on accounts they may act for."""
    return int(
        session.scalar(
            select(func.count()).where(
                Poll.organization_id == approver.organization_id,
                Poll.state == PollState.HELD.value,
                or_(Poll.created_by_id.is_(None), Poll.created_by_id != approver.id),
                channels_service.may_act_clause(Poll.brand_account_id, member_id=approver.id),
            )
        )
        or 0
    )


def _decide(session: Session, *, poll: Poll, approver: Member) -> BrandAccount:
    require(approver, Permission.APPROVE)
    if poll.organization_id != approver.organization_id:
        raise NotFound(f"poll {poll.id} does not exist")
    if poll.state != PollState.HELD.value:
        raise Conflict(f"this poll is not waiting for approval (it is {poll.state})")
    account = session.get_one(BrandAccount, poll.brand_account_id)
    approvals.ensure_may_decide(
        session, approver=approver, author_id=poll.created_by_id, account=account, what="poll"
    )
    return account


def approve(session: Session, *, poll: Poll, approver: Member, comment: str = "") -> Poll:
    """Let a held poll out. It is checked again: an approval covers the rules that asked for
    one, never a block added since."""
    account = _decide(session, poll=poll, approver=approver)
    with waiting_person():
        checked = check(session, account, poll.question, tuple(poll.options))
    if checked.outcome.decision is Decision.BLOCK:
        # Kept past the rollback of the refused request, as every refused decision is.
        outbound.keep_decision(
            session,
            account=account,
            checked=checked,
            stage=DecisionStage.APPROVAL,
            member_id=approver.id,
            message_id=None,
        )
        raise _refusal(checked.outcome, outbound.Blocked)
    outbound.record_decision_of(
        session,
        account=account,
        checked=checked,
        stage=DecisionStage.APPROVAL,
        member_id=approver.id,
        message_id=None,
    )
    _decided(session, poll=poll, approver=approver, comment=comment, state=PollState.QUEUED)
    jobs.enqueue(session, PUBLISH_JOB, {"poll_id": poll.id})
    changed(session, poll)
    return poll


def reject(session: Session, *, poll: Poll, approver: Member, comment: str) -> Poll:
    if not comment.strip():
        raise ValidationFailed("say why, so the author can ask it better", field="comment")
    _decide(session, poll=poll, approver=approver)
    _decided(session, poll=poll, approver=approver, comment=comment, state=PollState.REJECTED)
    poll.error = f"rejected by {approver.name}: {poll.decision_comment}"[:1000]
    changed(session, poll)
    return poll


def _decided(
    session: Session, *, poll: Poll, approver: Member, comment: str, state: PollState
) -> None:
    poll.decided_by_id = approver.id
    poll.decided_at = clock.now()
    poll.decision_comment = comment.strip()[:1000]
    _set_state(poll, state)
    audit.record(
        session,
        organization_id=poll.organization_id,
        action="poll_decided",
        actor=approver,
        target=("poll", poll.id),
        after={"state": poll.state, "comment": poll.decision_comment},
    )
    notices.decided(session, poll=poll, approver=approver)


def retry(session: Session, *, poll: Poll, actor: Member) -> Poll:
    """Post a failed poll again (a person decided to): the job checks it again first."""
    require(actor, Permission.REPLY)
    if poll.organization_id != actor.organization_id:
        raise NotFound(f"poll {poll.id} does not exist")
    if poll.state != PollState.FAILED.value:
        raise Conflict(f"only a poll that failed can be tried again; this one is {poll.state}")
    account = session.get_one(BrandAccount, poll.brand_account_id)
    if not channels_service.may_act_for(session, account=account, member_id=actor.id):
        raise PermissionDenied(
            f"you may not post as {account.display_name}: ask an admin for access to this account"
        )
    _set_state(poll, PollState.QUEUED)
    jobs.enqueue(session, PUBLISH_JOB, {"poll_id": poll.id})
    changed(session, poll)
    return poll


# -- posting ----------------------------------------------------------------------------------


def _poll(session: Session, poll_id: int, *, locked: bool = False) -> Poll:
    """The poll; ``locked``: its row held until the commit, so two workers that read the same
    counts record them (and tell its author it closed) one after the other."""
    return session.get_one(Poll, poll_id, with_for_update=locked, populate_existing=locked)


def _fail(session: Session, poll: Poll, reason: str) -> None:
    _set_state(poll, PollState.FAILED, error=reason)
    notices.failed(session, poll=poll)
    changed(session, poll)


def _claim(session: Session, poll_id: int) -> sending.Claim[PollTally] | None:
    """Move a queued poll to "sending" and prepare its request, or None when there is
    nothing to post or the last check refused it. Raises ``Later`` when the account has used
    its channel's posting rate: the claim is rolled back and the poll waits, queued."""
    claimed = session.execute(
        update(Poll)
        .where(Poll.id == poll_id, Poll.state == PollState.QUEUED.value)
        .values(state=PollState.SENDING.value, attempts=Poll.attempts + 1)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # UPDATE results carry rowcount
        return None
    poll = _poll(session, poll_id)
    account = session.get_one(BrandAccount, poll.brand_account_id)
    publisher = publisher_of(account)
    if publisher is None:
        _fail(session, poll, f"{account.kind} accounts cannot post polls")
        return None
    checked = check(session, account, poll.question, tuple(poll.options))
    outbound.keep_decision(
        session,
        account=account,
        checked=checked,
        stage=DecisionStage.DELIVER,
        member_id=None,
        message_id=None,
    )
    decision = checked.outcome.decision
    if decision is Decision.BLOCK or (decision is Decision.APPROVE and poll.decided_by_id is None):
        reasons = "; ".join(r.explain for r in checked.outcome.reasons)
        _fail(session, poll, f"refused right before posting: {reasons}")
        return None
    sending.keep_rate(session, account)
    poll.state_changed_at = clock.now()
    request = PollRequest(
        idempotency_key=f"socialdesk-{outbound.install_tag()}-poll-{poll.id}",
        question=poll.question,
        options=tuple(poll.options),
        seconds=poll.seconds,
        multiple=poll.multiple,
    )
    context = channels_service.context_for(account)
    return sending.Claim(
        item_id=poll.id,
        context=context,
        connector=publisher,
        send=lambda: publisher.publish_poll(context, request),
    )


def _give_up(payload: Payload, reason: str) -> None:
    with session_scope() as session:
        poll = session.get(Poll, int(payload["poll_id"]))
        if poll is not None and poll.state in (PollState.QUEUED.value, PollState.SENDING.value):
            _fail(session, poll, f"gave up after repeated failures: {reason}")


@job(
    PUBLISH_JOB,
    max_attempts=lambda: get_settings().delivery_max_attempts,
    backoff_seconds=15,
    on_give_up=_give_up,
)
def publish(payload: Payload) -> None:
    """Post one queued poll: claim, post, record, as a reply is delivered (``sending.run``)."""
    sending.run(_Polls(), int(payload["poll_id"]))


class _Polls:
    """Polls as the send runner claims and records them."""

    def claim(self, session: Session, item_id: int) -> sending.Claim[PollTally] | None:
        return _claim(session, item_id)

    def waiting(self, session: Session, item_id: int, reason: str) -> None:
        poll = _poll(session, item_id)
        if poll.state == PollState.QUEUED.value:
            poll.error = reason
            changed(session, poll)

    def failed(self, session: Session, item_id: int, reason: str) -> None:
        _fail(session, _poll(session, item_id), reason)

    def queued_again(self, session: Session, item_id: int, reason: str) -> None:
        poll = _poll(session, item_id)
        _set_state(poll, PollState.QUEUED, error=reason)
        changed(session, poll)

    def sent(self, session: Session, claim: sending.Claim[PollTally], result: PollTally) -> None:
        poll = _poll(session, claim.item_id)
        poll.post_id = result.post_id
        poll.url = result.url
        poll.posted_at = clock.now()
        _counted(session, poll, result)
        if poll.state != PollState.CLOSED.value:
            _set_state(poll, PollState.OPEN)
        changed(session, poll)


def _counted(session: Session, poll: Poll, tally: PollTally) -> None:
    """Keep what the network says now; a poll it closed is closed here too."""
    poll.native_poll_id = tally.poll_id or poll.native_poll_id
    poll.closes_at = tally.closes_at or poll.closes_at
    poll.votes = list(tally.votes)
    poll.votes_count = tally.votes_count
    poll.voters_count = tally.voters_count
    poll.counted_at = clock.now()
    poll.error = None
    if tally.closed and poll.state != PollState.CLOSED.value:
        _set_state(poll, PollState.CLOSED)
        notices.closed(session, poll=poll)


# -- counting ---------------------------------------------------------------------------------


def collecting(poll: Poll) -> bool:
    """Whether the counts of an open poll are read: not while it is being taken back off its
    network (``polls/withdrawal.py``), where they would only fail; a failed withdrawal leaves
    it up and counted again. A withdrawn poll is no longer open."""
    return poll.state == PollState.OPEN.value and poll.withdrawal_state in (
        None,
        WithdrawalState.FAILED.value,
    )


def due_for_count(session: Session, *, now: datetime) -> list[int]:
    """Open polls whose counts were last read longer ago than ``COUNT_EVERY``, or whose time
    is up since their last read (for the final counts); none being withdrawn
    (``collecting``)."""
    return list(
        session.scalars(
            select(Poll.id)
            .where(
                Poll.state == PollState.OPEN.value,
                or_(
                    Poll.withdrawal_state.is_(None),
                    Poll.withdrawal_state == WithdrawalState.FAILED.value,
                ),
                Poll.native_poll_id.is_not(None),
                or_(
                    Poll.counted_at.is_(None),
                    Poll.counted_at <= now - COUNT_EVERY,
                    Poll.closes_at <= now,
                ),
            )
            .order_by(Poll.counted_at.asc(), Poll.id.asc())
            .limit(500)
        )
    )


def count(poll_id: int) -> None:
    """Read one open poll's counts (no transaction held during the network call)."""
    with session_scope() as session:
        poll = _poll(session, poll_id)
        if not collecting(poll) or poll.native_poll_id is None:
            return
        account = session.get_one(BrandAccount, poll.brand_account_id)
        publisher = publisher_of(account)
        if publisher is None:
            return
        context = channels_service.context_for(account)
        native_poll_id = poll.native_poll_id
    try:
        tally = publisher.read_poll(context, native_poll_id)
    except ConnectorError as exc:
        with session_scope() as session:
            poll = _poll(session, poll_id, locked=True)
            if not collecting(poll):  # withdrawn (or being withdrawn) during the call
                return
            before = _as_seen(poll)
            now = clock.now()
            # counted_at stays the time of the last counts read: they are the ones shown.
            poll.error = f"the counts could not be read: {exc.reason}"[:1000]
            if poll.closes_at is not None and poll.closes_at + GIVE_UP_COUNTING <= now:
                _set_state(
                    poll,
                    PollState.CLOSED,
                    error=f"closed; the final counts could not be read: {exc.reason}",
                )
                notices.closed(session, poll=poll)
            if _as_seen(poll) != before:
                changed(session, poll)
        log.info("poll %s: counts not read: %s", poll_id, exc.reason)
        return
    with session_scope() as session:
        poll = _poll(session, poll_id, locked=True)
        if not collecting(poll):
            return
        before = _as_seen(poll)
        _counted(session, poll, tally)
        overdue = poll.closes_at is not None and poll.closes_at + GIVE_UP_COUNTING <= clock.now()
        if overdue and poll.state == PollState.OPEN.value:
            # The network still calls it open a day after its end: these counts are final.
            _set_state(
                poll,
                PollState.CLOSED,
                error="closed a day after its end; the network still called it open",
            )
            notices.closed(session, poll=poll)
        if _as_seen(poll) != before:
            changed(session, poll)


def _as_seen(poll: Poll) -> tuple[object, ...]:
    """What a Polls page shows of a poll being counted: a count that changes none of it tells
    no page (every open poll is counted every few minutes)."""
    return (
        poll.state,
        tuple(poll.votes or ()),
        poll.votes_count,
        poll.voters_count,
        poll.error,
        poll.closes_at,
    )


@periodic("polls.count", every_minutes=5)
def count_open() -> None:
    with session_scope() as session:
        recover_stale(session)
        due = due_for_count(session, now=clock.now())
    for poll_id in due:
        count(poll_id)


def recover_stale(session: Session) -> int:
    """Polls stuck in "sending" were interrupted mid-post. Where the network honours the
    idempotency key, posting again returns the first post; elsewhere a person must look
    first. Polls queued for long with no job under way lost their job: it is enqueued again.
    Returns how many were stuck."""
    now = clock.now()
    stuck = session.scalars(
        select(Poll).where(
            Poll.state == PollState.SENDING.value,
            Poll.state_changed_at < now - outbound.STALE_SENDING,
        )
    ).all()
    lost = session.scalars(
        select(Poll).where(
            Poll.state == PollState.QUEUED.value,
            Poll.state_changed_at < now - outbound.STALE_QUEUED,
        )
    ).all()
    for poll in stuck:
        account = session.get_one(BrandAccount, poll.brand_account_id)
        if sending.resends_safely(account):
            _set_state(poll, PollState.QUEUED)
            jobs.enqueue(session, PUBLISH_JOB, {"poll_id": poll.id})
            changed(session, poll)
        else:
            _fail(
                session,
                poll,
                "interrupted while posting: it may or may not be on the network; look at "
                "the account, then try again if it is missing",
            )
    for poll in lost:
        poll.state_changed_at = now  # only the timer restarts: the next sweep waits again
        jobs.enqueue(session, PUBLISH_JOB, {"poll_id": poll.id})
    return len(stuck) + len(lost)
