"""Customers who are likely the same person as another, to suggest a merge (never to make one).

Two signals, strongest first:

* **the same address**: one customer's email identity is an address another gave elsewhere
  (a website visitor who typed it in the chat, say), or both gave it. Addresses are stored
  lower-cased (an email identity's id, a website visitor's handle) and looked up by index;
* **the same full name**: at least two words, spelled the same apart from case and spacing.
  A placeholder ("Website visitor") or a single word ("Greta") says too little.

Pairs that were merged and then parted ("not the same person") are never suggested again.
The address look-ups are cheap enough for a conversation's side panel; the name's reads every
customer of the organization, so only the merge page asks for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from socialdesk.contacts.models import Contact, ContactIdentity, ContactMerge
from socialdesk.db.session import folded_words

EMAIL_CHANNEL = "email"
PLACEHOLDER_NAMES = frozenset({"website visitor"})
ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIMIT = 5


@dataclass(frozen=True)
class Suggestion:
    contact: Contact
    reason: str  # what they have in common, as the page says it


def addresses_of(identities: list[ContactIdentity]) -> set[str]:
    """The email addresses a customer's identities hold, lower-cased: an email identity's own
    address, and any handle that is an address (the website chat's "your email")."""
    found: set[str] = set()
    for identity in identities:
        if identity.channel == EMAIL_CHANNEL:
            found.add(identity.native_id.lower())
        if identity.handle and ADDRESS.match(identity.handle.strip().lower()):
            found.add(identity.handle.strip().lower())
    return found


def comparable_name(name: str) -> str | None:
    """The name as two customers' names are compared, or None when it says too little."""
    words = name.casefold().split()
    if len(words) < 2:
        return None
    joined = " ".join(words)
    return None if joined in PLACEHOLDER_NAMES else joined


def _named_like(session: Session, name: str) -> ColumnElement[bool]:
    """A customer's name equal to ``name`` apart from case and spacing, in the database:
    SQLite through the function the app's connections register (its ``lower()`` folds ASCII
    only), PostgreSQL with its own Unicode ``lower()``."""
    if session.get_bind().dialect.name == "sqlite":
        return func.sd_fold(Contact.name) == folded_words(name)
    folded = func.lower(func.regexp_replace(func.btrim(Contact.name), r"\s+", " ", "g"))
    return folded == " ".join(name.lower().split())


def suggestions(
    session: Session,
    *,
    organization_id: int,
    contact: Contact,
    by_name: bool = True,
    identities: list[ContactIdentity] | None = None,
) -> list[Suggestion]:
    """Up to LIMIT other customers who are likely ``contact``, with the reason for each. The
    address look-ups read two indexes; ``by_name`` adds the name's, which reads every customer
    of the organization (the merge page asks for it; a conversation's side panel does not).
    ``identities``: the contact's, when the caller has read them already."""
    own = (
        identities
        if identities is not None
        else list(
            session.scalars(select(ContactIdentity).where(ContactIdentity.contact_id == contact.id))
        )
    )
    reasons: dict[int, str] = {}
    addresses = sorted(addresses_of(own))
    if addresses:
        for by in (
            (ContactIdentity.channel == EMAIL_CHANNEL) & ContactIdentity.native_id.in_(addresses),
            ContactIdentity.handle.in_(addresses),
        ):
            for contact_id, native_id, handle in session.execute(
                select(
                    ContactIdentity.contact_id, ContactIdentity.native_id, ContactIdentity.handle
                )
                .where(
                    ContactIdentity.organization_id == organization_id,
                    ContactIdentity.contact_id != contact.id,
                    by,
                )
                .order_by(ContactIdentity.id)
                .limit(LIMIT * 4)
            ):
                address = native_id if native_id in addresses else handle
                reasons.setdefault(contact_id, f"both use {address}")
    name = comparable_name(contact.name) if by_name else None
    if name is not None:
        for contact_id, other_name in session.execute(
            select(Contact.id, Contact.name)
            .where(
                Contact.organization_id == organization_id,
                Contact.id != contact.id,
                Contact.merged_into_id.is_(None),
                _named_like(session, contact.name),
            )
            .order_by(Contact.id.desc())
            .limit(LIMIT * 4)
        ):
            if comparable_name(other_name) == name:
                reasons.setdefault(contact_id, "the same name")
    if not reasons:
        return []
    parted = _parted(session, contact.id)
    found = {
        c.id: c
        for c in session.scalars(
            select(Contact).where(Contact.id.in_(reasons), Contact.merged_into_id.is_(None))
        )
    }
    kept = [cid for cid in reasons if cid in found and cid not in parted]
    return [Suggestion(found[cid], reasons[cid]) for cid in kept[:LIMIT]]


def _parted(session: Session, contact_id: int) -> set[int]:
    """The customers a merge with ``contact_id`` was undone with: not the same person."""
    rows = session.execute(
        select(ContactMerge.source_id, ContactMerge.target_id).where(
            ContactMerge.undone_at.is_not(None),
            or_(ContactMerge.source_id == contact_id, ContactMerge.target_id == contact_id),
        )
    )
    return {other for pair in rows for other in pair if other != contact_id}
