"""Full-text search over message text with the database's own index: SQLite FTS5 or
PostgreSQL tsvector (both created by the migrations)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal_column, select, text
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, Message

_TOKEN = re.compile(r"\w+", re.UNICODE)


# The last word is searched as a prefix (search as you type) from this many characters on. A
# one- or two-letter prefix expands to a large share of the vocabulary ("i*": every word
# starting with i) and costs FTS5 a merge of all their lists, 60 ms at 200,000 messages for
# "i" against 5 ms for "int"; as whole words they are cheap, and mean what was typed ("tv").
MIN_PREFIX = 3


def fts5_query(query: str) -> str | None:
    """Turn what a person typed into a safe FTS5 query: every word must appear, the last one
    as a prefix (search as you type) once it has MIN_PREFIX characters. Operators typed by
    the user are treated as words."""
    words = _TOKEN.findall(query)
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    last = words[-1]
    # Scripts written without spaces (Chinese, Japanese) make one long token of a phrase, and
    # one character of them is a word: those keep the prefix.
    if len(last) >= MIN_PREFIX or not last.isascii():
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


# At or above this many FTS5 matches (over every organization) a listing walks the inbox in its
# own order and tests each conversation for a match: a common word matches tens of thousands of
# messages, and the first page is then found after a few hundred cheap index probes. Below it,
# the listing starts from the matching messages: their conversations are looked up and sorted,
# which costs a few microseconds a match, whereas a walk could have to pass hundreds of
# thousands of conversations when the matches are few and old (measured at a million messages:
# 12 ms instead of 200-600 ms for "wifi", 4,000 matches). Tests patch it to exercise both plans.
WALK_THRESHOLD = 5_000


def _fts_rowids(fts: str) -> Any:
    return (
        text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q")
        .bindparams(q=fts)
        .columns(literal_column("rowid"))
    )


def _many_matches(session: Session, fts: str) -> bool:
    """Whether at least WALK_THRESHOLD messages match, reading no more than that many."""
    found = session.scalar(
        text(
            "SELECT count(*) FROM (SELECT rowid FROM messages_fts "
            "WHERE messages_fts MATCH :q LIMIT :cap)"
        ).bindparams(q=fts, cap=WALK_THRESHOLD)
    )
    return int(found or 0) >= WALK_THRESHOLD


def conversation_matches(
    session: Session, *, organization_id: int, query: str, ordered: bool = False
) -> ColumnElement[bool]:
    """A condition on Conversation: one of its messages matches ``query``.

    Without ``ordered``, and on PostgreSQL, it is membership in the conversations of the
    matching messages. With ``ordered`` (a listing that reads the inbox in order and stops
    after a page) on SQLite, it picks the plan by the number of matching messages:

    - many: a per-conversation probe of the matching message ids, so the listing walks the
      inbox in order and stops after a page;
    - few: a join with the distinct conversations of the matching messages. The condition
      brings that derived table into the statement's FROM clause (``conversations.id =
      anon.id``), so SQLite drives the listing from the matches and sorts them, where a
      membership test would still let it walk the inbox index (without statistics it takes
      that walk for the cheap one).

    Every plan selects exactly the same conversations, each once."""
    if ordered and session.get_bind().dialect.name == "sqlite":
        fts = fts5_query(query)
        if fts is not None and _many_matches(session, fts):
            # The matching rowids are gathered once per statement; each conversation the
            # walk reaches is then tested through ix_messages_conversation (conversation_id, id).
            return exists(
                select(literal_column("1")).where(
                    Message.conversation_id == Conversation.id,
                    Message.organization_id == organization_id,
                    # "+ 0": test membership in the gathered ids; a bare ``id IN`` would make
                    # SQLite seek the index once per matching id for every conversation.
                    (Message.id + 0).in_(_fts_rowids(fts)),
                )
            )
        if fts is not None:
            matched = (
                matching_conversation_ids(session, organization_id=organization_id, query=query)
                .with_only_columns(Message.conversation_id.label("id"))
                .distinct()
                .subquery()
            )
            return Conversation.id == matched.c.id
    return Conversation.id.in_(
        matching_conversation_ids(session, organization_id=organization_id, query=query)
    )
