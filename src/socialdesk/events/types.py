"""Typed domain events. A write that others react to emits one; listeners run after commit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    kind: ClassVar[str] = "event"
    organization_id: int

    def payload(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("organization_id")
        return data


@dataclass(frozen=True, kw_only=True)
class ConversationCreated(DomainEvent):
    kind: ClassVar[str] = "conversation.created"
    conversation_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationChanged(DomainEvent):
    """Status, assignee, team, tags, priority or snooze changed."""

    kind: ClassVar[str] = "conversation.changed"
    conversation_id: int
    fields: tuple[str, ...]
    actor_member_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationsMerged(DomainEvent):
    kind: ClassVar[str] = "conversation.merged"
    conversation_id: int
    merged_ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class ContactErased(DomainEvent):
    """A customer and their conversations were erased (contacts/privacy.py): live views drop
    them."""

    kind: ClassVar[str] = "contact.erased"
    contact_id: int
    conversation_ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class MessageCreated(DomainEvent):
    kind: ClassVar[str] = "message.created"
    conversation_id: int
    message_id: int
    direction: str
    visibility: str
    # First inbound message of a new conversation, first reply: what SLA and triage react to.
    first_of_conversation: bool = False
    first_reply: bool = False


@dataclass(frozen=True, kw_only=True)
class MessageDeliveryChanged(DomainEvent):
    kind: ClassVar[str] = "message.delivery_changed"
    conversation_id: int
    message_id: int
    state: str
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageWithdrawalChanged(DomainEvent):
    """A sent reply is being taken back off its network, was, or could not be
    (outbound/withdrawal.py): the open thread shows it."""

    kind: ClassVar[str] = "message.withdrawal_changed"
    conversation_id: int
    message_id: int
    state: str
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class PollChanged(DomainEvent):
    """A poll was asked, decided, posted, counted, closed or failed, or its withdrawal changed
    (``polls/``): an open Polls page shows it."""

    kind: ClassVar[str] = "poll.changed"
    poll_id: int
    state: str
    withdrawal_state: str | None = None
    error: str | None = None
    withdrawal_error: str | None = None


@dataclass(frozen=True, kw_only=True)
class MemberDeactivated(DomainEvent):
    """Listeners holding work for the member (commitments, escalations) hand it over."""

    kind: ClassVar[str] = "member.deactivated"
    member_id: int
    hand_to_member_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(DomainEvent):
    kind: ClassVar[str] = "approval.requested"
    conversation_id: int
    message_id: int
    approval_id: int


@dataclass(frozen=True, kw_only=True)
class ApprovalDecided(DomainEvent):
    kind: ClassVar[str] = "approval.decided"
    conversation_id: int
    message_id: int
    approval_id: int
    status: str


@dataclass(frozen=True, kw_only=True)
class NotificationCreated(DomainEvent):
    """A member has something new in their notifications (the desk's bell)."""

    kind: ClassVar[str] = "notification.created"
    notification_id: int
    member_id: int
    notification_kind: str


ALL_EVENTS: tuple[type[DomainEvent], ...] = (
    ConversationCreated,
    ConversationChanged,
    ConversationsMerged,
    MessageCreated,
    MessageDeliveryChanged,
    MessageWithdrawalChanged,
    PollChanged,
    MemberDeactivated,
    ApprovalRequested,
    ApprovalDecided,
    NotificationCreated,
)
