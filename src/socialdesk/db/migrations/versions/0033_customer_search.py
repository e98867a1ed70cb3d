"""contacts, contact_identities: indexes of the folded name, handle and display name, so that the
inbox's search finds customers by the start of them (contacts/search.py)

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, folded expression): exactly the expressions contacts/search.py compares, or
# its reads do not use them. Indexes on expressions, so no model declares them (as the
# full-text index of messages); nothing is rebuilt, and every write keeps them in step.
INDEXES = (
    ("ix_contacts_name_folded", "contacts", "lower(name)"),
    ("ix_contact_identities_handle_folded", "contact_identities", "ltrim(lower(handle), '@')"),
    ("ix_contact_identities_display_name_folded", "contact_identities", "lower(display_name)"),
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, folded in INDEXES:
        # On PostgreSQL in byte order, so that the values that start with a key are one range
        # of the index whatever the database's locale.
        expression = f'({folded} COLLATE "C")' if postgresql else folded
        op.execute(f"CREATE INDEX {name} ON {table} (organization_id, {expression})")


def downgrade() -> None:
    for name, _table, _folded in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
