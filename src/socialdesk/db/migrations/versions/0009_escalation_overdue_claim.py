"""escalation requests: when the overdue notice went out; messages: when delivery last changed

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch rebuild: rebuilding messages on SQLite would drop the
    # full-text triggers that live on it (and copy every message).
    op.add_column("messages", sa.Column("delivery_changed_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("escalation_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_escalation_requests_due", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalation_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_escalation_requests_due")
        batch_op.drop_column("overdue_notified_at")
    # ALTER TABLE ... DROP COLUMN needs SQLite 3.35 or later.
    op.drop_column("messages", "delivery_changed_at")
