"""SLA policies and the clocks they start on conversations."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.accounts import audit
from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Target(enum.StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class SlaPolicy(IdMixin, Base):
    """Targets for the conversations it matches (all set conditions must hold; the lowest
    ``position`` wins). Minutes count business hours when ``business_hours_id`` is set."""

    __tablename__ = "sla_policies"
    __table_args__ = (Index("ix_sla_policies_org_position", "organization_id", "position"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int | None] = mapped_column(Integer, default=None)
    channel: Mapped[str | None] = mapped_column(String(20), default=None)
    brand_account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("brand_accounts.id"), default=None
    )
    first_response_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    business_hours_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("business_hours.id"), default=None
    )
    warn_before_minutes: Mapped[int] = mapped_column(Integer, default=15)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlaClock(IdMixin, Base):
    """One target running (or run) on one conversation: started, paused while waiting on the
    customer, stopped when met, breached when its due time passed first. Snapshot columns
    (team, assignee, channel, priority) make the reports simple reads."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_conversation", "conversation_id", "target"),
        Index("ix_sla_clocks_running", "stopped_at", "due_at"),
        Index("ix_sla_clocks_org_started", "organization_id", "started_at"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    policy_id: Mapped[int] = mapped_column(BigId, ForeignKey("sla_policies.id"))
    target: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When the warning window of the current due time opens (due_at less the policy's
    # warn_before_minutes; None when the policy never warns). A warning counts for the current
    # due time when it was given inside that window: ``warned_at >= warn_at``. So a due time
    # that moves later is warned about again, and one that moves back is not.
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Elapsed target time when stopped (business seconds where the policy counts them).
    elapsed_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    channel: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer)


audit.track_settings(SlaPolicy, "sla_policy")
