"""brand_accounts.send_window_*: the sends counted against the channel's rate

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-24 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("brand_accounts") as batch:
        batch.add_column(
            sa.Column("send_window_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("send_window_count", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("brand_accounts") as batch:
        batch.drop_column("send_window_count")
        batch.drop_column("send_window_started_at")
