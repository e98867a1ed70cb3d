"""Organizations, the people on their team, teams, logins and API tokens."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    APPROVER = "approver"
    AGENT = "agent"
    VIEWER = "viewer"


class Organization(IdMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Member(IdMixin, Base):
    """A person on an organization's team. Never deleted: deactivated, so history stays theirs."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("email"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    initials: Mapped[str] = mapped_column(String(8), default="")
    role: Mapped[str] = mapped_column(String(20), default=Role.AGENT.value)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Login protection: consecutive failures lock the account for a while.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Optional TOTP second factor; the secret is encrypted at rest like channel credentials.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The personal profile, separate from every brand account.
    avatar_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # Duty and routing: away members get no new work; capacity caps auto-assigned open work.
    availability: Mapped[str] = mapped_column(String(20), default="available")
    availability_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    capacity: Mapped[int] = mapped_column(Integer, default=10)
    # Round robin gives the next conversation to the on-duty member assigned longest ago.
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Languages the member answers in (ISO 639-1), for routing by the message's language.
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Notification topics the member reads in the desk only, not by email
    # (notifications.preferences.TOPICS).
    email_muted: Mapped[list[str]] = mapped_column(JSON, default=list)


class Team(IdMixin, Base):
    """A department: support, billing, field service, communications..."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Who hears about breaches and escalations first.
    lead_member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id"), default=None
    )
    # When the team works; None: around the clock.
    business_hours_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("business_hours.id"), default=None
    )
    # Where the department hears about escalation requests besides the desk.
    notify_email: Mapped[str | None] = mapped_column(String(320), default=None)
    # A Slack-compatible incoming-webhook URL; it is a secret, so encrypted like credentials.
    webhook_url_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class TeamMembership(Base):
    __tablename__ = "team_memberships"

    team_id: Mapped[int] = mapped_column(BigId, ForeignKey("teams.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("members.id"), primary_key=True, index=True
    )


class AuthSession(Base):
    """A server-side login session. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    source_address: Mapped[str | None] = mapped_column(String(64), default=None)


class ApiToken(IdMixin, Base):
    """A member's API token: shown once, stored hashed, revocable."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_token_hash", "token_hash", unique=True),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    # Scopes narrow what the token may do below the member's role (see permissions.py).
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Invitation(IdMixin, Base):
    """A one-time link that lets a person join the organization with a given role."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_token_hash", "token_hash", unique=True),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    team_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    token_hash: Mapped[str] = mapped_column(String(64))
    invited_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)


class PasswordReset(IdMixin, Base):
    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_token_hash", "token_hash", unique=True),)

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AuditEvent(IdMixin, Base):
    """Append-only record of security and account events. The database refuses updates and
    deletes of these rows (triggers in the migration)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_time", "organization_id", "created_at"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    actor_member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id"), default=None
    )
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str | None] = mapped_column(String(40), default=None)
    target_id: Mapped[str | None] = mapped_column(String(80), default=None)
    source_address: Mapped[str | None] = mapped_column(String(64), default=None)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
