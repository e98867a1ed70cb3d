"""contacts: the index by organization also orders by when each customer first wrote, for the
Customers page's "newest" order (it replaces the index by organization alone)

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-24 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_contacts_org_created", "contacts", ["organization_id", "created_at"], unique=False
    )
    op.drop_index("ix_contacts_organization_id", table_name="contacts")


def downgrade() -> None:
    op.create_index("ix_contacts_organization_id", "contacts", ["organization_id"], unique=False)
    op.drop_index("ix_contacts_org_created", table_name="contacts")
