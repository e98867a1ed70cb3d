"""Saved inbox views: kept, listed and deleted here. What a view's query means is the inbox's
own business: it is read with the inbox's parser (``conversations.inbox_query``) before it is
stored, so a view holds only filters the inbox understands, in their canonical form, naming
only the organization's own members, teams and brand accounts."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import Permission
from socialdesk.accounts.permissions import has as has_permission
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.conversations import inbox_query
from socialdesk.conversations.inbox_query import InboxQuery
from socialdesk.saved_views.models import SavedView

MAX_NAME = 80
MAX_QUERY = 1000
# Per member, and shared per organization: a list to choose from, not a store.
MAX_VIEWS = 30


def visible_to(session: Session, *, member: Member) -> list[SavedView]:
    """The views ``member`` sees: shared ones first, then their own, each by name."""
    return list(
        session.scalars(
            select(SavedView)
            .where(
                SavedView.organization_id == member.organization_id,
                or_(SavedView.member_id.is_(None), SavedView.member_id == member.id),
            )
            .order_by(SavedView.member_id.is_not(None), func.lower(SavedView.name), SavedView.id)
        )
    )


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed("give the view a name", field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed(
            f"the name is {len(name)} characters; keep it under {MAX_NAME}", field="name"
        )
    return name


def _canonical(session: Session, query: str, *, organization_id: int) -> str:
    if len(query) > MAX_QUERY:
        raise ValidationFailed("these filters are too long to save", field="query")
    parsed = inbox_query.parse_string(query)
    return inbox_query.check(session, parsed, organization_id=organization_id).query_string()


def _called(views: list[SavedView], name: str) -> SavedView | None:
    """The view among ``views`` with that name: names are told apart by more than case and
    spacing."""
    folded = " ".join(name.split()).lower()
    return next((v for v in views if v.name.lower() == folded), None)


def _name_taken(name: str, *, shared: bool) -> Conflict:
    where = "the team's views" if shared else "your views"
    return Conflict(f"{where} already have one called {name!r}", field="name")


def named(session: Session, *, member: Member, name: str, shared: bool) -> SavedView | None:
    """The view of that name in the member's own list (or, ``shared``, the team's), if any."""
    owner = None if shared else member.id
    return _called(_list_of(session, member.organization_id, owner), name)


def create(
    session: Session, *, member: Member, name: str, query: str, shared: bool = False
) -> SavedView:
    """Save the inbox filters ``query`` (a query string, as the address bar shows it) under
    ``name``, for ``member`` alone or (``shared``, routing admins only) for the whole team. An
    unknown filter value is refused by field; a name is used once per list: saving it again is
    refused, naming it (``update`` replaces a view's filters). A member, team or brand account
    that is not the organization's is refused by field too."""
    name = _name(name)
    canonical = _canonical(session, query, organization_id=member.organization_id)
    if shared and not has_permission(member, Permission.ROUTING_MANAGE):
        raise PermissionDenied("only admins may share a view with the whole team")
    owner = None if shared else member.id
    mine = _list_of(session, member.organization_id, owner)
    if _called(mine, name) is not None:
        raise _name_taken(name, shared=shared)
    if len(mine) >= MAX_VIEWS:
        raise ValidationFailed(
            f"{MAX_VIEWS} views is the most a list keeps; delete one first", field="name"
        )
    view = SavedView(
        organization_id=member.organization_id,
        member_id=owner,
        name=name,
        query=canonical,
        created_by_id=member.id,
        created_at=clock.now(),
    )
    session.add(view)
    session.flush()
    return view


def update(
    session: Session,
    *,
    member: Member,
    view_id: int,
    name: str | None = None,
    query: str | None = None,
) -> SavedView:
    """Rename a view, or replace its filters with ``query``; None leaves either as it is. One's
    own views, or (routing admins) the team's; the name stays unique in its list."""
    view = _editable(session, member=member, view_id=view_id, verb="change")
    if name is not None:
        name = _name(name)
        shared = view.member_id is None
        taken = named(session, member=member, name=name, shared=shared)
        if taken is not None and taken.id != view.id:
            raise _name_taken(name, shared=shared)
        view.name = name
    if query is not None:
        view.query = _canonical(session, query, organization_id=member.organization_id)
    session.flush()
    return view


def get(session: Session, *, member: Member, view_id: int) -> SavedView:
    """A view ``member`` sees (a shared one, or their own); anyone else's is not found."""
    view = session.get(SavedView, view_id)
    if (
        view is None
        or view.organization_id != member.organization_id
        or view.member_id not in (None, member.id)
    ):
        raise NotFound(f"view {view_id} does not exist")
    return view


def filters_of(view: SavedView) -> InboxQuery:
    """The inbox filters the view holds. A view whose filters the inbox no longer reads (a
    team deleted since, say, still reads; a value a later version dropped does not) says so."""
    return inbox_query.parse_string(view.query)


def _editable(session: Session, *, member: Member, view_id: int, verb: str) -> SavedView:
    view = get(session, member=member, view_id=view_id)
    if view.member_id is None and not has_permission(member, Permission.ROUTING_MANAGE):
        raise PermissionDenied(f"only admins may {verb} a view shared with the whole team")
    return view


def delete(session: Session, *, member: Member, view_id: int) -> None:
    """Delete one of the member's own views, or (routing admins) a shared one."""
    session.delete(_editable(session, member=member, view_id=view_id, verb="delete"))
    session.flush()


def _list_of(session: Session, organization_id: int, member_id: int | None) -> list[SavedView]:
    owner = SavedView.member_id.is_(None) if member_id is None else SavedView.member_id == member_id
    return list(
        session.scalars(
            select(SavedView).where(SavedView.organization_id == organization_id, owner)
        )
    )
