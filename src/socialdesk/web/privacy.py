"""Desk pages of customers' data, for those with ``contacts.privacy``: one customer's
(/contacts/{id}/privacy: what the desk keeps about them, a JSON export of all of it, and
erasure) and how long resolved conversations are kept (/admin/retention).

Thin: the service (contacts/privacy.py) finds, exports and erases; a refusal is shown on the
page with status 422. The forms are plain POSTs with the session's CSRF token: the export is a
download, and after an erasure the conversation the page was opened from no longer exists.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.common.deps import DB, Actor, PrivacyAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.contacts import privacy, retention
from socialdesk.contacts import service as contacts_service
from socialdesk.web import forms
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, render

router = APIRouter(include_in_schema=False)

# What the person types to confirm an erasure: a word, not the name (names repeat and are
# hard to type exactly).
CONFIRM_WORD = "erase"


def _page(
    request: Request, db: Session, actor: Actor, contact_id: int, error: FormError | None = None
) -> Response:
    held = privacy.holdings(db, organization_id=actor.organization_id, contact_id=contact_id)
    return render(
        request,
        "contacts/privacy.html",
        {
            **page_context(db, actor),
            "contact": held.contact,
            "held": held,
            "identities": contacts_service.identities_for(db, contact_ids=held.contact_ids),
            "confirm_word": CONFIRM_WORD,
            "back": forms.opened_from(request),
            "error": error,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


@router.get("/contacts/{contact_id}/privacy")
def privacy_page(request: Request, contact_id: PathId, actor: PrivacyAdmin, db: DB) -> Response:
    return _page(request, db, actor, contact_id)


@router.post("/contacts/{contact_id}/export")
def export_contact(contact_id: PathId, actor: PrivacyAdmin, db: DB) -> Response:
    document = privacy.export(
        db, organization_id=actor.organization_id, contact_id=contact_id, actor=actor.member
    )
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/contacts/{contact_id}/erase")
def erase_contact(
    request: Request, contact_id: PathId, actor: PrivacyAdmin, form: forms.PostedForm, db: DB
) -> Response:
    name = contacts_service.get_or_raise(
        db, organization_id=actor.organization_id, contact_id=contact_id
    ).name
    erased: list[privacy.Erased] = []

    def erase() -> None:
        if forms.text(form, "confirm").lower() != CONFIRM_WORD:
            raise ValidationFailed(
                f"type {CONFIRM_WORD} in the box to confirm: nothing was erased", field="confirm"
            )
        erased.append(
            privacy.erase(
                db, organization_id=actor.organization_id, contact_id=contact_id, actor=actor.member
            )
        )

    error = attempt(db, "erase", erase)
    if error is not None:
        return _page(request, db, actor, contact_id, error)
    return render(
        request,
        "contacts/erased.html",
        {**page_context(db, actor), "name": name, "erased": erased[0]},
    )


def _retention_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    values: dict[str, str] | None = None,
    error: FormError | None = None,
) -> Response:
    found = retention.retention_settings(db, organization_id=actor.organization_id)
    shown = values or {
        "keep": "days" if found.days is not None else "always",
        "days": str(found.days) if found.days is not None else "",
    }
    return render(
        request,
        "admin/retention.html",
        {
            **page_context(db, actor),
            "section": "retention",
            "values": shown,
            "days": found.days,
            "due": retention.due(db, organization_id=actor.organization_id, now=clock.now()),
            "min_days": retention.MIN_DAYS,
            "max_days": retention.MAX_DAYS,
            "saved": request.query_params.get("saved") == "1",
            "error": error,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


@router.get("/admin/retention")
def retention_page(request: Request, actor: PrivacyAdmin, db: DB) -> Response:
    return _retention_page(request, db, actor)


@router.post("/admin/retention")
def save_retention(
    request: Request, actor: PrivacyAdmin, form: forms.PostedForm, db: DB
) -> Response:
    values = {name: forms.text(form, name) for name in ("keep", "days")}

    def save() -> None:
        days: int | None = None
        if values["keep"] == "days":
            if not values["days"].isdigit():
                raise ValidationFailed(
                    f"say how many days, a whole number from {retention.MIN_DAYS} to "
                    f"{retention.MAX_DAYS}, or keep them always",
                    field="days",
                )
            days = int(values["days"])
        retention.save_retention_settings(
            db, organization_id=actor.organization_id, actor=actor.member, days=days
        )

    error = attempt(db, "retention", save)
    if error is None:
        return RedirectResponse("/admin/retention?saved=1", status_code=303)
    return _retention_page(request, db, actor, values=values, error=error)
