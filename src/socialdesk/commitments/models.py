"""Commitments: promises made to a customer, each with an owner and a due time."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class CommitmentStatus(enum.StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class CommitmentSource(enum.StrEnum):
    DETECTED = "detected"  # found in a reply or note and kept by the agent
    MANUAL = "manual"  # added by hand


class Commitment(IdMixin, Base):
    __tablename__ = "commitments"
    __table_args__ = (
        Index("ix_commitments_conversation", "conversation_id", "id"),
        Index("ix_commitments_owner_status", "organization_id", "owner_id", "status", "due_at"),
        Index("ix_commitments_team_status", "organization_id", "team_id", "status", "due_at"),
        Index("ix_commitments_remind", "status", "remind_at"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    # The reply or note the promise was made in; None when added by hand.
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("messages.id"), default=None)
    escalation_request_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("escalation_requests.id"), default=None
    )
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(12), default=CommitmentSource.MANUAL.value)
    # True when the text named no time and the organization's default applied.
    due_is_default: Mapped[bool] = mapped_column(default=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    status: Mapped[str] = mapped_column(String(12), default=CommitmentStatus.OPEN.value)
    evidence: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
