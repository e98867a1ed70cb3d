"""One counter per key: how many hits since its window started, and in the window before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base
from socialdesk.db.types import UTCDateTime


class RateCounter(Base):
    __tablename__ = "rate_counters"

    # What is counted and for whom, e.g. "chat.ip:<account>:<keyed hash of the address>".
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    hits: Mapped[int] = mapped_column(Integer)
    # Hits in the window just before this one (0 when the key was idle for a whole window).
    previous_hits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
