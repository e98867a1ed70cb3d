"""polls: found by their post, as every reply that arrives asks whether it answers one

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-24 20:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_polls_post", "polls", ["brand_account_id", "post_id"])


def downgrade() -> None:
    op.drop_index("ix_polls_post", table_name="polls")
