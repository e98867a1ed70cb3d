"""A volume alert (what to count, over which window, above which level, and who hears of it) and
its firings (each time the count went over, until it came back down)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class NotifyTo(StrEnum):
    TEAM_LEAD = "team_lead"
    TEAM = "team"
    MEMBER = "member"
    ADMINS = "admins"


class VolumeAlert(IdMixin, Base):
    __tablename__ = "volume_alerts"
    __table_args__ = (Index("ix_volume_alerts_org", "organization_id"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Which customer messages count: {"complaint": true, "intent": "question", "sentiment":
    # "negative", "channel": "x", "words": ["fare", "price"]}; every key is optional.
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    window_minutes: Mapped[int] = mapped_column(Integer)
    # Fires when the window holds at least this many, and (when set) at least
    # ``baseline_factor`` times as many as a window of that length usually holds.
    threshold: Mapped[int] = mapped_column(Integer)
    baseline_factor: Mapped[float | None] = mapped_column(Float, default=None)
    notify_to: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    webhook: Mapped[bool] = mapped_column(Boolean, default=False)
    # State kept by the checks: set while the count is over (the open firing's start).
    firing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_count: Mapped[int] = mapped_column(Integer, default=0)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The usual count per window (the last 7 days), worked out at most once an hour.
    baseline: Mapped[float | None] = mapped_column(Float, default=None)
    baseline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertFiring(IdMixin, Base):
    """One time an alert went over: from the check that saw it to the one that saw it come back
    below. People are told once, when it starts."""

    __tablename__ = "alert_firings"
    __table_args__ = (Index("ix_alert_firings_alert", "alert_id", "started_at"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("volume_alerts.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    count: Mapped[int] = mapped_column(Integer)  # when it fired
    peak: Mapped[int] = mapped_column(Integer)  # the highest count while it was over
    baseline: Mapped[float | None] = mapped_column(Float, default=None)
    # A few of the conversations that made the count, newest first.
    conversation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # What stood out in those messages ("tram 4"): see socialdesk.topics.
    topics: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    notified: Mapped[int] = mapped_column(Integer, default=0)
