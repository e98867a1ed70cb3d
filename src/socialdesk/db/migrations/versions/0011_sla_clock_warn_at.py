"""sla_clocks.warn_at: when the current due time's warning window opens

A warning counts for the due time whose window it was given in, so a due time that moves later
and back again is not warned about twice. Running clocks get theirs from their policy.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True))
    clocks = sa.table(
        "sla_clocks",
        sa.column("id", sa.BigInteger()),
        sa.column("policy_id", sa.BigInteger()),
        sa.column("due_at", sa.DateTime(timezone=True)),
        sa.column("stopped_at", sa.DateTime(timezone=True)),
        sa.column("warn_at", sa.DateTime(timezone=True)),
    )
    policies = sa.table(
        "sla_policies",
        sa.column("id", sa.BigInteger()),
        sa.column("warn_before_minutes", sa.Integer()),
    )
    bind = op.get_bind()
    running = bind.execute(
        sa.select(clocks.c.id, clocks.c.due_at, policies.c.warn_before_minutes)
        .join(policies, policies.c.id == clocks.c.policy_id)
        .where(clocks.c.stopped_at.is_(None), policies.c.warn_before_minutes > 0)
    ).all()
    for clock_id, due_at, minutes in running:
        bind.execute(
            sa.update(clocks)
            .where(clocks.c.id == clock_id)
            .values(warn_at=due_at - timedelta(minutes=minutes))
        )


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.drop_column("warn_at")
