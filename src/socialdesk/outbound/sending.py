"""Handing one claimed post to its network: the shape every kind of post the desk makes
shares (a reply, a poll), so each kind says only how it is claimed and how its outcome is
kept.

A send runs in three short transactions, and no database lock is held during the network
call:

1. **claim**: move the item from queued to sending (exactly one worker wins), check it one
   last time and prepare the request. ``Later`` (the account used its posting rate) rolls the
   claim back: the item stays queued and says until when.
2. **send**, outside any transaction.
3. **record** the outcome: sent; failed with the network's reason (a refused token also marks
   the account for attention); or queued again for a temporary failure, which the job retries
   with backoff. Credentials the connector renewed during a call that failed afterwards are
   stored either way, since the old refresh token is spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.connectors import registry as connectors
from socialdesk.connectors.base import AccountContext, AuthError, SendError
from socialdesk.db.session import session_scope
from socialdesk.jobs.registry import Later, Retry
from socialdesk.outbound import pacing

R = TypeVar("R")


@dataclass(frozen=True)
class Claim(Generic[R]):
    """What a send needs, read in the claiming transaction."""

    item_id: int
    context: AccountContext
    # The connector that sends: it may hold credentials it renewed during the call.
    connector: object
    send: Callable[[], R]


class Sendable(Protocol[R]):
    """One kind of post: how it is claimed, and how each outcome is kept. Every method runs
    in a transaction of its own, which commits when it returns."""

    def claim(self, session: Session, item_id: int) -> Claim[R] | None:
        """Claim a queued item and prepare its send, or None when there is nothing to send
        (already sent, being sent elsewhere, or refused by the last check). May raise
        ``Later``."""
        ...

    def waiting(self, session: Session, item_id: int, reason: str) -> None:
        """The claim was rolled back by ``Later``: say why the item still waits."""
        ...

    def failed(self, session: Session, item_id: int, reason: str) -> None: ...

    def queued_again(self, session: Session, item_id: int, reason: str) -> None:
        """A temporary failure: the item is queued again, with the reason, for the retry."""
        ...

    def sent(self, session: Session, claim: Claim[R], result: R) -> None: ...


def needs_attention(account: BrandAccount, exc: AuthError) -> str:
    """Mark the account unhealthy for a refused token, and say why its post failed."""
    channels_service.mark_health(account, healthy=False, reason=exc.reason)
    return (
        f"the {channels_service.channel_name(account.kind)} account needs attention: {exc.reason}"
    )


def run(kind: Sendable[R], item_id: int) -> None:
    """Claim, send and record one item. Raises ``Later`` or ``Retry`` for the job queue."""
    try:
        with session_scope() as session:
            claim = kind.claim(session, item_id)
    except Later as later:  # the claim was rolled back: the item is still queued
        with session_scope() as session:
            kind.waiting(session, item_id, later.reason)
        raise
    if claim is None:
        return
    try:
        result = claim.send()
    except AuthError as exc:
        with session_scope() as session:
            account = _account(session, claim)
            # A session renewed before the refusal is still the newest one: keep it.
            channels_service.store_pending_credentials(account, claim.connector)
            kind.failed(session, claim.item_id, needs_attention(account, exc))
        return
    except SendError as exc:
        with session_scope() as session:
            channels_service.store_pending_credentials(_account(session, claim), claim.connector)
            if not exc.retryable:
                kind.failed(session, claim.item_id, exc.reason)
                return
            kind.queued_again(session, claim.item_id, exc.reason)
        raise Retry(exc.reason, after_seconds=exc.retry_after_seconds) from exc
    with session_scope() as session:
        kind.sent(session, claim, result)


def keep_rate(session: Session, account: BrandAccount) -> None:
    """Take one post from the account's posting rate (``pacing``), shared by everything it
    posts, or raise ``Later`` saying until when it must wait."""
    capabilities = connectors.get(account.kind).capabilities
    now = clock.now()
    next_window = pacing.take_send(
        session, brand_account_id=account.id, capabilities=capabilities, now=now
    )
    if next_window is not None:
        raise Later(
            pacing.describe(
                capabilities, channels_service.channel_name(account.kind), until=next_window
            ),
            after_seconds=(next_window - now).total_seconds() + 1,
        )


def _account(session: Session, claim: Claim[R]) -> BrandAccount:
    return session.get_one(BrandAccount, claim.context.brand_account_id)


def resends_safely(account: BrandAccount) -> bool:
    """Whether a send interrupted midway may simply be made again: the network honours the
    idempotency key, so a second call returns the first post instead of posting twice.
    Elsewhere a person must look at the account first."""
    return connectors.get(account.kind).capabilities.idempotent_sends
