"""saved_replies.team_id: a saved reply may belong to one team

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-24 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("saved_replies") as batch:
        batch.add_column(
            sa.Column(
                "team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.create_foreign_key(
            op.f("fk_saved_replies_team_id_teams"), "teams", ["team_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("saved_replies") as batch:
        batch.drop_constraint(op.f("fk_saved_replies_team_id_teams"), type_="foreignkey")
        batch.drop_column("team_id")
