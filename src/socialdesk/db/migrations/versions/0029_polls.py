"""polls: public polls posted from brand accounts, and their counts

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-24 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("organization_id", BIG, nullable=False),
        sa.Column("brand_account_id", BIG, nullable=False),
        sa.Column("created_by_id", BIG, nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("state_changed_at", WHEN, nullable=False),
        sa.Column("decided_by_id", BIG, nullable=True),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.Column("post_id", sa.String(length=255), nullable=True),
        sa.Column("native_poll_id", sa.String(length=255), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("posted_at", WHEN, nullable=True),
        sa.Column("closes_at", WHEN, nullable=True),
        sa.Column("votes", sa.JSON(), nullable=True),
        sa.Column("votes_count", sa.Integer(), nullable=True),
        sa.Column("voters_count", sa.Integer(), nullable=True),
        sa.Column("counted_at", WHEN, nullable=True),
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_polls_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_account_id"],
            ["brand_accounts.id"],
            name=op.f("fk_polls_brand_account_id_brand_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["members.id"],
            name=op.f("fk_polls_created_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["members.id"],
            name=op.f("fk_polls_decided_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
    )
    op.create_index("ix_polls_org_created", "polls", ["organization_id", "created_at"])
    op.create_index("ix_polls_state", "polls", ["state"])


def downgrade() -> None:
    op.drop_index("ix_polls_state", table_name="polls")
    op.drop_index("ix_polls_org_created", table_name="polls")
    op.drop_table("polls")
