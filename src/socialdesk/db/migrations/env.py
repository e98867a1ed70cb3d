"""Alembic environment. Batch mode everywhere so that SQLite can alter tables."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from socialdesk.db.models import Base
from socialdesk.db.session import get_engine
from socialdesk.db.types import UTCDateTime

target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations must not import application types: UTCDateTime is DateTime(timezone=True).
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # The full-text index lives outside the models (FTS5 table, expression index), as do the
    # indexes of customers' folded names (expression indexes, migration 0033).
    name = name or ""
    return not (
        name.startswith(("messages_fts", "ix_messages_text_search")) or name.endswith("_folded")
    )


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=_render_item,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with get_engine().connect() as conn:
        run_migrations(conn)
        conn.commit()
