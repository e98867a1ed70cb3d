"""A customer's own data: everything the desk keeps about one person, exported in one file
(the right of access) or erased (the right to erasure).

What belongs to a contact: the contact, the contacts merged into it, their identities, every
conversation whose customer they are (with all of its messages, the brand's replies and the
team's notes included, and everything hung on those: promises, follow-ups, requests to other
departments, SLA clocks, approvals, checks, triage, notifications), the messages they wrote in
other customers' conversations, and the raw events those messages were parsed from.

Erasure deletes all of it in one transaction, found through the schema's foreign keys
(``_delete_with_dependents``), so a table added later that hangs on a conversation or a
message is erased with it without a change here. What it keeps: the audit trail, which is
append-only and records the erasure itself (counts, never a name); conversations of other
customers, which only lose the messages the erased person wrote in them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Table, delete, select, text, update
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.models import Member, Organization
from socialdesk.channels.models import BrandAccount, InboundEvent
from socialdesk.commitments.models import Commitment
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, ValidationFailed
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations import attachments
from socialdesk.conversations import erased as erased_messages
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
)
from socialdesk.events import bus
from socialdesk.events.types import ContactErased
from socialdesk.followups.models import FollowUp
from socialdesk.triage.models import MessageTriage

EXPORT_FORMAT = "socialdesk.contact-export/1"
# Ids bound per statement: far below SQLite's and PostgreSQL's limits on parameters.
_CHUNK = 500
# A reply in these states is on its way to the customer: erasing it now would race the send.
_IN_FLIGHT = (DeliveryState.QUEUED.value, DeliveryState.SENDING.value)
_Row = TypeVar("_Row", Conversation, Message)
_Hung = TypeVar("_Hung", Commitment, FollowUp)


@dataclass(frozen=True)
class Holdings:
    """The rows that make up one person's data (ids only)."""

    contact: Contact
    contact_ids: list[int]  # the contact and those merged into it
    conversation_ids: list[int]  # where they are the customer
    message_ids: list[int]  # in those conversations, and theirs elsewhere
    elsewhere: list[int]  # other customers' conversations they wrote in


@dataclass(frozen=True)
class Erased:
    """What an erasure removed (counts only: the audit trail keeps this, never a name)."""

    contact_id: int
    contacts: int
    identities: int
    conversations: int
    messages: int
    raw_events: int
    conversations_touched: int  # other customers' conversations that lost a message


def holdings(session: Session, *, organization_id: int, contact_id: int) -> Holdings:
    """Find what the desk keeps about a contact. A contact merged into another is only a
    pointer: the person's data is the survivor's, so it is refused, naming the survivor."""
    contact = contacts_service.get_or_raise(
        session, organization_id=organization_id, contact_id=contact_id
    )
    if contact.merged_into_id is not None:
        survivor = contacts_service.resolve_merged(session, contact)
        raise ValidationFailed(
            f"contact {contact.id} was merged into contact {survivor.id}: "
            f"their data is kept there; use contact {survivor.id}",
            field="contact_id",
        )
    family = [contact.id]
    frontier = [contact.id]
    while frontier:  # merges point straight at the survivor, but older data may chain
        frontier = list(
            session.scalars(
                select(Contact.id).where(
                    Contact.merged_into_id.in_(frontier), Contact.id.not_in(family)
                )
            )
        )
        family.extend(frontier)
    conversation_ids = list(
        session.scalars(
            select(Conversation.id)
            .where(
                Conversation.organization_id == organization_id,
                Conversation.contact_id.in_(family),
            )
            .order_by(Conversation.id)
        )
    )
    message_ids: list[int] = []
    elsewhere: set[int] = set()
    for chunk in _chunks(conversation_ids):
        message_ids.extend(
            session.scalars(select(Message.id).where(Message.conversation_id.in_(chunk)))
        )
    theirs = set(conversation_ids)
    for message_id, conversation_id in session.execute(
        select(Message.id, Message.conversation_id).where(
            Message.organization_id == organization_id,
            Message.author_contact_id.in_(family),
        )
    ):
        if conversation_id not in theirs:
            message_ids.append(message_id)
            elsewhere.add(conversation_id)
    return Holdings(
        contact=contact,
        contact_ids=family,
        conversation_ids=conversation_ids,
        message_ids=sorted(message_ids),
        elsewhere=sorted(elsewhere),
    )


# --- export ----------------------------------------------------------------------------------


def export(
    session: Session, *, organization_id: int, contact_id: int, actor: Member
) -> dict[str, Any]:
    """Everything kept about the person, as one JSON-ready document, for the organization to
    review and hand over. Internal notes are included, marked as such: they are data about
    the person too. The export is recorded in the audit trail."""
    held = holdings(session, organization_id=organization_id, contact_id=contact_id)
    organization = session.get(Organization, organization_id)
    assert organization is not None  # the contact's foreign key
    names = {
        m.id: m.name
        for m in session.scalars(select(Member).where(Member.organization_id == organization_id))
    }
    accounts = {
        a.id: a
        for a in session.scalars(
            select(BrandAccount).where(BrandAccount.organization_id == organization_id)
        )
    }
    known = _Known(
        names=names,
        accounts=accounts,
        messages=_messages(session, held.message_ids),
        triage=_by_message(session, held.message_ids),
        files=_files(session, held.message_ids),
        tags=conversations_service.tags_for(session, conversation_ids=held.conversation_ids),
        promises=_by_conversation(session, Commitment, held.conversation_ids),
        follow_ups=_by_conversation(session, FollowUp, held.conversation_ids),
    )
    conversations = [
        _conversation(c, known) for c in _rows(session, Conversation, held.conversation_ids)
    ]
    elsewhere = [
        {
            "conversation_id": conversation_id,
            "messages": [_message(m, known) for m in known.messages.get(conversation_id, [])],
        }
        for conversation_id in held.elsewhere
    ]
    contact = held.contact
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(clock.now()),
        "organization": organization.name,
        "contact": {
            "id": contact.id,
            "name": contact.name,
            "is_vip": contact.is_vip,
            "opted_out_at": _iso(contact.opted_out_at),
            "attributes": dict(contact.attributes),
            "created_at": _iso(contact.created_at),
            "merged_contacts": [cid for cid in held.contact_ids if cid != contact.id],
        },
        "identities": [
            {
                "channel": i.channel,
                "native_id": i.native_id,
                "handle": i.handle,
                "display_name": i.display_name,
                "first_seen_at": _iso(i.created_at),
            }
            for i in session.scalars(
                select(ContactIdentity)
                .where(ContactIdentity.contact_id.in_(held.contact_ids))
                .order_by(ContactIdentity.id)
            )
        ],
        "conversations": conversations,
        "messages_in_other_conversations": elsewhere,
    }
    audit.record(
        session,
        organization_id=organization_id,
        action="contact_exported",
        actor=actor,
        target=("contact", contact.id),
        after={
            "conversations": len(held.conversation_ids),
            "messages": len(held.message_ids),
        },
    )
    return document


@dataclass(frozen=True)
class _Known:
    """What the export reads once and looks up per row."""

    names: dict[int, str]  # member id -> name
    accounts: dict[int, BrandAccount]
    messages: dict[int, list[Message]]  # conversation id -> its messages, in order
    triage: dict[int, MessageTriage]  # message id -> its triage
    files: dict[int, list[attachments.Shown]]  # message id -> what came with it
    tags: dict[int, list[str]]  # conversation id -> ...
    promises: dict[int, list[Commitment]]
    follow_ups: dict[int, list[FollowUp]]


def _conversation(conversation: Conversation, known: _Known) -> dict[str, Any]:
    account = known.accounts.get(conversation.brand_account_id)
    return {
        "id": conversation.id,
        "channel": account.kind if account else None,
        "brand_account": account.handle if account else None,
        "subject": conversation.subject,
        "status": conversation.status,
        "tags": known.tags.get(conversation.id, []),
        "created_at": _iso(conversation.created_at),
        "resolved_at": _iso(conversation.resolved_at),
        "messages": [_message(m, known) for m in known.messages.get(conversation.id, [])],
        "promises": [
            {
                "text": c.text,
                "status": c.status,
                "due_at": _iso(c.due_at),
                "made_at": _iso(c.created_at),
                "closed_at": _iso(c.closed_at),
            }
            for c in known.promises.get(conversation.id, [])
        ],
        "follow_ups": [
            {
                "status": f.status,
                "text": f.text,
                "sent_at": _iso(f.sent_at),
                "answered_at": _iso(f.answered_at),
                "answer": f.answer,
                "satisfaction": f.satisfaction,
            }
            for f in known.follow_ups.get(conversation.id, [])
        ],
    }


def _message(message: Message, known: _Known) -> dict[str, Any]:
    if message.author_member_id is not None:
        author = known.names.get(message.author_member_id, f"member {message.author_member_id}")
    elif message.direction == Direction.INBOUND.value:
        author = "customer"
    else:
        author = "brand account"
    row: dict[str, Any] = {
        "id": message.id,
        "direction": message.direction,
        "visibility": message.visibility,
        "author": author,
        "text": message.text,
        "written_at": _iso(message.created_at),
        "delivery_state": message.delivery_state,
        "sent_at": _iso(message.sent_at),
    }
    files = known.files.get(message.id)
    if files:
        # The files the desk keeps are listed, not inlined: each downloads from its address.
        row["attachments"] = [
            {
                "kind": f.kind,
                "name": f.name,
                "mime_type": f.mime_type,
                "size": f.size,
                "description": f.description,
                "url": f.url,
                "download": f"/attachments/{f.id}" if f.kept else None,
            }
            for f in files
        ]
    found = known.triage.get(message.id)
    if found is not None:
        row["triage"] = {
            "sentiment": found.sentiment,
            "intent": found.intent,
            "complaint": found.complaint,
            "priority": found.priority,
            "language": found.language,
        }
    return row


def _messages(session: Session, ids: Sequence[int]) -> dict[int, list[Message]]:
    out: dict[int, list[Message]] = {}
    for message in sorted(
        _rows(session, Message, ids), key=lambda m: (m.conversation_id, m.created_at, m.id)
    ):
        out.setdefault(message.conversation_id, []).append(message)
    return out


def _files(session: Session, ids: Sequence[int]) -> dict[int, list[attachments.Shown]]:
    out: dict[int, list[attachments.Shown]] = {}
    for chunk in _chunks(ids):
        out.update(attachments.of_messages(session, chunk))
    return out


def _by_message(session: Session, ids: Sequence[int]) -> dict[int, MessageTriage]:
    out: dict[int, MessageTriage] = {}
    for chunk in _chunks(ids):
        for row in session.scalars(
            select(MessageTriage).where(MessageTriage.message_id.in_(chunk))
        ):
            out[row.message_id] = row
    return out


def _by_conversation(
    session: Session, model: type[_Hung], conversation_ids: Sequence[int]
) -> dict[int, list[_Hung]]:
    """Rows hung on these conversations, grouped by conversation, in the order they came."""
    out: dict[int, list[_Hung]] = {}
    for chunk in _chunks(conversation_ids):
        for row in session.scalars(
            select(model).where(model.conversation_id.in_(chunk)).order_by(model.id)
        ):
            out.setdefault(row.conversation_id, []).append(row)
    return out


def _rows(session: Session, model: type[_Row], ids: Sequence[int]) -> list[_Row]:
    out: list[_Row] = []
    for chunk in _chunks(ids):
        out.extend(session.scalars(select(model).where(model.id.in_(chunk)).order_by(model.id)))
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- erasure ---------------------------------------------------------------------------------


def erase(session: Session, *, organization_id: int, contact_id: int, actor: Member) -> Erased:
    """Delete everything kept about the person (see the module's docstring), in the caller's
    transaction: all of it or, on any error, none of it. Refused while a reply to them is on
    its way (queued or sending), naming the conversation: erase once it is sent or failed."""
    held = holdings(session, organization_id=organization_id, contact_id=contact_id)
    contact_id = held.contact.id
    native: list[tuple[int, str]] = []  # (account, network id) of each, for erased.py
    for chunk in _chunks(held.message_ids):
        for row in session.execute(
            select(
                Message.id,
                Message.conversation_id,
                Message.delivery_state,
                Message.brand_account_id,
                Message.native_id,
            )
            .where(Message.id.in_(chunk))
            .order_by(Message.id)
        ):
            if row.delivery_state in _IN_FLIGHT:
                raise Conflict(
                    f"conversation #{row.conversation_id} has a reply on its way to this "
                    f"customer (message {row.id}); erase once it is sent or has failed"
                )
            if row.native_id is not None:
                native.append((row.brand_account_id, row.native_id))
    identities = len(
        session.scalars(
            select(ContactIdentity.id).where(ContactIdentity.contact_id.in_(held.contact_ids))
        ).all()
    )
    raw_events = delete_rows(
        session,
        organization_id=organization_id,
        message_ids=held.message_ids,
        conversation_ids=held.conversation_ids,
        contact_ids=held.contact_ids,
    )
    # So that the network sending the same posts again does not bring them back.
    erased_messages.remember(session, organization_id=organization_id, keys=native)
    for conversation in _rows(session, Conversation, held.elsewhere):
        conversations_service.refresh_aggregates(session, conversation=conversation)
    erased = Erased(
        contact_id=contact_id,
        contacts=len(held.contact_ids),
        identities=identities,
        conversations=len(held.conversation_ids),
        messages=len(held.message_ids),
        raw_events=raw_events,
        conversations_touched=len(held.elsewhere),
    )
    counts = asdict(erased)
    audit.record(
        session,
        organization_id=organization_id,
        action="contact_erased",
        actor=actor,
        target=("contact", erased.contact_id),
        after={k: v for k, v in counts.items() if k != "contact_id"},
    )
    bus.emit(
        session,
        ContactErased(
            organization_id=organization_id,
            contact_id=erased.contact_id,
            conversation_ids=tuple(held.conversation_ids),
        ),
    )
    return erased


def delete_rows(
    session: Session,
    *,
    organization_id: int,
    message_ids: Sequence[int],
    conversation_ids: Sequence[int],
    contact_ids: Sequence[int],
) -> int:
    """Delete these messages, conversations and contacts with everything that hangs on them,
    and the raw events the messages were parsed from; returns how many raw events. The
    messages must include every message of the conversations, and nothing left may point at
    a contact deleted here (the caller's to check). The session's loaded objects are expired:
    read what is still needed again."""
    event_ids: set[int] = set()
    for chunk in _chunks(message_ids):
        event_ids.update(
            e
            for e in session.scalars(
                select(Message.inbound_event_id).where(
                    Message.id.in_(chunk), Message.inbound_event_id.is_not(None)
                )
            )
            if e is not None
        )
    session.flush()
    with _overwriting_deleted(session):
        _delete_with_dependents(session, _table(Message), message_ids)
        _delete_with_dependents(session, _table(Conversation), conversation_ids)
        for chunk in _chunks(sorted(event_ids)):
            session.execute(
                delete(InboundEvent).where(
                    InboundEvent.id.in_(chunk), InboundEvent.organization_id == organization_id
                )
            )
        # Pointers first, so no contact references one being deleted.
        for chunk in _chunks(contact_ids):
            session.execute(
                update(Contact).where(Contact.id.in_(chunk)).values(merged_into_id=None)
            )
        _delete_with_dependents(session, _table(Contact), contact_ids)
        _forget_in_alerts(session, organization_id, set(conversation_ids))
    session.expire_all()
    return len(event_ids)


def _delete_with_dependents(session: Session, table: Table, ids: Sequence[int]) -> None:
    """Delete rows of ``table`` by id and, before them, every row of any table that references
    them through a foreign key, and so on down. Self-references are the caller's to clear."""
    if not ids:
        return
    for column in _references_to(table):
        child = column.table
        if "id" in child.c and _references_to(child):
            for chunk in _chunks(ids):
                below = list(session.scalars(select(child.c.id).where(column.in_(chunk))))
                _delete_with_dependents(session, child, below)
        else:
            for chunk in _chunks(ids):
                session.execute(delete(child).where(column.in_(chunk)))
    for chunk in _chunks(ids):
        session.execute(delete(table).where(table.c.id.in_(chunk)))


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _references_to(table: Table) -> list[Column[Any]]:
    """The columns of other tables with a foreign key to ``table.id``."""
    from socialdesk.db.models import Base  # every domain's tables, imported on first use

    return [
        fk.parent
        for other in Base.metadata.sorted_tables
        if other is not table
        for fk in other.foreign_keys
        if fk.column.table is table and fk.column.name == "id"
    ]


def _forget_in_alerts(session: Session, organization_id: int, conversation_ids: set[int]) -> None:
    """Volume alerts keep a few conversation ids as examples; the erased ones are dropped."""
    from socialdesk.alerts.models import AlertFiring

    if not conversation_ids:
        return
    for firing in session.scalars(
        select(AlertFiring).where(AlertFiring.organization_id == organization_id)
    ):
        kept = [cid for cid in firing.conversation_ids if cid not in conversation_ids]
        if len(kept) != len(firing.conversation_ids):
            firing.conversation_ids = kept


@contextmanager
def _overwriting_deleted(session: Session) -> Iterator[None]:
    """On SQLite, deleted content is overwritten with zeros as it is deleted (``secure_delete``)
    rather than left in free pages until they are reused. PostgreSQL reclaims deleted rows by
    vacuuming; no setting of a transaction changes that."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    before = int(session.execute(text("PRAGMA secure_delete")).scalar_one())
    session.execute(text("PRAGMA secure_delete = 1"))
    try:
        yield
    finally:
        session.execute(text(f"PRAGMA secure_delete = {before}"))


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])
