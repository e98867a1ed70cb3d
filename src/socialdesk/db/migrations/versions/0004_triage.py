"""triage results, corrections and roll-up

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 11:01:32.562954
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_triage",
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sentiment", sa.String(length=10), nullable=False),
        sa.Column("complaint", sa.Boolean(), nullable=False),
        sa.Column("intent", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=12), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("corrected", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_triage_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_message_triage_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_triage")),
    )
    op.create_table(
        "triage_corrections",
        sa.Column(
            "organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("old_value", sa.String(length=20), nullable=False),
        sa.Column("new_value", sa.String(length=20), nullable=False),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_triage_corrections_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_triage_corrections_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_triage_corrections_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_corrections")),
    )
    with op.batch_alter_table("triage_corrections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_triage_corrections_org", ["organization_id", "created_at"], unique=False
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sentiment", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("intent", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=12), nullable=True))
        batch_op.add_column(
            sa.Column("is_complaint", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("is_complaint")
        batch_op.drop_column("language")
        batch_op.drop_column("intent")
        batch_op.drop_column("sentiment")

    with op.batch_alter_table("triage_corrections", schema=None) as batch_op:
        batch_op.drop_index("ix_triage_corrections_org")

    op.drop_table("triage_corrections")
    op.drop_table("message_triage")
