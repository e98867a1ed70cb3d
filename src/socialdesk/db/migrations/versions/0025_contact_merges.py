"""contact_merges: what each merge of two contacts moved, so that it can be undone

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contact_merges",
        sa.Column("organization_id", BIG, nullable=False),
        sa.Column("source_id", BIG, nullable=False),
        sa.Column("target_id", BIG, nullable=False),
        sa.Column("identity_ids", sa.JSON(), nullable=False),
        sa.Column("conversation_ids", sa.JSON(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("repointed_ids", sa.JSON(), nullable=False),
        sa.Column("vip_from_source", sa.Boolean(), nullable=False),
        sa.Column("attribute_keys", sa.JSON(), nullable=False),
        sa.Column("actor_member_id", BIG, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by_id", BIG, nullable=True),
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contact_merges_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["contacts.id"], name=op.f("fk_contact_merges_source_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["contacts.id"], name=op.f("fk_contact_merges_target_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["actor_member_id"],
            ["members.id"],
            name=op.f("fk_contact_merges_actor_member_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["undone_by_id"], ["members.id"], name=op.f("fk_contact_merges_undone_by_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_merges")),
    )
    op.create_index("ix_contact_merges_target", "contact_merges", ["target_id", "id"], unique=False)
    op.create_index("ix_contact_merges_source", "contact_merges", ["source_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contact_merges_source", table_name="contact_merges")
    op.drop_index("ix_contact_merges_target", table_name="contact_merges")
    op.drop_table("contact_merges")
