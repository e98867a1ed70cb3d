"""alert_firings.topics: what the messages of a surge talked about more than usual

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_firings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topics", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("alert_firings", schema=None) as batch_op:
        batch_op.drop_column("topics")
