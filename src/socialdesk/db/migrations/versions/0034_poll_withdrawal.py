"""polls: withdrawing a posted poll from its network (who asked, when, why, and how it went)

Revision ID: 0034
Revises: 0032
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
# The same columns as a reply's withdrawal (0031).
COLUMNS = (
    ("withdrawal_state", sa.String(length=10)),
    ("withdrawal_reason", sa.String(length=500)),
    ("withdrawal_error", sa.String(length=1000)),
    ("withdrawal_requested_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    ("withdrawal_requested_at", WHEN),
    ("withdrawn_at", WHEN),
)


def upgrade() -> None:
    # Plain nullable columns added in place (no batch rebuild of the table); who asked is
    # kept without a foreign key, as on messages (members are never deleted).
    for name, type_ in COLUMNS:
        op.add_column("polls", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # Polls withdrawn since have no state of their own before this revision: they read as
    # closed, which they are as far as counting goes.
    op.execute("UPDATE polls SET state = 'closed' WHERE state = 'withdrawn'")
    for name, _type in reversed(COLUMNS):
        op.drop_column("polls", name)
