"""rate_counters.previous_hits: the last window's count, for a sliding-window estimate

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 02:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rate_counters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("previous_hits", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("rate_counters", schema=None) as batch_op:
        batch_op.drop_column("previous_hits")
