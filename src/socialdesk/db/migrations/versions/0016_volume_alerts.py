"""volume_alerts and alert_firings; message_triage indexed by organization and time

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "volume_alerts",
        _id("organization_id"),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("baseline_factor", sa.Float(), nullable=True),
        sa.Column("notify_to", sa.String(length=20), nullable=False),
        _id("team_id", nullable=True),
        _id("member_id", nullable=True),
        sa.Column("webhook", sa.Boolean(), nullable=False),
        sa.Column("firing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_count", sa.Integer(), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("baseline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_volume_alerts_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_volume_alerts_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_volume_alerts_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_alerts")),
    )
    op.create_index("ix_volume_alerts_org", "volume_alerts", ["organization_id"], unique=False)
    op.create_table(
        "alert_firings",
        _id("organization_id"),
        _id("alert_id"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("conversation_ids", sa.JSON(), nullable=False),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_alert_firings_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["volume_alerts.id"],
            name=op.f("fk_alert_firings_alert_id_volume_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_firings")),
    )
    op.create_index(
        "ix_alert_firings_alert", "alert_firings", ["alert_id", "started_at"], unique=False
    )
    op.create_index(
        "ix_message_triage_org_created",
        "message_triage",
        ["organization_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_message_triage_org_created", table_name="message_triage")
    op.drop_index("ix_alert_firings_alert", table_name="alert_firings")
    op.drop_table("alert_firings")
    op.drop_index("ix_volume_alerts_org", table_name="volume_alerts")
    op.drop_table("volume_alerts")
