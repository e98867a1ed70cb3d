"""conversations: a failed reply is no answer, and an approved draft answers from its approval

The first response and the preview are computed again, by the rule the SLA clocks already
used, for the conversations the rule changes: those with a failed reply or an approved draft.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-24 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy of the rule at this revision (conversations.service.said and said_at): a migration
# must not change when the code does.
_SAID = (
    "m.conversation_id = conversations.id AND m.visibility <> 'note' "
    "AND (m.delivery_state IS NULL OR m.delivery_state IN ('queued', 'sending', 'sent'))"
)
_LATEST = f"FROM messages m WHERE {_SAID} ORDER BY m.created_at DESC, m.id DESC LIMIT 1"
_SAID_AT = "COALESCE(a.decided_at, m.created_at)"


def upgrade() -> None:
    # Built from this module's constants only.
    op.execute(
        "UPDATE conversations SET "  # noqa: S608
        f"last_preview = COALESCE((SELECT substr(m.text, 1, 200) {_LATEST}), ''), "
        f"last_preview_outbound = COALESCE((SELECT m.direction = 'outbound' {_LATEST}), false), "
        "first_response_at = CASE WHEN first_inbound_at IS NULL THEN first_response_at ELSE ("
        f"SELECT min({_SAID_AT}) FROM messages m LEFT JOIN approvals a "
        "ON a.message_id = m.id AND a.status = 'approved' "
        f"WHERE {_SAID} AND m.direction = 'outbound' "
        f"AND {_SAID_AT} >= conversations.first_inbound_at) END "
        "WHERE id IN (SELECT conversation_id FROM messages WHERE delivery_state = 'failed' "
        "UNION SELECT conversation_id FROM approvals WHERE status = 'approved')"
    )


def downgrade() -> None:
    # The figures stay as they are: the rule before this revision would compute them again
    # on the next message.
    pass
