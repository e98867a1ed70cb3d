"""Triage results stored per inbound message, and the corrections agents make to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class MessageTriage(Base):
    """What the models said about one inbound message, and why (kept for the UI to explain)."""

    __tablename__ = "message_triage"
    # Volume alerts count recent customer messages through this (alerts/service.py).
    __table_args__ = (Index("ix_message_triage_org_created", "organization_id", "created_at"),)

    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    sentiment: Mapped[str] = mapped_column(String(10))
    complaint: Mapped[bool] = mapped_column(Boolean)
    intent: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(12))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    tier: Mapped[str] = mapped_column(String(20))
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TriageCorrection(IdMixin, Base):
    """An agent said a label was wrong. `socialdesk triage train --with-corrections` learns
    from these."""

    __tablename__ = "triage_corrections"
    __table_args__ = (Index("ix_triage_corrections_org", "organization_id", "created_at"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("messages.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(20))
    old_value: Mapped[str] = mapped_column(String(20))
    new_value: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
