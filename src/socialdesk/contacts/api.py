"""REST API of the contacts domain (mounted under /api): find, read and merge customers,
and export or erase everything kept about one of them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from socialdesk.common.deps import DB, Manager, PageCursor, PrivacyAdmin, Reader
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.schemas import Limit, RowId, api_token_scheme, error_responses
from socialdesk.contacts import duplicates, privacy
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.contacts.schemas import (
    ContactErasure,
    ContactMerge,
    ContactPage,
    ContactRead,
    ContactUpdate,
    IdentityRead,
    MergeRead,
    SuggestedMerge,
    Unmerged,
)
from socialdesk.contacts.service import ContactOrder

router = APIRouter(
    prefix="/contacts",
    tags=["contacts"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)


def _contact(contact_id: RowId, db: DB, actor: Reader) -> Contact:
    # A dependency, so an id from another organization is a 404 before anything else is read.
    return contacts_service.get_or_raise(
        db, organization_id=actor.organization_id, contact_id=contact_id
    )


ContactDep = Annotated[Contact, Depends(_contact)]


def _read(contact: Contact, identities: list[ContactIdentity]) -> ContactRead:
    return ContactRead(
        id=contact.id,
        name=contact.name,
        is_vip=contact.is_vip,
        attributes=dict(contact.attributes),
        merged_into_id=contact.merged_into_id,
        created_at=contact.created_at,
        identities=[IdentityRead.model_validate(i) for i in identities],
    )


def _read_one(db: Session, contact: Contact) -> ContactRead:
    return _read(contact, contacts_service.identities(db, contact_id=contact.id))


@router.get(
    "",
    summary="Contacts, newest first or (order=active) by their latest conversation; q finds "
    "those whose name, or a handle, display name or email address, starts with it (any case, "
    "a handle with or without its @); vip=true lists VIPs only",
)
def list_contacts(
    db: DB,
    actor: Reader,
    *,
    q: Annotated[str | None, Query(max_length=200)] = None,
    vip: bool = False,
    order: ContactOrder = ContactOrder.NEWEST,
    cursor: PageCursor,
    limit: Limit = 50,
) -> ContactPage:
    page = contacts_service.list_page(
        db,
        organization_id=actor.organization_id,
        query=q,
        vip_only=vip,
        order=order,
        cursor=cursor.value,
        limit=limit,
    )
    identities = contacts_service.identities_for(db, contact_ids=[c.id for c in page.items])
    return ContactPage(
        items=[_read(c, identities[c.id]) for c in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.get(
    "/{contact_id}", summary="One contact with their identities", responses=error_responses(404)
)
def get_contact(contact: ContactDep, db: DB) -> ContactRead:
    return _read_one(db, contact)


@router.patch(
    "/{contact_id}",
    summary="Correct a customer's name, or mark them a VIP",
    responses=error_responses(403, 404),
)
def update_contact(body: ContactUpdate, actor: Manager, contact: ContactDep, db: DB) -> ContactRead:
    updated = contacts_service.update_details(
        db,
        organization_id=actor.organization_id,
        contact_id=contact.id,
        name=body.name,
        is_vip=body.is_vip,
        note=body.note,
        actor=actor.member,
    )
    return _read_one(db, updated)


@router.post(
    "/{contact_id}/merge",
    summary="Merge this contact into another (the same person); returns the survivor",
    responses=error_responses(403, 404),
)
def merge_contact(body: ContactMerge, contact: ContactDep, db: DB, actor: Manager) -> ContactRead:
    try:
        survivor = contacts_service.merge(
            db,
            organization_id=actor.organization_id,
            source_id=contact.id,
            target_id=body.into_id,
            actor=actor.member,
        )
    except NotFound as exc:
        # This contact was found already, so what is missing is the one to merge into.
        raise NotFound(exc.message, field="into_id") from None
    except ValidationFailed as exc:
        # The service names its own parameter; the API's field is into_id.
        if exc.field == "target_id":
            raise ValidationFailed(exc.message, field="into_id") from None
        raise
    return _read_one(db, survivor)


@router.get(
    "/{contact_id}/likely-same",
    summary="Other customers who are likely the same person (the same address or full name), "
    "to merge after a look; pairs once parted are left out",
    responses=error_responses(404),
)
def likely_same(contact: ContactDep, db: DB, actor: Reader) -> list[SuggestedMerge]:
    found = duplicates.suggestions(db, organization_id=actor.organization_id, contact=contact)
    identities = contacts_service.identities_for(db, contact_ids=[s.contact.id for s in found])
    return [
        SuggestedMerge(contact=_read(s.contact, identities[s.contact.id]), reason=s.reason)
        for s in found
    ]


@router.get(
    "/{contact_id}/merges",
    summary="The merges this contact took part in, into it or out of it, newest first",
    responses=error_responses(404),
)
def list_merges(contact: ContactDep, db: DB, actor: Reader) -> list[MergeRead]:
    return [
        MergeRead(
            id=m.id,
            source_id=m.source_id,
            target_id=m.target_id,
            identities=len(m.identity_ids),
            conversations=len(m.conversation_ids),
            actor_member_id=m.actor_member_id,
            created_at=m.created_at,
            undone_at=m.undone_at,
            undone_by_id=m.undone_by_id,
        )
        for m in contacts_service.merges_of(
            db, organization_id=actor.organization_id, contact_id=contact.id
        )
    ]


@router.post(
    "/{contact_id}/merges/{merge_id}/undo",
    summary="Undo a merge: the two were not the same person",
    responses=error_responses(403, 404),
)
def undo_merge(merge_id: RowId, contact: ContactDep, db: DB, actor: Manager) -> Unmerged:
    # An id of a merge this customer had no part in is not found, before anything else.
    contacts_service.merge_of(
        db, organization_id=actor.organization_id, contact_id=contact.id, merge_id=merge_id
    )
    undone = contacts_service.unmerge(
        db, organization_id=actor.organization_id, merge_id=merge_id, actor=actor.member
    )
    return Unmerged(
        contact=_read_one(db, undone.contact),
        conversations_back=undone.conversations_back,
        conversations_kept=undone.conversations_kept,
    )


@router.post(
    "/{contact_id}/export",
    summary="Everything kept about this customer, as one JSON document to review and hand "
    "over (recorded in the audit trail)",
    responses=error_responses(403, 404),
)
def export_contact(
    actor: PrivacyAdmin, contact: ContactDep, db: DB, response: Response
) -> dict[str, Any]:
    document = privacy.export(
        db, organization_id=actor.organization_id, contact_id=contact.id, actor=actor.member
    )
    response.headers["Content-Disposition"] = f'attachment; filename="contact-{contact.id}.json"'
    response.headers["Cache-Control"] = "no-store"
    return document


@router.delete(
    "/{contact_id}",
    summary="Erase this customer: their identities, conversations, messages and raw events, "
    "for good (recorded in the audit trail, without their name)",
    responses=error_responses(403, 404, 409),
)
def erase_contact(actor: PrivacyAdmin, contact: ContactDep, db: DB) -> ContactErasure:
    erased = privacy.erase(
        db, organization_id=actor.organization_id, contact_id=contact.id, actor=actor.member
    )
    return ContactErasure(**asdict(erased))
