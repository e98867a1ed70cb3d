"""Notifications shown in the desk (and sent by email or webhook)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Notification(IdMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_member_unread", "member_id", "read_at", "id"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    # sla.warning, sla.breach, escalation.requested, commitment.reminder, account.unhealthy...
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    conversation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("conversations.id"), default=None
    )
    link: Mapped[str | None] = mapped_column(String(500), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Email copy: None when not wanted; set when sent (or the reason it could not be).
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
