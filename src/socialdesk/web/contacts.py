"""Desk page of customers (/contacts): find a customer by name or handle on any channel, see
how much they have talked to the desk, open their latest conversation, and (for those with
``contacts.privacy``) reach their data page. A request to see or erase one's data often names
a handle or an address, not a conversation: this is where it is looked up.

Thin: contacts.service finds and pages them; a bad cursor is refused as the API refuses it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from socialdesk.common.deps import DB, Reader
from socialdesk.contacts import service as contacts_service
from socialdesk.web import viewmodels as vm
from socialdesk.web.admin import page_context
from socialdesk.web.render import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/contacts")
def contacts_page(request: Request, actor: Reader, db: DB) -> Response:
    query = request.query_params.get("q", "").strip()[:200]
    cursor = request.query_params.get("cursor") or None
    page = contacts_service.list_page(
        db, organization_id=actor.organization_id, query=query, cursor=cursor, limit=PAGE_SIZE
    )
    ids = [c.id for c in page.items]
    return render(
        request,
        "contacts/list.html",
        {
            **page_context(db, actor),
            "contacts": page.items,
            "next_cursor": page.next_cursor,
            "query": query,
            "identities": contacts_service.identities_for(db, contact_ids=ids),
            "activity": contacts_service.activity_of(db, contact_ids=ids),
            "channel_label": vm.channel_label,
        },
    )
