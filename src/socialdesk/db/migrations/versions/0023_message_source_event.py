"""messages.inbound_event_id: the raw event a message was parsed from

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-24 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain nullable column (no foreign key, no index): SQLite adds it without copying the
    # messages table, and the raw event may be erased before or after its message.
    op.add_column(
        "messages",
        sa.Column(
            "inbound_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a plain column in place; a batch copy would lose the FTS triggers.
    op.drop_column("messages", "inbound_event_id")
