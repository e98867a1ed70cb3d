"""Escalation requests: the owner asks another department or person for something."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class RequestStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class EscalationRequest(IdMixin, Base):
    __tablename__ = "escalation_requests"
    __table_args__ = (
        Index("ix_escalation_requests_conversation", "conversation_id", "id"),
        Index("ix_escalation_requests_team_status", "organization_id", "team_id", "status"),
        Index("ix_escalation_requests_member_status", "organization_id", "member_id", "status"),
        Index("ix_escalation_requests_due", "status", "due_at"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    requested_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    # Asked of a department, a person, or a person in a department.
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=RequestStatus.OPEN.value)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    resolution: Mapped[str | None] = mapped_column(Text, default=None)
    # Set once when the overdue notice went out: the claim that keeps it from going twice.
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
