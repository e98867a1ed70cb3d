"""Conversations, their messages and notes, tags and the activity trail."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Status(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer
    SNOOZED = "snoozed"  # hidden until snoozed_until
    RESOLVED = "resolved"


class Priority(enum.IntEnum):
    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryState(enum.StrEnum):
    HELD = "held"  # waiting for an approver (code of conduct)
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    REJECTED = "rejected"  # an approver said no; never sent


class WithdrawalState(enum.StrEnum):
    """A sent public reply being taken back off its network (outbound/withdrawal.py)."""

    PENDING = "pending"  # asked; the job is deleting it
    WITHDRAWN = "withdrawn"  # gone from the network
    FAILED = "failed"  # the network refused; a person may try again


class Conversation(IdMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_inbox", "organization_id", "status", "last_activity_at"),
        Index("ix_conversations_org_activity", "organization_id", "last_activity_at"),
        Index("ix_conversations_assignee", "organization_id", "assignee_id", "last_activity_at"),
        Index("ix_conversations_brand", "organization_id", "brand_account_id", "last_activity_at"),
        Index("ix_conversations_team", "organization_id", "team_id", "last_activity_at"),
        Index("ix_conversations_contact", "contact_id"),
        Index("ix_conversations_thread_key", "brand_account_id", "thread_key"),
        Index("ix_conversations_snoozed", "status", "snoozed_until"),
        # The inbox's counts per status and assignee read only this index.
        Index("ix_conversations_counts", "organization_id", "status", "assignee_id"),
        # The inbox ordered "priority first".
        Index(
            "ix_conversations_priority",
            "organization_id",
            "status",
            "priority",
            "last_activity_at",
        ),
        # The inbox ordered by SLA time left.
        Index("ix_conversations_sla_due", "organization_id", "status", "sla_due_at"),
        # The inbox of conversations waiting for the customer (the brand replied last). Partial:
        # without it that filter walks every conversation of the status when few match.
        Index(
            "ix_conversations_awaiting_customer",
            "organization_id",
            "status",
            "last_activity_at",
            sqlite_where=text("last_preview_outbound = 1"),
            postgresql_where=text("last_preview_outbound = true"),
        ),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    brand_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("brand_accounts.id"))
    # None only while a brand-started thread has no known customer yet.
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id"), default=None)
    status: Mapped[str] = mapped_column(String(20), default=Status.OPEN.value)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NORMAL.value)
    subject: Mapped[str] = mapped_column(String(300), default="")
    thread_key: Mapped[str | None] = mapped_column(String(500), default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # The timestamps later metrics (SLA, reports) are computed from.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_customer_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_preview: Mapped[str] = mapped_column(String(200), default="")
    # The preview is the brand's own reply (the customer has not answered it yet).
    last_preview_outbound: Mapped[bool] = mapped_column(Boolean, default=False)
    # Triage rolled up from the customer's latest message (any complaint marks the thread).
    sentiment: Mapped[str | None] = mapped_column(String(10), default=None)
    intent: Mapped[str | None] = mapped_column(String(20), default=None)
    language: Mapped[str | None] = mapped_column(String(12), default=None)
    is_complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    # SLA: the earliest due time of the running clocks (None: none running), for timers and
    # "time left" ordering; the clocks themselves live in sla_clocks.
    sla_policy_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sla_policies.id"), default=None
    )
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the current assignee got it (timeout reassignment counts from here).
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ConversationTag(Base):
    __tablename__ = "conversation_tags"
    __table_args__ = (Index("ix_conversation_tags_org_name", "organization_id", "name"),)

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))


class Message(IdMixin, Base):
    """One message in a conversation: inbound from a contact, outbound from the brand, or an
    internal note (visibility ``note``) that is never sent anywhere."""

    __tablename__ = "messages"
    __table_args__ = (
        # The idempotency key of ingest: a replayed event never duplicates a message.
        UniqueConstraint("brand_account_id", "native_id"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_reply_to", "brand_account_id", "native_reply_to_id"),
        Index("ix_messages_thread_key", "brand_account_id", "thread_key"),
        Index("ix_messages_delivery", "delivery_state", "next_attempt_at"),
        Index("ix_messages_author_contact", "author_contact_id"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    brand_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("brand_accounts.id"))
    direction: Mapped[str] = mapped_column(String(10))
    visibility: Mapped[str] = mapped_column(String(10))
    author_contact_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contacts.id"), default=None
    )
    author_member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id"), default=None
    )
    text: Mapped[str] = mapped_column(Text)
    native_id: Mapped[str | None] = mapped_column(String(500), default=None)
    native_reply_to_id: Mapped[str | None] = mapped_column(String(500), default=None)
    thread_key: Mapped[str | None] = mapped_column(String(500), default=None)
    raw: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The stored raw event it was parsed from (None: written in the desk, imported, or the
    # event was erased). No foreign key: erasure removes the two in either order.
    inbound_event_id: Mapped[int | None] = mapped_column(BigId, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Outbound delivery; all None for inbound messages and notes.
    delivery_state: Mapped[str | None] = mapped_column(String(10), default=None)
    delivery_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When delivery_state last changed: how long a message has been queued or sending, so
    # recovery can tell a lost job or an interrupted send from one still in progress.
    delivery_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    signature: Mapped[str | None] = mapped_column(String(40), default=None)
    # Withdrawal of a sent public reply (None: never asked). Who asked has no foreign key: adding
    # one on SQLite rebuilds the messages table, which drops its full-text triggers, and members
    # are never deleted.
    withdrawal_state: Mapped[str | None] = mapped_column(String(10), default=None)
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    withdrawal_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    withdrawal_requested_by_id: Mapped[int | None] = mapped_column(BigId, default=None)
    withdrawal_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Activity(IdMixin, Base):
    """Append-only trail of what happened to a conversation and who did it."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_conversation", "conversation_id", "id"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    actor_member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id"), default=None
    )
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ErasedMessage(Base):
    """A message erased with its customer (contacts/privacy.py), kept as a digest of its
    native id so that ingest never stores it again: a network that sends the old post once
    more (a backfill, a replayed webhook, a file imported again) does not undo the erasure.
    Holds no text and not the id itself (``conversations.erased``)."""

    __tablename__ = "erased_messages"

    brand_account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("brand_accounts.id"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"), index=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MessageAttachment(IdMixin, Base):
    """A photo, video or file that came with a message (``conversations.attachments``).

    A network's media is kept as its address (``url``, ``preview_url``); a file the message
    carried itself (an email's attachment) as ``content``, up to the desk's size limit. The
    content is deferred: lists of attachments never load it."""

    __tablename__ = "message_attachments"
    __table_args__ = (Index("ix_message_attachments_message", "message_id", "position"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("messages.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    url: Mapped[str | None] = mapped_column(String(2000), default=None)
    preview_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    mime_type: Mapped[str | None] = mapped_column(String(255), default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
