"""contact_identities: an index by handle, to find who else gave an address; the addresses
website visitors gave are lower-cased, as email addresses are

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-24 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE contact_identities SET handle = lower(trim(handle)) "
        "WHERE channel = 'web' AND handle LIKE '%@%'"
    )
    op.create_index(
        "ix_contact_identities_handle",
        "contact_identities",
        ["organization_id", "handle"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_contact_identities_handle", table_name="contact_identities")
