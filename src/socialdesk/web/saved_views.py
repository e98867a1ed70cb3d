"""The inbox's saved views: save the filters on screen under a name (a member's own, or an
admin's for the whole team), and delete one. Thin: saved_views.service keeps them, and reads
the filters with the inbox's own parser."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from socialdesk.common.deps import DB, Reader
from socialdesk.common.errors import DomainError
from socialdesk.conversations import inbox_query
from socialdesk.saved_views import service
from socialdesk.web import forms
from socialdesk.web.forms import PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, render
from socialdesk.web.views import inbox_context

router = APIRouter(include_in_schema=False)


@router.post("/inbox/views")
def save_view(request: Request, actor: Reader, form: forms.PostedForm, db: DB) -> Response:
    raw = forms.text(form, "query")
    name = forms.text(form, "name")
    shared = forms.text(form, "shared") == "1"
    saved: list[str] = []

    def save() -> None:
        # "Replace its filters", offered when the name is taken: the view keeps its name.
        replace = forms.text(form, "replace") == "1"
        same = service.named(db, member=actor.member, name=name, shared=shared) if replace else None
        if same is not None:
            view = service.update(db, member=actor.member, view_id=same.id, query=raw)
        else:
            view = service.create(db, member=actor.member, name=name, query=raw, shared=shared)
        saved.append(view.query)

    error = attempt(db, "view", save)
    if error is None:
        return RedirectResponse(f"/?{saved[0]}" if saved[0] else "/", status_code=303)
    try:
        query = inbox_query.check(
            db, inbox_query.parse_string(raw), organization_id=actor.organization_id
        )
    except DomainError:  # the filters themselves were refused: show the inbox as it opens
        query = inbox_query.InboxQuery()
    context = {
        **inbox_context(db, actor, query),
        "view_error": error,
        "view_name": name,
        "view_shared": shared,
        # The name is taken in that list: offer to replace that view's filters instead.
        "view_replace": service.named(db, member=actor.member, name=name, shared=shared)
        is not None,
    }
    return render(request, "inbox.html", context, status_code=UNPROCESSABLE)


@router.post("/inbox/views/{view_id}/delete")
def delete_view(
    request: Request, view_id: PathId, actor: Reader, form: forms.PostedForm, db: DB
) -> Response:
    service.delete(db, member=actor.member, view_id=view_id)
    return RedirectResponse(forms.safe_next(forms.text(form, "next"), "/"), status_code=303)
