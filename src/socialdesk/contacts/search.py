"""Customers found by the start of what an agent knows of them: their name, or a handle, display
name or email address of one of their identities ("Elif Demir", "@elifd", "elifd",
"elif@example.com"), in any case.

Each is read along an index of the folded value (lower-cased; a handle also without its leading
"@"), created by migration 0033: the expressions here must stay exactly those of the indexes,
or the database reads every customer instead. The typed words are folded by the same ``lower()``
as the indexed values, so the two sides always agree. PostgreSQL's folds every letter; SQLite's
only the ASCII ones, so there a name starting with "Ö" is found by "Ö..." and not by "ö...".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, func, literal, literal_column, select, union
from sqlalchemy.orm import InstrumentedAttribute, Session

from socialdesk.contacts.models import Contact, ContactIdentity

# Past every character: a folded value that starts with the key sorts between the key and the key
# followed by this.
_LAST = "\U0010ffff"


def key_of(typed: str) -> str:
    """What is looked for: the typed words, single-spaced, without a leading "@"."""
    return " ".join(typed.split()).lstrip("@").strip()


def _folded(
    column: InstrumentedAttribute[Any], *, handle: bool, dialect: str
) -> ColumnElement[Any]:
    """The indexed expression of ``column`` (migration 0033)."""
    folded: ColumnElement[Any] = func.lower(column)
    if handle:
        # A literal, not a parameter: only the index's own expression reads the index.
        folded = func.ltrim(folded, literal_column("'@'"))
    if dialect == "postgresql":
        # Byte order, so that the values starting with the key are one range of the index
        # whatever the database's locale.
        folded = folded.collate("C")
    return folded


def matching_ids(
    session: Session, *, organization_id: int, typed: str, prefix: bool = True
) -> CompoundSelect[Any] | None:
    """The ids of the organization's customers whose name, or an identity's handle, display
    name or email address, starts with ``typed`` (``prefix=False``: is exactly it), in any
    case. None when nothing is left to look for."""
    key = key_of(typed)
    if not key:
        return None
    dialect = session.get_bind().dialect.name
    low = func.lower(literal(key))
    high = func.lower(literal(key + _LAST))

    def starts(column: InstrumentedAttribute[Any], *, handle: bool = False) -> ColumnElement[bool]:
        folded = _folded(column, handle=handle, dialect=dialect)
        return (folded >= low) & (folded < high) if prefix else folded == low

    identities = select(ContactIdentity.contact_id.label("id")).where(
        ContactIdentity.organization_id == organization_id
    )
    return union(
        select(Contact.id.label("id")).where(
            Contact.organization_id == organization_id, starts(Contact.name)
        ),
        # An email identity's handle is its address.
        identities.where(starts(ContactIdentity.handle, handle=True)),
        identities.where(starts(ContactIdentity.display_name)),
    )
