"""Business hours: a named weekly schedule in one time zone, with holidays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.accounts import audit
from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class BusinessHours(IdMixin, Base):
    """``intervals``: ``{"0": [["09:00", "17:00"]], ...}`` keyed by weekday (Monday is 0), local
    wall-clock times in ``timezone``; ``holidays``: ISO dates on which nothing is open."""

    __tablename__ = "business_hours"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    intervals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


audit.track_settings(BusinessHours, "business_hours")
