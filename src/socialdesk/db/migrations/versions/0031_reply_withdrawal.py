"""messages: withdrawing a sent public reply from its network (who asked, when, why, and how
it went)

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
COLUMNS = (
    ("withdrawal_state", sa.String(length=10)),
    ("withdrawal_reason", sa.String(length=500)),
    ("withdrawal_error", sa.String(length=1000)),
    ("withdrawal_requested_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    ("withdrawal_requested_at", WHEN),
    ("withdrawn_at", WHEN),
)


def upgrade() -> None:
    # Plain nullable columns added in place, not a batch rebuild: rebuilding messages on SQLite
    # would drop the full-text triggers that live on it (and copy every message). For the same
    # reason who asked is kept without a foreign key (members are never deleted).
    for name, type_ in COLUMNS:
        op.add_column("messages", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a plain column in place; a batch copy would lose the FTS triggers.
    for name, _type in reversed(COLUMNS):
        op.drop_column("messages", name)
