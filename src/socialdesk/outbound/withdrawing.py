"""Taking a post back off its network: what withdrawing a sent reply (``outbound/withdrawal.py``)
and a posted poll (``polls/withdrawal.py``) share.

A person asks (``request``) with a reason: the post's withdrawal is marked ``pending`` with who
asked, when and why, and a job asks the brand account's connector
(``connectors.base.Withdrawer``) to delete the post. The job runs through the same
claim-call-record runner as every post (``sending.run``): no database lock is held during the
network call, a temporary failure is retried with backoff and keeps its reason on the post
meanwhile, a final one marks the withdrawal ``failed`` with the network's reason (a person may
ask again, and the one who asked is told), and a refused token also marks the account for
attention.

Deleting is idempotent on every network that withdraws (a post already gone counts as
withdrawn), so two runs of the job are harmless; a withdrawal that is pending or done is never
asked of the network again.

Each kind of post (``Kind``) says how it is found, whether it can be withdrawn and why not, and
what else changes with its withdrawal (its trail, its event, who is told); everything else is
here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import ADMIN_ROLES
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.connectors import registry as connectors
from socialdesk.connectors.base import Withdrawer
from socialdesk.conversations.models import WithdrawalState
from socialdesk.db.session import session_scope
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Handler, Payload, job
from socialdesk.outbound import sending

MAX_REASON = 500
MAX_ERROR = 1000
# A withdrawal in either of these states is not asked of the network again.
SETTLED = (WithdrawalState.PENDING.value, WithdrawalState.WITHDRAWN.value)


class Record(Protocol):
    """A post that can be taken back, as it keeps its withdrawal (a message's columns, and a
    poll's of the same names)."""

    id: int
    organization_id: int
    brand_account_id: int
    withdrawal_state: str | None
    withdrawal_reason: str | None
    withdrawal_error: str | None
    withdrawal_requested_by_id: int | None
    withdrawal_requested_at: datetime | None
    withdrawn_at: datetime | None


T = TypeVar("T", bound=Record)


class Kind(Protocol[T]):
    """One kind of post that can be withdrawn. Every method runs inside the caller's
    transaction."""

    # What it is called in the words people read ("reply", "poll").
    what: str
    # The job that withdraws one, and the key of its id in the job's payload.
    job: str
    key: str

    def load(self, session: Session, item_id: int) -> T | None:
        """The post, or None when it is gone (erased since)."""
        ...

    def author_id(self, item: T) -> int | None: ...

    def native_id(self, item: T) -> str | None:
        """The post's id on its network, as the network gave it when it was posted."""
        ...

    def why_not(self, item: T, account: BrandAccount) -> str | None:
        """Why ``item`` cannot be withdrawn, or None when it can (whatever its withdrawal's
        state: a pending or finished one is simply not asked again)."""
        ...

    def asked(self, session: Session, item: T, actor: Member) -> None:
        """What a new request records besides the withdrawal itself (the trail says who
        asked and why)."""
        ...

    def changed(self, session: Session, item: T) -> None:
        """The withdrawal changed (asked, waiting to retry, failed, withdrawn)."""
        ...

    def failed(self, session: Session, item: T) -> None:
        """The withdrawal failed for good, with its reason in ``withdrawal_error``: the trail
        keeps it and whoever asked is told."""
        ...


def withdraws(kind: str) -> bool:
    """Whether the channel's connector can take a sent post back (``capabilities.deletes``)."""
    try:
        connector = connectors.get(kind)
    except NotFound:
        return False
    return connector.capabilities.deletes and isinstance(connector, Withdrawer)


def may_withdraw(member: Member, *, author_id: int | None) -> bool:
    """A post's author, or an owner or admin, may withdraw it."""
    return member.id == author_id or member.role in ADMIN_ROLES


def offered(kind: Kind[T], member: Member, item: T, account: BrandAccount) -> bool:
    """Whether the desk offers ``member`` to withdraw ``item`` (or to try again)."""
    return (
        item.withdrawal_state in (None, WithdrawalState.FAILED.value)
        and may_withdraw(member, author_id=kind.author_id(item))
        and kind.why_not(item, account) is None
    )


def clean_reason(reason: str, *, what: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationFailed(
            f"say why the {what} is withdrawn (the trail keeps it)", field="reason"
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            f"a reason is at most {MAX_REASON} characters; this one has {len(text)}",
            field="reason",
        )
    return text


def request(
    session: Session,
    kind: Kind[T],
    *,
    item: T,
    account: BrandAccount,
    actor: Member,
    reason: str,
) -> T:
    """Ask for ``item`` to be taken back off its network; the job does it after the commit.
    A withdrawal already pending or done is returned as it is, and the network is not asked
    again; a failed one is asked again (a person's "Try again"). The caller has made sure
    ``item`` is of ``actor``'s organization."""
    problem = kind.why_not(item, account)
    if problem is not None:
        raise Conflict(problem)
    if not may_withdraw(actor, author_id=kind.author_id(item)):
        raise PermissionDenied(
            f"only the {kind.what}'s author, or an owner or admin, may withdraw it: ask one of them"
        )
    if not channels_service.may_act_for(session, account=account, member_id=actor.id):
        raise PermissionDenied(
            f"you may not act for {account.display_name}, so you may not withdraw its "
            f"{kind.what}s: ask an admin for access to this account"
        )
    if item.withdrawal_state in SETTLED:
        return item
    text = clean_reason(reason, what=kind.what)
    item.withdrawal_state = WithdrawalState.PENDING.value
    item.withdrawal_reason = text
    item.withdrawal_error = None
    item.withdrawal_requested_by_id = actor.id
    item.withdrawal_requested_at = clock.now()
    item.withdrawn_at = None
    kind.asked(session, item, actor)
    kind.changed(session, item)
    jobs.enqueue(session, kind.job, {kind.key: item.id})
    return item


def _pending(session: Session, kind: Kind[T], item_id: int) -> T | None:
    item = kind.load(session, item_id)
    if item is None or item.withdrawal_state != WithdrawalState.PENDING.value:
        return None  # done, failed, or the post was erased since
    return item


def _fail(session: Session, kind: Kind[T], item: T, reason: str) -> None:
    item.withdrawal_state = WithdrawalState.FAILED.value
    item.withdrawal_error = reason[:MAX_ERROR]
    kind.failed(session, item)
    kind.changed(session, item)


class _Withdrawals(Generic[T]):
    """Withdrawals of one kind of post as the runner (``sending.run``) claims and records
    them."""

    def __init__(self, kind: Kind[T]) -> None:
        self.kind = kind

    def claim(self, session: Session, item_id: int) -> sending.Claim[None] | None:
        item = _pending(session, self.kind, item_id)
        if item is None:
            return None
        account = session.get_one(BrandAccount, item.brand_account_id)
        try:
            connector = connectors.get(account.kind)
        except NotFound as exc:
            _fail(session, self.kind, item, exc.message)
            return None
        native_id = self.kind.native_id(item)
        if not isinstance(connector, Withdrawer) or native_id is None:
            problem = self.kind.why_not(item, account) or "it cannot be withdrawn"
            _fail(session, self.kind, item, problem)
            return None
        context = channels_service.context_for(account)
        return sending.Claim(
            item_id=item.id,
            context=context,
            connector=connector,
            send=lambda: connector.withdraw(context, native_id),
        )

    def waiting(self, session: Session, item_id: int, reason: str) -> None:
        # A withdrawal keeps no posting rate (the claim never raises Later); kept for the
        # runner's protocol.
        self.queued_again(session, item_id, reason)

    def failed(self, session: Session, item_id: int, reason: str) -> None:
        item = _pending(session, self.kind, item_id)
        if item is not None:
            _fail(session, self.kind, item, reason)

    def queued_again(self, session: Session, item_id: int, reason: str) -> None:
        item = _pending(session, self.kind, item_id)
        if item is not None:
            item.withdrawal_error = reason[:MAX_ERROR]
            self.kind.changed(session, item)

    def sent(self, session: Session, claim: sending.Claim[None], result: None) -> None:
        # A session the connector renewed on the way (Bluesky) is stored either way.
        account = session.get_one(BrandAccount, claim.context.brand_account_id)
        channels_service.store_pending_credentials(account, claim.connector)
        item = _pending(session, self.kind, claim.item_id)
        if item is None:
            return
        item.withdrawal_state = WithdrawalState.WITHDRAWN.value
        item.withdrawal_error = None
        item.withdrawn_at = clock.now()
        self.kind.changed(session, item)


def register(kind: Kind[T]) -> Handler:
    """Register the job that withdraws one post of ``kind`` whose withdrawal is pending (with
    retries and backoff, as a send), and return it."""

    def give_up(payload: Payload, reason: str) -> None:
        with session_scope() as session:
            item = _pending(session, kind, int(payload[kind.key]))
            if item is not None:
                _fail(session, kind, item, f"gave up after repeated failures: {reason}")

    @job(
        kind.job,
        max_attempts=lambda: get_settings().delivery_max_attempts,
        backoff_seconds=15,
        on_give_up=give_up,
    )
    def withdraw(payload: Payload) -> None:
        sending.run(_Withdrawals(kind), int(payload[kind.key]))

    withdraw.__doc__ = f"Ask the network to delete one {kind.what} whose withdrawal is pending."
    return withdraw
