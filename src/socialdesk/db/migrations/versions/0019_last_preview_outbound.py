"""conversations: whether the preview is the brand's own reply, so the inbox can say so and
filter on it

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "last_preview_outbound", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    # The preview is the latest message that is neither an internal note nor a reply held for
    # an approver or refused by one (conversations.service.refresh_aggregates).
    op.execute(
        "UPDATE conversations SET last_preview_outbound = COALESCE(("
        "SELECT m.direction = 'outbound' FROM messages m "
        "WHERE m.conversation_id = conversations.id AND m.visibility <> 'note' "
        "AND (m.delivery_state IS NULL OR m.delivery_state NOT IN ('held', 'rejected')) "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT 1), false)"
    )
    # The partial index of the inbox filtered to conversations waiting for the customer.
    op.create_index(
        "ix_conversations_awaiting_customer",
        "conversations",
        ["organization_id", "status", "last_activity_at"],
        sqlite_where=sa.text("last_preview_outbound = 1"),
        postgresql_where=sa.text("last_preview_outbound = true"),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_awaiting_customer", table_name="conversations")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("last_preview_outbound")
