"""job_intents: the database's record of jobs owed, so a job the queue loses is queued again

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_intents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recoveries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_intents")),
    )
    op.create_index(op.f("ix_job_intents_due_at"), "job_intents", ["due_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_job_intents_due_at"), table_name="job_intents")
    op.drop_table("job_intents")
