"""Contacts and their identities: found by identity, joined across channels, merged, and
parted again when a merge was a mistake."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from socialdesk.accounts.models import Member
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.connectors.base import Identity
from socialdesk.contacts import search as contacts_search
from socialdesk.contacts.models import Contact, ContactIdentity, ContactMerge
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
    Each conversation that moved says so in its trail, and open views of it refresh. What
    moved is kept (``ContactMerge``), so that ``unmerge`` can part them again."""
    from socialdesk.accounts import audit
    from socialdesk.conversations.models import Conversation, Message

    if source_id == target_id:
        raise ValidationFailed("cannot merge a contact into itself", field="target_id")
    source = get_or_raise(session, organization_id=organization_id, contact_id=source_id)
    target = resolve_merged(
        session, get_or_raise(session, organization_id=organization_id, contact_id=target_id)
    )
    if target.id == source.id:
        raise ValidationFailed("these contacts are already merged", field="target_id")
    if source.merged_into_id is not None:
        raise ValidationFailed(
            f"contact {source.id} was merged into contact {source.merged_into_id} already",
            field="source_id",
        )
    record = ContactMerge(
        organization_id=organization_id,
        source_id=source.id,
        target_id=target.id,
        identity_ids=_ids(session, select(ContactIdentity.id), ContactIdentity.contact_id, source),
        conversation_ids=_ids(session, select(Conversation.id), Conversation.contact_id, source),
        message_ids=_ids(session, select(Message.id), Message.author_contact_id, source),
        repointed_ids=_ids(session, select(Contact.id), Contact.merged_into_id, source),
        vip_from_source=source.is_vip and not target.is_vip,
        attribute_keys=sorted(set(source.attributes) - set(target.attributes)),
        actor_member_id=actor.id if actor else None,
        created_at=clock.now(),
    )
    session.add(record)
    _repoint(session, ContactIdentity.contact_id, record.identity_ids, target.id)
    _repoint(session, Conversation.contact_id, record.conversation_ids, target.id)
    _repoint(session, Message.author_contact_id, record.message_ids, target.id)
    # Contacts merged into the source earlier now point straight at the target.
    _repoint(session, Contact.merged_into_id, record.repointed_ids, target.id)
    source.merged_into_id = target.id
    target.is_vip = target.is_vip or source.is_vip
    target.attributes = {**source.attributes, **target.attributes}
    moved = _conversations(session, record.conversation_ids)
    _announce(session, moved, "contact_merged", {"from": source.id, "into": target.id}, actor)
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        action="contact_merged",
        actor=actor,
        target=("contact", target.id),
        after={
            "merge_id": record.id,
            "from": source.id,
            "identities": len(record.identity_ids),
            "conversations": len(record.conversation_ids),
        },
    )
    return target


@dataclass(frozen=True)
class Unmerged:
    """What undoing a merge did: the customer parted again, the conversations that went back
    to them, and those started since the merge on a channel where both have an identity, which
    stay where they are (nothing tells whose they are)."""

    contact: Contact
    conversations_back: int
    conversations_kept: int


def unmerge(
    session: Session,
    *,
    organization_id: int,
    merge_id: int,
    actor: Member | None = None,
) -> Unmerged:
    """Undo a merge: the two were not the same person. The source is a customer of its own
    again, with the identities, conversations and messages the merge moved, and the contacts
    merged into it before. Since the merge, the source's identities wrote as the target: what
    they wrote on a channel where only the source has an identity goes back too."""
    from socialdesk.accounts import audit
    from socialdesk.channels.models import BrandAccount
    from socialdesk.conversations.models import Conversation, Message

    record = session.get(ContactMerge, merge_id)
    if record is None or record.organization_id != organization_id:
        raise NotFound(f"merge {merge_id} not found", field="merge_id")
    if record.undone_at is not None:
        raise ValidationFailed(f"merge {merge_id} was undone already", field="merge_id")
    target = get_or_raise(session, organization_id=organization_id, contact_id=record.target_id)
    source = get_or_raise(session, organization_id=organization_id, contact_id=record.source_id)
    if target.merged_into_id is not None:
        raise ValidationFailed(
            f"contact {target.id} was merged into contact {target.merged_into_id} since: "
            "undo that merge first",
            field="merge_id",
        )
    identity_ids = _still_with(
        session, ContactIdentity.id, record.identity_ids, ContactIdentity.contact_id, target.id
    )
    _repoint(session, ContactIdentity.contact_id, identity_ids, source.id)
    theirs = set(
        session.scalars(
            select(ContactIdentity.channel).where(ContactIdentity.contact_id == source.id)
        )
    )
    kept = set(
        session.scalars(
            select(ContactIdentity.channel).where(ContactIdentity.contact_id == target.id)
        )
    )
    only_theirs = select(BrandAccount.id).where(
        BrandAccount.organization_id == organization_id, BrandAccount.kind.in_(theirs - kept)
    )
    shared = select(BrandAccount.id).where(
        BrandAccount.organization_id == organization_id, BrandAccount.kind.in_(theirs & kept)
    )
    back_ids = list(
        session.scalars(
            select(Conversation.id).where(
                Conversation.contact_id == target.id,
                or_(
                    _among(session, Conversation.id, record.conversation_ids),
                    Conversation.brand_account_id.in_(only_theirs),
                ),
            )
        )
    )
    _repoint(session, Conversation.contact_id, back_ids, source.id)
    # What stays with the target since the merge, on a channel both use (those going back
    # have moved already).
    conversations_kept = session.scalar(
        select(func.count()).where(
            Conversation.contact_id == target.id,
            Conversation.created_at > record.created_at,
            Conversation.brand_account_id.in_(shared),
        )
    )
    message_ids = list(
        session.scalars(
            select(Message.id).where(
                Message.author_contact_id == target.id,
                or_(
                    _among(session, Message.id, record.message_ids),
                    _among(session, Message.conversation_id, back_ids),
                    Message.brand_account_id.in_(only_theirs),
                ),
            )
        )
    )
    _repoint(session, Message.author_contact_id, message_ids, source.id)
    repointed = _still_with(
        session, Contact.id, record.repointed_ids, Contact.merged_into_id, target.id
    )
    _repoint(session, Contact.merged_into_id, repointed, source.id)
    source.merged_into_id = None
    if record.vip_from_source:
        target.is_vip = False
    if record.attribute_keys:
        target.attributes = {
            key: value
            for key, value in target.attributes.items()
            if key not in record.attribute_keys or source.attributes.get(key) != value
        }
    record.undone_at = clock.now()
    record.undone_by_id = actor.id if actor else None
    back = _conversations(session, back_ids)
    _announce(session, back, "contact_unmerged", {"from": target.id, "into": source.id}, actor)
    audit.record(
        session,
        organization_id=organization_id,
        action="contact_unmerged",
        actor=actor,
        target=("contact", source.id),
        before={"merge_id": record.id, "into": target.id},
        after={
            "identities": len(identity_ids),
            "conversations": len(back),
            "conversations_kept": conversations_kept or 0,
        },
    )
    return Unmerged(
        contact=source, conversations_back=len(back), conversations_kept=conversations_kept or 0
    )


def merge_of(
    session: Session, *, organization_id: int, contact_id: int, merge_id: int
) -> ContactMerge:
    """One merge this contact took part in, either side; any other id is not found."""
    merge = session.get(ContactMerge, merge_id)
    if (
        merge is None
        or merge.organization_id != organization_id
        or contact_id not in (merge.source_id, merge.target_id)
    ):
        raise NotFound(f"merge {merge_id} not found for contact {contact_id}", field="merge_id")
    return merge


def merges_of(session: Session, *, organization_id: int, contact_id: int) -> list[ContactMerge]:
    """The merges this contact took part in, either side, newest first (undone ones too)."""
    return list(
        session.scalars(
            select(ContactMerge)
            .where(
                ContactMerge.organization_id == organization_id,
                or_(ContactMerge.target_id == contact_id, ContactMerge.source_id == contact_id),
            )
            .order_by(ContactMerge.id.desc())
            .limit(MERGES_SHOWN)
        )
    )


MERGES_SHOWN = 50


def _ids(session: Session, stmt: Select[tuple[int]], owner: Any, contact: Contact) -> list[int]:
    return sorted(session.scalars(stmt.where(owner == contact.id)))


def _still_with(
    session: Session, row_id: Any, recorded: list[int], owner: Any, owner_id: int
) -> list[int]:
    """Of the rows a merge recorded as moved, those still with ``owner_id``."""
    return list(
        session.scalars(select(row_id).where(_among(session, row_id, recorded), owner == owner_id))
    )


def _among(session: Session, column: Any, ids: list[int]) -> ColumnElement[bool]:
    """``column IN ids``, the list bound as one parameter however long it is."""
    from socialdesk.conversations.bulk import any_of

    if not ids:
        return false()
    return any_of(column, ids, dialect=session.get_bind().dialect.name)


def _repoint(session: Session, column: InstrumentedAttribute[Any], ids: list[int], to: int) -> None:
    """Set ``column`` to ``to`` on the rows of its table with these ids."""
    if ids:
        model: Any = column.class_
        session.execute(
            update(model).where(_among(session, model.id, ids)).values({column.key: to})
        )


def _conversations(session: Session, ids: list[int]) -> list[Any]:
    from socialdesk.conversations.models import Conversation

    if not ids:
        return []
    return list(session.scalars(select(Conversation).where(_among(session, Conversation.id, ids))))


def _announce(
    session: Session,
    conversations: list[Any],
    kind: str,
    data: dict[str, int],
    actor: Member | None,
) -> None:
    from socialdesk.conversations import service as conversations_service

    for conversation in conversations:
        conversations_service.record(
            session, conversation=conversation, kind=kind, actor=actor, data=data
        )
        bus.emit(
            session,
            ConversationChanged(
                organization_id=conversation.organization_id,
                conversation_id=conversation.id,
                fields=("contact",),
                actor_member_id=actor.id if actor else None,
            ),
        )


MAX_NAME = 200  # the column's length
MAX_NOTE = 1000
NOTE = "note"  # the attribute that holds what the team should know about the customer


def update_details(
    session: Session,
    *,
    organization_id: int,
    contact_id: int,
    name: str | None = None,
    is_vip: bool | None = None,
    note: str | None = None,
    actor: Member | None = None,
) -> Contact:
    """Correct a customer's name (a website visitor who said who they are), mark them a VIP
    (which routing rules can act on), or keep a note the whole team sees beside their
    conversations ("prefers to be called", "answers in Polish"; empty removes it). None leaves
    a field as it is. Their conversations that are not resolved refresh in open views."""
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
        # A person decided now: undoing an earlier merge no longer takes the mark away.
        session.execute(
            update(ContactMerge)
            .where(
                ContactMerge.target_id == contact.id,
                ContactMerge.undone_at.is_(None),
                ContactMerge.vip_from_source.is_(True),
            )
            .values(vip_from_source=False)
        )
    if note is not None:
        note = note.strip().replace("\r\n", "\n")
        if len(note) > MAX_NOTE:
            raise ValidationFailed(
                f"the note is {len(note)} characters; keep it under {MAX_NOTE}", field="note"
            )
        if note != contact.attributes.get(NOTE, ""):
            attributes = {k: v for k, v in contact.attributes.items() if k != NOTE}
            contact.attributes = {**attributes, NOTE: note} if note else attributes
            changed.append("note")
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


# Up to this many customers named by a search, the Customers page starts from them and sorts
# them; above it, it walks the customers in the page's order and tests each.
FEW_NAMED = 2_000


class ContactOrder(enum.StrEnum):
    NEWEST = "newest"  # the customers who wrote first most recently
    ACTIVE = "active"  # the customers whose latest conversation moved most recently


def list_page(
    session: Session,
    *,
    organization_id: int,
    query: str | None = None,
    vip_only: bool = False,
    order: ContactOrder = ContactOrder.NEWEST,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Contact]:
    """Contacts one page at a time, newest first or (``ACTIVE``) by their latest conversation's
    activity, most recent first; with ``query``, those whose name or an identity's handle,
    display name or email address starts with it, in any case (``contacts.search``, read along
    its indexes), or, when none does, contains it; with ``vip_only``, VIPs. Merged-away
    contacts are left out, and in the ``ACTIVE`` order so are those without a conversation of
    their own."""
    stmt = select(Contact).where(
        Contact.organization_id == organization_id, Contact.merged_into_id.is_(None)
    )
    # None when nothing is left to look for (blank, or only "@"): then everyone is listed.
    found = contacts_search.matching_ids(
        session, organization_id=organization_id, typed=query or ""
    )
    few = False
    if found is not None:
        named = select(func.count()).select_from(found.limit(FEW_NAMED + 1).subquery())
        how_many = session.scalar(named) or 0
        few = 0 < how_many <= FEW_NAMED
        if not how_many:
            # Nobody's name, handle or address starts with it: look inside them ("Demir" for
            # Elif Demir, "example.com"), reading every customer, which only a search that
            # found nothing the fast way pays for.
            # The typed words as the fast search reads them, their wildcards taken literally.
            words = contacts_search.key_of(query or "")
            inside = select(ContactIdentity.contact_id).where(
                ContactIdentity.organization_id == organization_id,
                or_(
                    ContactIdentity.handle.icontains(words, autoescape=True),
                    ContactIdentity.display_name.icontains(words, autoescape=True),
                ),
            )
            stmt = stmt.where(
                or_(Contact.name.icontains(words, autoescape=True), Contact.id.in_(inside))
            )
        elif few:
            # A join with the customers named brings them into the statement's FROM clause, so
            # the database starts from them; with a membership test it walks every customer
            # of the organization (in the page's order) probing each.
            matched = select(found.subquery().c.id).distinct().subquery()
            stmt = stmt.where(Contact.id == matched.c.id)
        else:
            # Many (a letter or two typed): walking in the page's order finds a page of them
            # after a few probes.
            stmt = stmt.where(Contact.id.in_(found))
    if vip_only:
        stmt = stmt.where(Contact.is_vip.is_(True))
    if order is ContactOrder.ACTIVE:
        criteria = stmt.whereclause
        assert criteria is not None
        return _by_activity(
            session,
            organization_id,
            criteria,
            narrowed=vip_only or few,
            cursor=cursor,
            limit=limit,
        )
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


def _by_activity(
    session: Session,
    organization_id: int,
    criteria: ColumnElement[bool],
    *,
    narrowed: bool,
    cursor: str | None,
    limit: int,
) -> Page[Contact]:
    """The contacts ``criteria`` selects, by their latest conversation. Of every contact: the
    organization's conversations are walked newest activity first (an index range), keeping
    each contact's latest one only, so a page reads about as many conversations as it shows.
    Of a few (``narrowed``: VIPs, a search): their own conversations are read and sorted, which
    does not walk everyone's conversations to find a handful, or none."""
    from socialdesk.conversations import service as conversations_service
    from socialdesk.conversations.models import Conversation

    later = aliased(Conversation)
    newer = (
        select(later.id)
        .where(
            later.contact_id == Conversation.contact_id,
            or_(
                later.last_activity_at > Conversation.last_activity_at,
                and_(
                    later.last_activity_at == Conversation.last_activity_at,
                    later.id > Conversation.id,
                ),
            ),
        )
        .exists()
    )
    latest = select(Conversation).where(~newer)
    if narrowed:
        # By contact only (``criteria`` holds the organization): so the database reads each
        # one's conversations by the contact index, not the organization's by activity.
        latest = latest.where(Conversation.contact_id.in_(select(Contact.id).where(criteria)))
    else:
        latest = latest.join(Contact, Contact.id == Conversation.contact_id).where(
            Conversation.organization_id == organization_id, criteria
        )
    page = conversations_service.latest_activity_page(session, latest, cursor=cursor, limit=limit)
    ids = [c.contact_id for c in page.items if c.contact_id is not None]
    found = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    return Page(items=[found[i] for i in ids if i in found], next_cursor=page.next_cursor)


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
