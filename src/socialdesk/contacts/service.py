"""Contacts and their identities: found by identity, joined across channels, merged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, aliased

from socialdesk.accounts.models import Member
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.connectors.base import Identity
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.events import bus
from socialdesk.events.types import ConversationChanged


def find_or_create(
    session: Session, *, organization_id: int, channel: str, identity: Identity
) -> tuple[Contact, ContactIdentity]:
    """The contact behind an identity on a channel, created on first sight. A known identity
    whose handle or name changed is updated; a merged contact resolves to its survivor."""
    found = session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.organization_id == organization_id,
            ContactIdentity.channel == channel,
            ContactIdentity.native_id == identity.native_id,
        )
    )
    if found is not None:
        if identity.handle and found.handle != identity.handle:
            found.handle = identity.handle
        if identity.display_name and found.display_name != identity.display_name:
            found.display_name = identity.display_name
        contact = session.get(Contact, found.contact_id)
        assert contact is not None  # foreign key
        return resolve_merged(session, contact), found
    now = clock.now()
    contact = Contact(
        organization_id=organization_id,
        name=identity.display_name or identity.handle or identity.native_id,
        attributes={},
        created_at=now,
    )
    session.add(contact)
    session.flush()
    found = ContactIdentity(
        organization_id=organization_id,
        contact_id=contact.id,
        channel=channel,
        native_id=identity.native_id,
        handle=identity.handle,
        display_name=identity.display_name,
        created_at=now,
    )
    session.add(found)
    session.flush()
    return contact, found


def resolve_merged(session: Session, contact: Contact) -> Contact:
    seen = {contact.id}
    while contact.merged_into_id is not None:
        survivor = session.get(Contact, contact.merged_into_id)
        if survivor is None or survivor.id in seen:
            break
        seen.add(survivor.id)
        contact = survivor
    return contact


def get_or_raise(session: Session, *, organization_id: int, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.organization_id != organization_id:
        raise NotFound(f"contact {contact_id} does not exist")
    return contact


def identities(session: Session, *, contact_id: int) -> list[ContactIdentity]:
    return list(
        session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.contact_id == contact_id)
            .order_by(ContactIdentity.channel, ContactIdentity.id)
        )
    )


def identity_on(session: Session, *, contact_id: int, channel: str) -> ContactIdentity | None:
    return session.scalar(
        select(ContactIdentity)
        .where(ContactIdentity.contact_id == contact_id, ContactIdentity.channel == channel)
        .order_by(ContactIdentity.id)
        .limit(1)
    )


def merge(
    session: Session,
    *,
    organization_id: int,
    source_id: int,
    target_id: int,
    actor: Member | None = None,
) -> Contact:
    """Join two contacts that are the same person. The source's identities, conversations and
    messages move to the target; the source stays as a pointer so old links still resolve.
    Each conversation that moved says so in its trail, and open views of it refresh."""
    from socialdesk.conversations import service as conversations_service
    from socialdesk.conversations.models import Conversation, Message

    if source_id == target_id:
        raise ValidationFailed("cannot merge a contact into itself", field="target_id")
    source = get_or_raise(session, organization_id=organization_id, contact_id=source_id)
    target = resolve_merged(
        session, get_or_raise(session, organization_id=organization_id, contact_id=target_id)
    )
    if target.id == source.id:
        raise ValidationFailed("these contacts are already merged", field="target_id")
    session.execute(
        update(ContactIdentity)
        .where(ContactIdentity.contact_id == source.id)
        .values(contact_id=target.id)
    )
    moved = list(session.scalars(select(Conversation).where(Conversation.contact_id == source.id)))
    session.execute(
        update(Conversation)
        .where(Conversation.contact_id == source.id)
        .values(contact_id=target.id)
    )
    session.execute(
        update(Message)
        .where(Message.author_contact_id == source.id)
        .values(author_contact_id=target.id)
    )
    # Contacts merged into the source earlier now point straight at the target.
    session.execute(
        update(Contact).where(Contact.merged_into_id == source.id).values(merged_into_id=target.id)
    )
    source.merged_into_id = target.id
    target.is_vip = target.is_vip or source.is_vip
    target.attributes = {**source.attributes, **target.attributes}
    for conversation in moved:
        conversations_service.record(
            session,
            conversation=conversation,
            kind="contact_merged",
            actor=actor,
            data={"from": source.id, "into": target.id},
        )
        bus.emit(
            session,
            ConversationChanged(
                organization_id=organization_id,
                conversation_id=conversation.id,
                fields=("contact",),
                actor_member_id=actor.id if actor else None,
            ),
        )
    return target


MAX_NAME = 200  # the column's length


def update_details(
    session: Session,
    *,
    organization_id: int,
    contact_id: int,
    name: str | None = None,
    is_vip: bool | None = None,
    actor: Member | None = None,
) -> Contact:
    """Correct a customer's name (a website visitor who said who they are) or mark them a VIP
    (which routing rules can act on). None leaves a field as it is. Their conversations that
    are not resolved refresh in open views."""
    from socialdesk.conversations.models import Conversation, Status

    contact = get_or_raise(session, organization_id=organization_id, contact_id=contact_id)
    if contact.merged_into_id is not None:
        raise ValidationFailed(
            f"contact {contact.id} was merged into contact {contact.merged_into_id}: "
            "change that one",
            field="contact_id",
        )
    changed: list[str] = []
    if name is not None:
        name = " ".join(name.split())
        if not name:
            raise ValidationFailed("a customer's name must not be empty", field="name")
        if len(name) > MAX_NAME:
            raise ValidationFailed(
                f"the name is {len(name)} characters; keep it under {MAX_NAME}", field="name"
            )
        if name != contact.name:
            contact.name = name
            changed.append("name")
    if is_vip is not None and is_vip != contact.is_vip:
        contact.is_vip = is_vip
        changed.append("vip")
    if changed:
        for conversation_id in session.scalars(
            select(Conversation.id).where(
                Conversation.contact_id == contact.id,
                Conversation.status != Status.RESOLVED.value,
            )
        ):
            bus.emit(
                session,
                ConversationChanged(
                    organization_id=organization_id,
                    conversation_id=conversation_id,
                    fields=("contact",),
                    actor_member_id=actor.id if actor else None,
                ),
            )
    return contact


def list_page(
    session: Session,
    *,
    organization_id: int,
    query: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Contact]:
    """Contacts newest first, one page at a time; with ``query``, those whose name or an
    identity's handle or display name contains it. Merged-away contacts are left out."""
    stmt = select(Contact).where(
        Contact.organization_id == organization_id, Contact.merged_into_id.is_(None)
    )
    if query and query.strip():
        like = f"%{query.strip()}%"
        ids = select(ContactIdentity.contact_id).where(
            ContactIdentity.organization_id == organization_id,
            or_(ContactIdentity.handle.ilike(like), ContactIdentity.display_name.ilike(like)),
        )
        stmt = stmt.where(or_(Contact.name.ilike(like), Contact.id.in_(ids)))
    return keyset_page(
        session,
        stmt,
        when=Contact.created_at,
        row_id=Contact.id,
        key=lambda c: (c.created_at, c.id),
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )


def identities_for(session: Session, *, contact_ids: list[int]) -> dict[int, list[ContactIdentity]]:
    """The identities of several contacts in one query (for lists)."""
    out: dict[int, list[ContactIdentity]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return out
    for identity in session.scalars(
        select(ContactIdentity)
        .where(ContactIdentity.contact_id.in_(contact_ids))
        .order_by(ContactIdentity.channel, ContactIdentity.id)
    ):
        out[identity.contact_id].append(identity)
    return out


@dataclass(frozen=True)
class ContactBrief:
    """What a list row shows of a contact: the name, and a handle on each channel."""

    id: int
    name: str
    is_vip: bool
    handles: dict[str, str]  # channel -> the first identity's handle (or display name)


def briefs(session: Session, *, contact_ids: list[int]) -> dict[int, ContactBrief]:
    """Briefs of several contacts in two column-only queries: a page of the inbox shows up to
    200 contacts, and loading full rows and identities for each costs more than the page."""
    if not contact_ids:
        return {}
    handles: dict[int, dict[str, str]] = {cid: {} for cid in contact_ids}
    for contact_id, channel, handle, display_name in session.execute(
        select(
            ContactIdentity.contact_id,
            ContactIdentity.channel,
            ContactIdentity.handle,
            ContactIdentity.display_name,
        )
        .where(ContactIdentity.contact_id.in_(contact_ids))
        .order_by(ContactIdentity.id)
    ):
        shown = handle or display_name
        if shown:
            handles[contact_id].setdefault(channel, shown)
    return {
        cid: ContactBrief(id=cid, name=name, is_vip=is_vip, handles=handles[cid])
        for cid, name, is_vip in session.execute(
            select(Contact.id, Contact.name, Contact.is_vip).where(Contact.id.in_(contact_ids))
        )
    }


@dataclass(frozen=True)
class ContactActivity:
    """How much a contact has talked to the desk, for a list of customers."""

    conversations: int
    last_activity_at: datetime | None
    latest_conversation_id: int | None


def activity_of(session: Session, *, contact_ids: list[int]) -> dict[int, ContactActivity]:
    """Conversation counts, the latest activity and the latest conversation of several
    contacts, in one grouped query."""
    from socialdesk.conversations.models import Conversation

    out = {cid: ContactActivity(0, None, None) for cid in contact_ids}
    if not contact_ids:
        return out
    other = aliased(Conversation)
    latest = (
        select(other.id)
        .where(other.contact_id == Conversation.contact_id)
        .order_by(other.last_activity_at.desc(), other.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    for contact_id, count, last, latest_id in session.execute(
        select(
            Conversation.contact_id,
            func.count(Conversation.id),
            func.max(Conversation.last_activity_at),
            latest,
        )
        .where(Conversation.contact_id.in_(contact_ids))
        .group_by(Conversation.contact_id)
    ):
        out[contact_id] = ContactActivity(count, last, latest_id)
    return out
