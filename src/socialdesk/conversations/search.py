"""The inbox's search: the conversations whose messages hold the words typed, through the
database's own full-text index (SQLite FTS5 or PostgreSQL tsvector, both created by the
migrations), and those of the customers whose name, handle, display name or email address
starts with them (``contacts.search``, along indexes of their own)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from socialdesk.contacts import search as contacts_search
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


def _message_conversation_ids(session: Session, *, organization_id: int, query: str) -> Select[Any]:
    """A subquery of conversation ids whose messages match ``query``."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        fts = fts5_query(query)
        if fts is None:
            return select(Message.conversation_id).where(literal_column("0") == 1)
        return select(Message.conversation_id).where(
            Message.organization_id == organization_id,
            Message.id.in_(_fts_rowids(fts)),
        )
    tsquery = func.websearch_to_tsquery("simple", query)
    return select(Message.conversation_id).where(
        Message.organization_id == organization_id,
        func.to_tsvector("simple", Message.text).op("@@")(tsquery),
    )


def matching_customers(
    session: Session, *, organization_id: int, query: str
) -> CompoundSelect[Any] | None:
    """The customers ``query`` names: their name, or an identity's handle, display name or
    email address, starts with it, in any case. Like the last word of a message search, one or
    two letters are taken whole (the customers called "Al", not every name starting with "al",
    which is a large share of them), except in scripts written without spaces."""
    key = contacts_search.key_of(query)
    return contacts_search.matching_ids(
        session,
        organization_id=organization_id,
        typed=key,
        prefix=len(key) >= MIN_PREFIX or not key.isascii(),
    )


def matching_conversation_ids(
    session: Session, *, organization_id: int, query: str
) -> Select[Any] | CompoundSelect[Any]:
    """A subquery of the ids (column ``id``) of the conversations ``query`` finds: one of their
    messages matches it, or their customer is one it names (``matching_customers``). An id may
    come more than once."""
    return _conversation_ids(
        session,
        organization_id=organization_id,
        query=query,
        customers=matching_customers(session, organization_id=organization_id, query=query),
    )


def _conversation_ids(
    session: Session, *, organization_id: int, query: str, customers: CompoundSelect[Any] | None
) -> Select[Any] | CompoundSelect[Any]:
    messages = _message_conversation_ids(
        session, organization_id=organization_id, query=query
    ).with_only_columns(Message.conversation_id.label("id"))
    if customers is None:
        return messages
    return union_all(
        messages,
        select(Conversation.id.label("id")).where(Conversation.contact_id.in_(customers)),
    )


# At or above this many matches (FTS5's, over every organization, and customers named) a listing
# walks the inbox in its own order and tests each conversation for a match: a common word
# matches tens of thousands of messages, and the first page is then found after a few hundred
# cheap index probes. Below it, the listing starts from the matches: their conversations are
# looked up and sorted, which costs a few microseconds a match, whereas a walk could have to pass
# hundreds of thousands of conversations when the matches are few and old (measured at a million
# messages: 12 ms instead of 200-600 ms for "wifi", 4,000 matches). Tests patch it to exercise
# both plans.
WALK_THRESHOLD = 5_000


def _fts_rowids(fts: str) -> Any:
    return (
        text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q")
        .bindparams(q=fts)
        .columns(literal_column("rowid"))
    )


def _fts_count(session: Session, fts: str, cap: int) -> int:
    """How many messages match, reading no more than ``cap``."""
    found = session.scalar(
        text(
            "SELECT count(*) FROM (SELECT rowid FROM messages_fts "
            "WHERE messages_fts MATCH :q LIMIT :cap)"
        ).bindparams(q=fts, cap=cap)
    )
    return int(found or 0)


def _named(
    session: Session, *, organization_id: int, query: str, cap: int
) -> tuple[CompoundSelect[Any] | None, int]:
    """The customers ``query`` names (``matching_customers``) and how many, reading no more
    than ``cap`` of them; None when it names nobody. Most searches are for words of messages
    and name nobody: found so by a few index probes, they are then planned and run as if only
    messages were searched (a test of each conversation's customer as the inbox is walked cost
    a third more)."""
    customers = matching_customers(session, organization_id=organization_id, query=query)
    if customers is None:
        return None, 0
    counted = customers.limit(cap).subquery()
    found = int(session.scalar(select(func.count()).select_from(counted)) or 0)
    return (customers if found else None), found


def conversation_matches(
    session: Session, *, organization_id: int, query: str, ordered: bool = False
) -> ColumnElement[bool]:
    """A condition on Conversation: one of its messages matches ``query``, or its customer is
    one ``query`` names.

    Without ``ordered``, and on PostgreSQL, it is membership in the matching conversations.
    With ``ordered`` (a listing that reads the inbox in order and stops after a page) on
    SQLite, it picks the plan by the number of matching messages and customers:

    - many: a per-conversation probe of the matching message ids, and membership of its
      customer in those named (gathered once), so the listing walks the inbox in order and
      stops after a page;
    - few: a join with the distinct conversations of the matches. The condition brings that
      derived table into the statement's FROM clause (``conversations.id = anon.id``), so
      SQLite drives the listing from the matches and sorts them, where a membership test would
      still let it walk the inbox index (without statistics it takes that walk for the cheap
      one).

    Every plan selects exactly the same conversations, each once."""
    walking = ordered and session.get_bind().dialect.name == "sqlite"
    customers, named = _named(
        session,
        organization_id=organization_id,
        query=query,
        cap=max(WALK_THRESHOLD, 1) if walking else 1,
    )
    fts = fts5_query(query) if walking else None
    if walking and (fts is not None or customers is not None):
        found = named
        if fts is not None and found < WALK_THRESHOLD:
            found += _fts_count(session, fts, WALK_THRESHOLD - found)
        if found >= WALK_THRESHOLD:
            tests: list[ColumnElement[bool]] = []
            if fts is not None:
                # The matching rowids are gathered once per statement; each conversation the
                # walk reaches is then tested through ix_messages_conversation
                # (conversation_id, id).
                tests.append(
                    exists(
                        select(literal_column("1")).where(
                            Message.conversation_id == Conversation.id,
                            Message.organization_id == organization_id,
                            # "+ 0": test membership in the gathered ids; a bare ``id IN`` would
                            # make SQLite seek the index once per matching id for every
                            # conversation.
                            (Message.id + 0).in_(_fts_rowids(fts)),
                        )
                    )
                )
            if customers is not None:
                tests.append(Conversation.contact_id.in_(customers))
            return or_(*tests)
        found_ids = _conversation_ids(
            session, organization_id=organization_id, query=query, customers=customers
        ).subquery()
        # DISTINCT over the matches, not a UNION of them: SQLite then drives the listing from
        # the matches, where with a UNION it walked the inbox probing them.
        matched = select(found_ids.c.id).distinct().subquery()
        return Conversation.id == matched.c.id
    return Conversation.id.in_(
        _conversation_ids(
            session, organization_id=organization_id, query=query, customers=customers
        )
    )


def at_most(session: Session, *, organization_id: int, query: str, most: int) -> bool:
    """Whether ``matching_conversation_ids`` certainly yields no more than ``most`` rows, told
    without reading them: on SQLite from the full-text index alone (every organization's
    messages, so an upper bound) and the named customers' conversations along their index.
    False when it may yield more, and on PostgreSQL, where the caller counts them."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    fts = fts5_query(query)
    found = _fts_count(session, fts, most + 1) if fts is not None else 0
    customers = matching_customers(session, organization_id=organization_id, query=query)
    if found <= most and customers is not None:
        theirs = (
            select(Conversation.id)
            .where(Conversation.contact_id.in_(customers))
            .limit(most + 1 - found)
            .subquery()
        )
        found += int(session.scalar(select(func.count()).select_from(theirs)) or 0)
    return found <= most
