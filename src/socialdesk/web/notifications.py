"""Desk pages of the notifications domain: my notifications, marking them read, and the
unread count the header shows.

Every lookup is by the caller's member id: nobody sees or marks another member's
notifications (someone else's id is "not found").
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from socialdesk.common.deps import DB, Reader
from socialdesk.notifications import service as notifications_service
from socialdesk.web import forms
from socialdesk.web.admin import page_context
from socialdesk.web.forms import PathId
from socialdesk.web.render import is_htmx, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# Pages that show the count listen for this event (an HX-Trigger answer header) to refresh it.
CHANGED_EVENT = "sd-notifications-changed"


@router.get("/notifications")
def notifications_page(
    request: Request, actor: Reader, db: DB, *, unread: bool = False, cursor: str | None = None
) -> Response:
    found = notifications_service.page(
        db, member=actor.member, unread_only=unread, cursor=cursor or None, limit=PAGE_SIZE
    )
    context = {
        **page_context(db, actor),
        "items": found.items,
        "next_cursor": found.next_cursor,
        "unread_only": unread,
        "unread_count": notifications_service.unread_count(db, member=actor.member),
    }
    template = "notifications/_list.html" if is_htmx(request) else "notifications/page.html"
    return render(request, template, context)


@router.get("/notifications/badge")
def badge(request: Request, actor: Reader, db: DB) -> Response:
    """The header's link with the unread count (an HTMX fragment)."""
    return render(
        request,
        "notifications/_badge.html",
        {"unread_count": notifications_service.unread_count(db, member=actor.member)},
        headers={"Cache-Control": "no-store"},
    )


def _after_marking(target: str) -> Response:
    # A plain form post: the browser follows the redirect (the header's count is re-read on
    # the next page). HX-Trigger lets an HTMX caller refresh counts on the page it stays on.
    return RedirectResponse(target, status_code=303, headers={"HX-Trigger": CHANGED_EVENT})


@router.post("/notifications/read-all")
def mark_all_read(request: Request, actor: Reader, db: DB) -> Response:
    notifications_service.mark_all_read(db, member=actor.member)
    return _after_marking("/notifications")


@router.post("/notifications/{notification_id}/read")
def mark_read(
    request: Request, notification_id: PathId, actor: Reader, form: forms.PostedForm, db: DB
) -> Response:
    """Mark one read; with ``next`` (the notification's own link), go there: this is what
    opening a notification does."""
    notification = notifications_service.mark_read(
        db, member=actor.member, notification_id=notification_id
    )
    wants_link = forms.text(form, "open") == "1"
    target = forms.safe_next(notification.link, "/notifications") if wants_link else None
    return _after_marking(target or "/notifications")
