"""Policies as stored: every saved version kept, and every decision recorded with the version
that made it; drafts that need approval wait in the approval queue."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime

ORG_SCOPE = "org"


def brand_scope(brand_account_id: int) -> str:
    return f"brand:{brand_account_id}"


class PolicyVersion(IdMixin, Base):
    """One saved version of an organization's policy (scope ``org``) or of a brand account's
    refinement (scope ``brand:<id>``). The newest version of a scope is the active one."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("organization_id", "scope", "version"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    scope: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    yaml: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DecisionStage(enum.StrEnum):
    QUEUE = "queue"  # when the agent sends
    DELIVER = "deliver"  # right before the connector is called
    APPROVAL = "approval"  # an approver's edit


class PolicyDecision(IdMixin, Base):
    """Every decision the checker made about an outgoing message, with the policy versions."""

    __tablename__ = "policy_decisions"
    __table_args__ = (
        Index("ix_policy_decisions_org_time", "organization_id", "created_at"),
        Index("ix_policy_decisions_message", "message_id"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    brand_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("brand_accounts.id"))
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("messages.id"), default=None)
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    stage: Mapped[str] = mapped_column(String(10))
    decision: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    policy_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    org_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("policy_versions.id"), default=None
    )
    brand_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("policy_versions.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Approval(IdMixin, Base):
    """A held draft waiting for an approver, and the decision made on it."""

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_approvals_queue", "organization_id", "status", "created_at"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("messages.id"))
    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversations.id"))
    requested_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    original_text: Mapped[str] = mapped_column(Text)
    approved_text: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(10), default=ApprovalStatus.PENDING.value)
    decided_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    comment: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
