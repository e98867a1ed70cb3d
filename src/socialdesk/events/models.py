"""The event log: every domain event is written in the same transaction as the change it
describes, so live views in any process (or on any machine) can follow it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class EventRecord(IdMixin, Base):
    __tablename__ = "event_records"
    __table_args__ = (Index("ix_event_records_created", "created_at"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
