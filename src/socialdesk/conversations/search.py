"""Full-text search over message text with the database's own index: SQLite FTS5 or
PostgreSQL tsvector (both created by the migrations)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, func, literal_column, select, text
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Message

_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts5_query(query: str) -> str | None:
    """Turn what a person typed into a safe FTS5 query: every word must appear, the last one
    as a prefix (search as you type). Operators typed by the user are treated as words."""
    words = _TOKEN.findall(query)
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def matching_conversation_ids(session: Session, *, organization_id: int, query: str) -> Select[Any]:
    """A subquery of conversation ids whose messages match ``query``."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        fts = fts5_query(query)
        if fts is None:
            return select(Message.conversation_id).where(literal_column("0") == 1)
        rowids = text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q").bindparams(
            q=fts
        )
        return select(Message.conversation_id).where(
            Message.organization_id == organization_id,
            Message.id.in_(rowids.columns(literal_column("rowid"))),
        )
    tsquery = func.websearch_to_tsquery("simple", query)
    return select(Message.conversation_id).where(
        Message.organization_id == organization_id,
        func.to_tsvector("simple", Message.text).op("@@")(tsquery),
    )
