"""erased_messages: digests of erased messages' native ids, which ingest does not store again

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-24 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "erased_messages",
        sa.Column("brand_account_id", BIG, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("organization_id", BIG, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_account_id"], ["brand_accounts.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("brand_account_id", "digest"),
    )
    op.create_index(
        "ix_erased_messages_organization_id", "erased_messages", ["organization_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_erased_messages_organization_id", table_name="erased_messages")
    op.drop_table("erased_messages")
