"""Withdrawing a sent public reply: taking it back off the network when it was wrong (the wrong
customer, a wrong refund amount).

A person asks (``request``) with a reason: the reply is marked ``pending``, the trail says who
withdrew it and why, and the ``outbound.withdraw`` job asks the brand account's connector
(``connectors.base.Withdrawer``) to delete the post. The job runs through the same
claim-call-record runner as every post (``sending.run``): no database lock is held during the
network call, a temporary failure is retried with backoff and keeps its reason on the message
meanwhile, a final one marks the withdrawal ``failed`` with the network's reason (a person may
ask again), and a refused token also marks the account for attention.

Deleting is idempotent on every network that withdraws (a post already gone counts as
withdrawn), so two runs of the job are harmless; a withdrawal that is pending or done is never
asked of the network again.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import ADMIN_ROLES
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.connectors import registry as connectors
from socialdesk.connectors.base import ChannelKind, Visibility, Withdrawer
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
    WithdrawalState,
)
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import MessageWithdrawalChanged
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, job
from socialdesk.outbound import sending

WITHDRAW_JOB = "outbound.withdraw"
MAX_REASON = 500
# The trail's entries (web/viewmodels.py says them in words).
WITHDRAWN_ACTIVITY = "reply_withdrawn"
FAILED_ACTIVITY = "reply_withdrawal_failed"

# Why a reply that was sent cannot be taken back, per channel that cannot.
_KEPT_ONCE_SENT = {
    ChannelKind.EMAIL.value: "email cannot be taken back once sent",
    ChannelKind.WEB.value: "a website chat message cannot be taken back once sent",
}


def withdraws(kind: str) -> bool:
    """Whether the channel's connector can take a sent post back (``capabilities.deletes``)."""
    try:
        connector = connectors.get(kind)
    except NotFound:
        return False
    return connector.capabilities.deletes and isinstance(connector, Withdrawer)


# Why a reply that has not (or not certainly) reached its network cannot be withdrawn.
_NOT_SENT = {
    DeliveryState.HELD.value: (
        "not sent yet: it waits for approval, and an approver can reject it instead"
    ),
    DeliveryState.QUEUED.value: "not sent yet: it is on its way; withdraw it once it shows as sent",
    DeliveryState.SENDING.value: (
        "not sent yet: it is on its way; withdraw it once it shows as sent"
    ),
    DeliveryState.REJECTED.value: "it was rejected by an approver and never sent",
    DeliveryState.FAILED.value: "it was never delivered, so there is nothing to take back",
}


def why_not(message: Message, account: BrandAccount) -> str | None:
    """Why ``message`` cannot be withdrawn, or None when it can (whatever its withdrawal's
    state: a pending or finished one is simply not asked again)."""
    if message.direction != Direction.OUTBOUND.value or message.visibility == Visibility.NOTE.value:
        return (
            "an internal note is never sent, so there is nothing to withdraw"
            if message.visibility == Visibility.NOTE.value
            else "only the desk's own replies can be withdrawn; this message is the customer's"
        )
    channel = channels_service.channel_name(account.kind)
    if not withdraws(account.kind):
        return _KEPT_ONCE_SENT.get(
            account.kind, f"{channel} replies cannot be taken back from the desk once sent"
        )
    if message.visibility != Visibility.PUBLIC.value:
        return (
            "only public replies can be withdrawn; a direct message stays with the customer "
            f"on {channel}"
        )
    if message.delivery_state in _NOT_SENT:
        return _NOT_SENT[message.delivery_state]
    if message.delivery_state != DeliveryState.SENT.value or not message.native_id:
        return f"{channel} never gave the desk this reply's id, so it cannot be found to withdraw"
    return None


def may_withdraw(member: Member, message: Message) -> bool:
    """The reply's author, or an owner or admin, may withdraw it."""
    return member.id == message.author_member_id or member.role in ADMIN_ROLES


def offered(member: Member, message: Message, account: BrandAccount) -> bool:
    """Whether the thread offers ``member`` to withdraw ``message`` (or to try again)."""
    return (
        message.withdrawal_state in (None, WithdrawalState.FAILED.value)
        and may_withdraw(member, message)
        and why_not(message, account) is None
    )


def clean_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationFailed(
            "say why the reply is withdrawn (the trail keeps it)", field="reason"
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            f"a reason is at most {MAX_REASON} characters; this one has {len(text)}",
            field="reason",
        )
    return text


def request(session: Session, *, message: Message, actor: Member, reason: str) -> Message:
    """Ask for ``message`` to be taken back off its network; the job does it after the commit.
    A withdrawal already pending or done is returned as it is, and the network is not asked
    again; a failed one is asked again (a person's "Try again")."""
    if message.organization_id != actor.organization_id:
        raise NotFound(f"message {message.id} does not exist")
    account = session.get_one(BrandAccount, message.brand_account_id)
    problem = why_not(message, account)
    if problem is not None:
        raise Conflict(problem)
    if not may_withdraw(actor, message):
        raise PermissionDenied(
            "only the reply's author, or an owner or admin, may withdraw it: ask one of them"
        )
    if not channels_service.may_act_for(session, account=account, member_id=actor.id):
        raise PermissionDenied(
            f"you may not act for {account.display_name}, so you may not withdraw its replies: "
            "ask an admin for access to this account"
        )
    if message.withdrawal_state in (WithdrawalState.PENDING.value, WithdrawalState.WITHDRAWN.value):
        return message
    text = clean_reason(reason)
    message.withdrawal_state = WithdrawalState.PENDING.value
    message.withdrawal_reason = text
    message.withdrawal_error = None
    message.withdrawal_requested_by_id = actor.id
    message.withdrawal_requested_at = clock.now()
    message.withdrawn_at = None
    conversations_service.record(
        session,
        conversation=_conversation(session, message),
        kind=WITHDRAWN_ACTIVITY,
        actor=actor,
        data={"message_id": message.id, "reason": text},
    )
    _emit(session, message)
    jobs.enqueue(session, WITHDRAW_JOB, {"message_id": message.id})
    return message


def _conversation(session: Session, message: Message) -> Conversation:
    return session.get_one(Conversation, message.conversation_id)


def _emit(session: Session, message: Message) -> None:
    bus.emit(
        session,
        MessageWithdrawalChanged(
            organization_id=message.organization_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            state=message.withdrawal_state or "",
            error=message.withdrawal_error,
        ),
    )


def _pending(session: Session, message_id: int) -> Message | None:
    message = session.get(Message, message_id)
    if message is None or message.withdrawal_state != WithdrawalState.PENDING.value:
        return None  # done, failed, or the message was erased since
    return message


def _fail(session: Session, message: Message, reason: str) -> None:
    message.withdrawal_state = WithdrawalState.FAILED.value
    message.withdrawal_error = reason[:1000]
    conversations_service.record(
        session,
        conversation=_conversation(session, message),
        kind=FAILED_ACTIVITY,
        actor=None,
        data={"message_id": message.id, "reason": message.withdrawal_error},
    )
    _emit(session, message)


class _Withdrawals:
    """Withdrawals as the runner (``sending.run``) claims and records them."""

    def claim(self, session: Session, item_id: int) -> sending.Claim[None] | None:
        message = _pending(session, item_id)
        if message is None:
            return None
        account = session.get_one(BrandAccount, message.brand_account_id)
        try:
            connector = connectors.get(account.kind)
        except NotFound as exc:
            _fail(session, message, exc.message)
            return None
        native_id = message.native_id
        if not isinstance(connector, Withdrawer) or native_id is None:
            _fail(session, message, why_not(message, account) or "it cannot be withdrawn")
            return None
        context = channels_service.context_for(account)
        return sending.Claim(
            item_id=message.id,
            context=context,
            connector=connector,
            send=lambda: connector.withdraw(context, native_id),
        )

    def waiting(self, session: Session, item_id: int, reason: str) -> None:
        # A withdrawal keeps no posting rate (the claim never raises Later); kept for the
        # runner's protocol.
        self.queued_again(session, item_id, reason)

    def failed(self, session: Session, item_id: int, reason: str) -> None:
        message = _pending(session, item_id)
        if message is not None:
            _fail(session, message, reason)

    def queued_again(self, session: Session, item_id: int, reason: str) -> None:
        message = _pending(session, item_id)
        if message is not None:
            message.withdrawal_error = reason[:1000]
            _emit(session, message)

    def sent(self, session: Session, claim: sending.Claim[None], result: None) -> None:
        # A session the connector renewed on the way (Bluesky) is stored either way.
        account = session.get_one(BrandAccount, claim.context.brand_account_id)
        channels_service.store_pending_credentials(account, claim.connector)
        message = _pending(session, claim.item_id)
        if message is None:
            return
        message.withdrawal_state = WithdrawalState.WITHDRAWN.value
        message.withdrawal_error = None
        message.withdrawn_at = clock.now()
        _emit(session, message)


def _give_up(payload: Payload, reason: str) -> None:
    with session_scope() as session:
        message = _pending(session, int(payload["message_id"]))
        if message is not None:
            _fail(session, message, f"gave up after repeated failures: {reason}")


@job(
    WITHDRAW_JOB,
    max_attempts=lambda: get_settings().delivery_max_attempts,
    backoff_seconds=15,
    on_give_up=_give_up,
)
def withdraw(payload: Payload) -> None:
    """Ask the network to delete one reply whose withdrawal is pending."""
    sending.run(_Withdrawals(), int(payload["message_id"]))
