"""Desk pages of customers: the list (/contacts), to find a customer by name or handle on
any channel, see how much they have talked to the desk, open their latest conversation, and
(for those with ``contacts.privacy``) reach their data page, since a request to see or erase
one's data often names a handle or an address, not a conversation; a customer's own page
(/contacts/{id}): who they are on each channel, every conversation, the promises open to
them; and the merge page
(/contacts/{id}/merge), where an agent says that two customers are the same person, so that
one history follows them across channels, and undoes a merge that was a mistake.

Thin: contacts.service finds and pages them; a bad cursor is refused as the API refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.commitments import service as commitments_service
from socialdesk.common.deps import DB, Actor, Manager, Reader
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.contacts import duplicates
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact, ContactMerge
from socialdesk.contacts.service import ContactOrder
from socialdesk.conversations import service as conversations_service
from socialdesk.followups import service as followups_service
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


def _profile(
    request: Request, db: Session, actor: Actor, contact: Contact, *, error: FormError | None = None
) -> Response:
    cursor = request.query_params.get("cursor") or None
    page = conversations_service.of_contact(
        db, organization_id=actor.organization_id, contact_id=contact.id, cursor=cursor
    )
    org = vm.organization(db, actor.organization_id)
    identities = contacts_service.identities(db, contact_id=contact.id)
    return render(
        request,
        "contacts/profile.html",
        {
            **page_context(db, actor),
            "contact": contact,
            "identities": identities,
            "activity": contacts_service.activity_of(db, contact_ids=[contact.id])[contact.id],
            "conversations": page.items,
            "next_cursor": page.next_cursor,
            "directory": vm.Directory.load(db, organization_id=actor.organization_id),
            "promises": commitments_service.open_for_contact(
                db, organization_id=actor.organization_id, contact_id=contact.id
            ),
            "answers": followups_service.answered_by_contact(
                db, organization_id=actor.organization_id, contact_id=contact.id
            ),
            "tz": commitments_service.zone_of(org.timezone),
            "likely": duplicates.suggestions(
                db,
                organization_id=actor.organization_id,
                contact=contact,
                by_name=False,
                identities=identities,
            ),
            "merges": len(
                contacts_service.merges_of(
                    db, organization_id=actor.organization_id, contact_id=contact.id
                )
            ),
            "error": error,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


@router.get("/contacts/{contact_id}")
def contact_page(request: Request, contact_id: PathId, actor: Reader, db: DB) -> Response:
    """One customer: who they are on each channel, every conversation they had, and the
    promises still open to them. A customer merged into another leads to that one."""
    contact = contacts_service.get_or_raise(
        db, organization_id=actor.organization_id, contact_id=contact_id
    )
    if contact.merged_into_id is not None:
        survivor = contacts_service.resolve_merged(db, contact)
        return RedirectResponse(f"/contacts/{survivor.id}", status_code=303)
    return _profile(request, db, actor, contact)


@router.post("/contacts/{contact_id}/details")
def edit_details(
    request: Request, contact_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    """The name and VIP mark, from the customer's page (an unticked box is "not a VIP")."""

    def save() -> None:
        contacts_service.update_details(
            db,
            organization_id=actor.organization_id,
            contact_id=contact_id,
            name=forms.text(form, "name"),
            is_vip=forms.text(form, "vip") == "1",
            note=forms.text(form, "note") if "note" in form else None,
            actor=actor.member,
        )

    error = attempt(db, "details", save)
    if error is not None:
        contact = contacts_service.get_or_raise(
            db, organization_id=actor.organization_id, contact_id=contact_id
        )
        return _profile(request, db, actor, contact, error=error)
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)


def _merged(db: Session, actor: Actor, raw: str) -> Contact | None:
    """The survivor of the merge just made (?merged=ID), to say so; anything else is none."""
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ROW_ID:
        return None
    try:
        return contacts_service.get_or_raise(
            db, organization_id=actor.organization_id, contact_id=int(raw)
        )
    except NotFound:
        return None


@router.get("/contacts")
def contacts_page(request: Request, actor: Reader, db: DB) -> Response:
    params = request.query_params
    query = params.get("q", "").strip()[:200]
    cursor = params.get("cursor") or None
    # Recently active first unless asked otherwise; an unknown order is the default, as an
    # unknown filter value is elsewhere in the desk's pages.
    order = (
        ContactOrder.NEWEST if params.get("order") == ContactOrder.NEWEST else ContactOrder.ACTIVE
    )
    vip_only = params.get("vip") == "1"
    page = contacts_service.list_page(
        db,
        organization_id=actor.organization_id,
        query=query,
        vip_only=vip_only,
        order=order,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    ids = [c.id for c in page.items]
    merged = _merged(db, actor, request.query_params.get("merged", ""))
    return render(
        request,
        "contacts/list.html",
        {
            "merged": merged,
            **page_context(db, actor),
            "contacts": page.items,
            "next_cursor": page.next_cursor,
            "query": query,
            "order": order.value,
            "vip_only": vip_only,
            "identities": contacts_service.identities_for(db, contact_ids=ids),
            "activity": contacts_service.activity_of(db, contact_ids=ids),
        },
    )


@dataclass(frozen=True)
class _Undone:
    """The notice after an undone merge (?undone=MERGE&back=N&kept=M)."""

    merge: ContactMerge
    back: int
    kept: int


def _undone(request: Request, merges: list[ContactMerge]) -> _Undone | None:
    params = request.query_params
    raw, back, kept = params.get("undone", ""), params.get("back", "0"), params.get("kept", "0")
    if not (raw.isdigit() and back.isdigit() and kept.isdigit()):
        return None
    merge = next((m for m in merges if m.id == int(raw) and m.undone_at is not None), None)
    return _Undone(merge, int(back), int(kept)) if merge else None


def _merge_page(
    request: Request,
    db: Session,
    actor: Actor,
    contact_id: int,
    *,
    error: FormError | None = None,
) -> Response:
    contact = contacts_service.get_or_raise(
        db, organization_id=actor.organization_id, contact_id=contact_id
    )
    merges = contacts_service.merges_of(
        db, organization_id=actor.organization_id, contact_id=contact.id
    )
    query = request.query_params.get("q", "").strip()[:200]
    found = (
        [
            c
            for c in contacts_service.list_page(
                db, organization_id=actor.organization_id, query=query, limit=PAGE_SIZE
            ).items
            if c.id != contact.id
        ]
        if query
        else []
    )
    likely = (
        []
        if query or contact.merged_into_id is not None
        else duplicates.suggestions(db, organization_id=actor.organization_id, contact=contact)
    )
    ids = [contact.id, *(c.id for c in found), *(s.contact.id for s in likely)]
    return render(
        request,
        "contacts/merge.html",
        {
            **page_context(db, actor),
            "contact": contact,
            "found": found,
            "likely": likely,
            "query": query,
            "back": forms.opened_from(request),
            "identities": contacts_service.identities_for(db, contact_ids=ids),
            "activity": contacts_service.activity_of(db, contact_ids=ids),
            "merges": merges,
            "undone": _undone(request, merges),
            "people": contacts_service.briefs(
                db, contact_ids=sorted({i for m in merges for i in (m.source_id, m.target_id)})
            ),
            "members": {
                m.id: m.name
                for m in accounts_service.list_members(db, organization_id=actor.organization_id)
            },
            "error": error,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


@router.get("/contacts/{contact_id}/merge")
def merge_page(request: Request, contact_id: PathId, actor: Manager, db: DB) -> Response:
    return _merge_page(request, db, actor, contact_id)


@router.post("/contacts/{contact_id}/merge")
def merge_contact(
    request: Request, contact_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    survivor: list[int] = []

    def merge() -> None:
        into = forms.optional_id(form, "into_id")
        if into is None:
            raise ValidationFailed("choose the customer this one is the same as", field="into_id")
        survivor.append(
            contacts_service.merge(
                db,
                organization_id=actor.organization_id,
                source_id=contact_id,
                target_id=into,
                actor=actor.member,
            ).id
        )

    error = attempt(db, "merge", merge)
    if error is not None:
        return _merge_page(request, db, actor, contact_id, error=error)
    back = forms.opened_from(request)
    where = f"/conversations/{back}" if back else f"/contacts?merged={survivor[0]}"
    return RedirectResponse(where, status_code=303)


@router.post("/contacts/{contact_id}/merges/{merge_id}/undo")
def undo_merge(
    request: Request,
    contact_id: PathId,
    merge_id: PathId,
    *,
    actor: Manager,
    form: forms.PostedForm,
    db: DB,
) -> Response:
    # An id of a merge this customer had no part in is not found, before anything else.
    contacts_service.merge_of(
        db, organization_id=actor.organization_id, contact_id=contact_id, merge_id=merge_id
    )
    done: list[contacts_service.Unmerged] = []

    def undo() -> None:
        done.append(
            contacts_service.unmerge(
                db, organization_id=actor.organization_id, merge_id=merge_id, actor=actor.member
            )
        )

    error = attempt(db, "undo", undo)
    if error is not None:
        return _merge_page(request, db, actor, contact_id, error=error)
    result = done[0]
    back = forms.opened_from(request)
    where = (
        f"/contacts/{result.contact.id}/merge?undone={merge_id}"
        f"&back={result.conversations_back}&kept={result.conversations_kept}"
        + (f"&conversation={back}" if back else "")
    )
    return RedirectResponse(where, status_code=303)
