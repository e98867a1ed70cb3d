"""Routing rules, the organization's routing settings and automation rules."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.accounts import audit
from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Strategy(enum.StrEnum):
    MANUAL = "manual"  # nobody is auto-assigned; people claim
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


class RoutingSettings(Base):
    """One row per organization; absent means the defaults below."""

    __tablename__ = "routing_settings"

    organization_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organizations.id"), primary_key=True
    )
    strategy: Mapped[str] = mapped_column(String(20), default=Strategy.MANUAL.value)
    # Give the member's open conversations back to routing when they go away / off duty.
    reassign_when_away: Mapped[bool] = mapped_column(Boolean, default=True)
    # Reassign when the assignee has not answered a waiting customer within this many minutes.
    reassign_after_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoutingRule(IdMixin, Base):
    """Ordered: the first matching rules' actions apply to a new conversation (and to a new
    customer message on a reopened one). ``conditions`` and ``actions`` are validated JSON."""

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_org_position", "organization_id", "position"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Later rules are not looked at once this one matched.
    stop: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AutomationRule(IdMixin, Base):
    """When ``trigger`` happens (an event kind, or "no reply within ``delay_minutes``") and the
    conditions hold, run the actions (notify, set priority, tag, assign...)."""

    __tablename__ = "automation_rules"
    __table_args__ = (Index("ix_automation_rules_org_trigger", "organization_id", "trigger"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[str] = mapped_column(String(40))
    delay_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AutomationRun(IdMixin, Base):
    """A rule fired once for one conversation and trigger occurrence: never twice."""

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("rule_id", "conversation_id", "occurrence"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    rule_id: Mapped[int] = mapped_column(BigId, ForeignKey("automation_rules.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    # What made it fire: a message id, an event id, a due time; unique per rule and conversation.
    occurrence: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


audit.track_settings(RoutingSettings, "routing_settings")

audit.track_settings(RoutingRule, "routing_rule")

audit.track_settings(AutomationRule, "automation_rule")
