"""Follow-up policies and the follow-ups they schedule when a conversation is resolved."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Survey(enum.StrEnum):
    NONE = "none"
    SCALE = "scale"  # 1 to 5
    THUMBS = "thumbs"


class FollowUpStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"  # claimed by a worker; the reply is being queued
    SENT = "sent"
    ANSWERED = "answered"
    SKIPPED = "skipped"  # opted out, reopened meanwhile, policy off...
    TASK = "task"  # the channel can no longer reach the customer: a person follows up
    CANCELLED = "cancelled"


class FollowUpPolicy(IdMixin, Base):
    """The most specific policy applies: a brand account's, else its channel's, else the
    organization's (both None)."""

    __tablename__ = "follow_up_policies"
    __table_args__ = (UniqueConstraint("organization_id", "brand_account_id", "channel"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    brand_account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("brand_accounts.id"), default=None
    )
    channel: Mapped[str | None] = mapped_column(String(20), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=24 * 60)
    template: Mapped[str] = mapped_column(Text)
    survey: Mapped[str] = mapped_column(String(10), default=Survey.NONE.value)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FollowUp(IdMixin, Base):
    __tablename__ = "follow_ups"
    __table_args__ = (
        # One follow-up per resolution of a conversation.
        UniqueConstraint("conversation_id", "resolved_at"),
        Index("ix_follow_ups_due", "status", "due_at"),
        Index("ix_follow_ups_org_created", "organization_id", "created_at"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    brand_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("brand_accounts.id"))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id"), default=None)
    # Who resolved it; the follow-up is signed as them and counted for them.
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default=FollowUpStatus.SCHEDULED.value)
    survey: Mapped[str] = mapped_column(String(10), default=Survey.NONE.value)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("messages.id"), default=None)
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # positive / negative / unclear, and the 1-5 (or thumbs 1/5) score when one was given.
    answer: Mapped[str | None] = mapped_column(String(12), default=None)
    satisfaction: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
