"""a batch import can pause the FTS5 insert trigger and index its messages in one statement

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 13:20:00.000000

SQLite only. FTS5 is much faster fed thousands of rows by one ``INSERT ... SELECT`` than row
by row from a trigger, so the batch import (conversations/bulk.py) writes a row into
``messages_fts_paused`` inside its own transaction, inserts its messages, indexes them in one
statement and deletes the row again before it commits. Other connections never see the row, so
for them (and for every live message) the trigger works as before. The delete and update
triggers are untouched: they must always run.

PostgreSQL indexes message text with an expression index (``ix_messages_text_search``, a GIN
index on ``to_tsvector('simple', text)``), which the database keeps in step by itself: nothing
to change there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if not _sqlite():
        return
    op.execute("CREATE TABLE messages_fts_paused (id INTEGER PRIMARY KEY)")
    op.execute("DROP TRIGGER messages_fts_insert")
    op.execute(
        "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages "
        "WHEN NOT EXISTS (SELECT 1 FROM messages_fts_paused) BEGIN "
        "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END"
    )


def downgrade() -> None:
    if not _sqlite():
        return
    op.execute("DROP TRIGGER messages_fts_insert")
    op.execute(
        "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
        "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END"
    )
    op.execute("DROP TABLE messages_fts_paused")
