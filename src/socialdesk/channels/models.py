"""Brand accounts: the organization's own accounts on each channel."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Health(enum.StrEnum):
    UNKNOWN = "unknown"
    OK = "ok"
    UNHEALTHY = "unhealthy"


class BrandAccount(IdMixin, Base):
    """An account the organization owns on one channel. Credentials are encrypted at rest and
    never leave the server; people come and go, the account and its history stay."""

    __tablename__ = "brand_accounts"
    __table_args__ = (
        UniqueConstraint("organization_id", "kind", "handle"),
        UniqueConstraint("public_key"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    handle: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Public, unguessable id for customer-facing pages (the website channel's chat page).
    public_key: Mapped[str] = mapped_column(String(40))
    health: Mapped[str] = mapped_column(String(20), default=Health.UNKNOWN.value)
    health_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    poll_cursor: Mapped[str | None] = mapped_column(String(500), default=None)
    # The window of sends the desk counts against the channel's rate (outbound/pacing.py):
    # when it started and how many sends it holds.
    send_window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    send_window_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BrandAccountAccess(IdMixin, Base):
    """Who may act for a brand account: a member or a whole team. An account with no rows is
    open to every agent of the organization."""

    __tablename__ = "brand_account_access"
    __table_args__ = (
        UniqueConstraint("brand_account_id", "member_id", "team_id"),
        Index("ix_brand_account_access_account", "brand_account_id"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    brand_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("brand_accounts.id"))
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)


class EventStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"  # an event type the connector declared as ignored, or an unknown one
    FAILED = "failed"


class InboundEvent(IdMixin, Base):
    """A raw event exactly as the provider delivered it, stored before anything else happens."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("brand_account_id", "native_id"),
        Index("ix_inbound_events_status", "status", "id"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    brand_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("brand_accounts.id"))
    native_id: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default=EventStatus.PENDING.value)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Processing runs started (conversations/recovery.py): counted before the work, so a worker
    # killed mid-way still counts, and an event that keeps failing is given up on.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
