"""saved_replies: answers the team wrote once, inserted into the reply box

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "saved_replies",
        _id("organization_id"),
        sa.Column("shortcut", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _id("created_by_id", nullable=True),
        _id("updated_by_id", nullable=True),
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
            name=op.f("fk_saved_replies_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["members.id"],
            name=op.f("fk_saved_replies_created_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["members.id"],
            name=op.f("fk_saved_replies_updated_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_replies")),
        sa.UniqueConstraint(
            "organization_id", "shortcut", name=op.f("uq_saved_replies_organization_id_shortcut")
        ),
    )


def downgrade() -> None:
    op.drop_table("saved_replies")
