"""REST API of saved inbox views (mounted under /api).

Every member keeps their own views and sees the team's; admins who keep the desk's settings
(``routing.manage``) share views with the whole team. A view's conversations are read here
with the view's own filters and order, so a client needs no copy of the inbox's filter rules.
An id in the path names one of the caller's views or a shared one; anyone else's is a 404.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Response, status

from socialdesk.common.deps import DB, PageCursor, Reader
from socialdesk.common.errors import ValidationFailed
from socialdesk.common.schemas import Limit, RowId, api_token_scheme, error_responses
from socialdesk.conversations import inbox_query
from socialdesk.conversations.api import conversation_reads
from socialdesk.conversations.schemas import ConversationPage
from socialdesk.saved_views import service
from socialdesk.saved_views.models import SavedView
from socialdesk.saved_views.schemas import SavedViewRead, SavedViewUpdate, SavedViewWrite

router = APIRouter(
    tags=["saved views"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)


def _read(view: SavedView) -> SavedViewRead:
    return SavedViewRead(
        id=view.id,
        name=view.name,
        shared=view.member_id is None,
        filters=dict(parse_qsl(view.query)),
        query=view.query,
        created_by_id=view.created_by_id,
        created_at=view.created_at,
    )


def _view(view_id: RowId, db: DB, actor: Reader) -> SavedView:
    return service.get(db, member=actor.member, view_id=view_id)


ViewDep = Annotated[SavedView, Depends(_view)]


@router.get("/views", summary="The inbox views you see: the team's, then your own, by name")
def list_views(db: DB, actor: Reader) -> list[SavedViewRead]:
    return [_read(v) for v in service.visible_to(db, member=actor.member)]


@router.post(
    "/views",
    status_code=status.HTTP_201_CREATED,
    summary="Save inbox filters under a name (a 422 names the filter that is wrong; 409: the "
    "name is taken in that list)",
    responses=error_responses(403, 409),
)
def create_view(body: SavedViewWrite, db: DB, actor: Reader) -> SavedViewRead:
    view = service.create(
        db,
        member=actor.member,
        name=body.name,
        query=_query(body.filters),
        shared=body.shared,
    )
    return _read(view)


def _query(filters: dict[str, str]) -> str:
    """The filters as the inbox's query string; a name the inbox does not filter by is named."""
    unknown = sorted(set(filters) - set(inbox_query.FIELDS))
    if unknown:
        raise ValidationFailed(
            f"filters has no {', '.join(map(repr, unknown))}; the inbox filters by "
            f"{', '.join(inbox_query.FIELDS)}",
            field="filters",
        )
    return urlencode(filters)


@router.get("/views/{view_id}", summary="One view", responses=error_responses(403, 404))
def get_view(view: ViewDep) -> SavedViewRead:
    return _read(view)


@router.patch(
    "/views/{view_id}",
    summary="Rename one of your views, or replace its filters (admins: the team's too)",
    responses=error_responses(403, 404, 409),
)
def update_view(view: ViewDep, body: SavedViewUpdate, db: DB, actor: Reader) -> SavedViewRead:
    changed = service.update(
        db,
        member=actor.member,
        view_id=view.id,
        name=body.name,
        query=_query(body.filters) if body.filters is not None else None,
    )
    return _read(changed)


@router.get(
    "/views/{view_id}/conversations",
    summary="The conversations the view shows, in its order, as the inbox lists them",
    responses=error_responses(403, 404),
)
def view_conversations(
    view: ViewDep, db: DB, actor: Reader, cursor: PageCursor, limit: Limit = 50
) -> ConversationPage:
    page = inbox_query.page(
        db,
        service.filters_of(view),
        organization_id=actor.organization_id,
        me_id=actor.member.id,
        cursor=cursor.value,
        limit=limit,
    )
    return ConversationPage(
        items=conversation_reads(db, page.items), next_cursor=cursor.next(page.next_cursor)
    )


@router.delete(
    "/views/{view_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one of your views, or (admins) one of the team's",
    responses=error_responses(403, 404),
)
def delete_view(view: ViewDep, db: DB, actor: Reader) -> Response:
    service.delete(db, member=actor.member, view_id=view.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
