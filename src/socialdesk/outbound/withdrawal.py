"""Withdrawing a sent public reply: taking it back off the network when it was wrong (the wrong
customer, a wrong refund amount).

A person asks (``request``) with a reason: the reply is marked ``pending``, the trail says who
withdrew it and why, and the ``outbound.withdraw`` job asks the brand account's connector to
delete the post, as ``outbound/withdrawing.py`` does for every post the desk takes back (a
poll too): retried with backoff, a final failure kept with the network's reason and in the
trail, and whoever asked told of it. Each change emits ``message.withdrawal_changed``, which
the open thread follows. The reply stays in the conversation, shown as withdrawn.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.errors import NotFound
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
)
from socialdesk.events import bus
from socialdesk.events.types import MessageWithdrawalChanged
from socialdesk.outbound import notices, withdrawing

WITHDRAW_JOB = "outbound.withdraw"
# The trail's entries (web/viewmodels.py says them in words).
WITHDRAWN_ACTIVITY = "reply_withdrawn"
FAILED_ACTIVITY = "reply_withdrawal_failed"

# Why a reply that was sent cannot be taken back, per channel that cannot.
_KEPT_ONCE_SENT = {
    ChannelKind.EMAIL.value: "email cannot be taken back once sent",
    ChannelKind.WEB.value: "a website chat message cannot be taken back once sent",
}

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
    if not withdrawing.withdraws(account.kind):
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


class _Replies:
    """Replies as ``withdrawing`` takes them back: the conversation's trail keeps each request
    and each final failure, and every change is an event the open thread follows."""

    what = "reply"
    job = WITHDRAW_JOB
    key = "message_id"

    def load(self, session: Session, item_id: int) -> Message | None:
        return session.get(Message, item_id)

    def author_id(self, item: Message) -> int | None:
        return item.author_member_id

    def native_id(self, item: Message) -> str | None:
        return item.native_id

    def why_not(self, item: Message, account: BrandAccount) -> str | None:
        return why_not(item, account)

    def asked(self, session: Session, item: Message, actor: Member) -> None:
        conversations_service.record(
            session,
            conversation=_conversation(session, item),
            kind=WITHDRAWN_ACTIVITY,
            actor=actor,
            data={"message_id": item.id, "reason": item.withdrawal_reason},
        )

    def changed(self, session: Session, item: Message) -> None:
        bus.emit(
            session,
            MessageWithdrawalChanged(
                organization_id=item.organization_id,
                conversation_id=item.conversation_id,
                message_id=item.id,
                state=item.withdrawal_state or "",
                error=item.withdrawal_error,
            ),
        )

    def failed(self, session: Session, item: Message) -> None:
        conversations_service.record(
            session,
            conversation=_conversation(session, item),
            kind=FAILED_ACTIVITY,
            actor=None,
            data={"message_id": item.id, "reason": item.withdrawal_error},
        )
        notices.withdrawal_failed(session, message=item)


REPLIES = _Replies()


def offered(member: Member, message: Message, account: BrandAccount) -> bool:
    """Whether the thread offers ``member`` to withdraw ``message`` (or to try again)."""
    return withdrawing.offered(REPLIES, member, message, account)


def request(session: Session, *, message: Message, actor: Member, reason: str) -> Message:
    """Ask for ``message`` to be taken back off its network; the job does it after the commit.
    A withdrawal already pending or done is returned as it is, and the network is not asked
    again; a failed one is asked again (a person's "Try again")."""
    if message.organization_id != actor.organization_id:
        raise NotFound(f"message {message.id} does not exist")
    account = session.get_one(BrandAccount, message.brand_account_id)
    return withdrawing.request(
        session, REPLIES, item=message, account=account, actor=actor, reason=reason
    )


def _conversation(session: Session, message: Message) -> Conversation:
    return session.get_one(Conversation, message.conversation_id)


# The job: ask the network to delete one reply whose withdrawal is pending.
withdraw = withdrawing.register(REPLIES)
