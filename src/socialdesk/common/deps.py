"""Typed FastAPI dependencies shared by the API and the web UI: the unit of work, who is
asking (session cookie or API token), permission checks, CSRF, and the cursor of an API list."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from socialdesk.accounts import audit, permissions
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuthSession, Member
from socialdesk.accounts.permissions import Permission
from socialdesk.common import pagination
from socialdesk.common.errors import NotAuthenticated, PermissionDenied
from socialdesk.common.schemas import Cursor
from socialdesk.db.session import get_sessionmaker, session_scope

SESSION_COOKIE = "sd_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _unit_of_work(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the endpoint returns, rolled back if it
    raised. Writes take the database's write lock up front; reads never do."""
    write = request.method not in SAFE_METHODS
    session = get_sessionmaker(write=write)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is built, so a failed commit is an error
# response and a client never sees "ok" for something that was not stored.
DB = Annotated[Session, Depends(_unit_of_work, scope="function")]


@dataclass(frozen=True)
class Actor:
    """The member making this request, and how they proved it."""

    member: Member
    via: Literal["session", "token"]
    auth_session: AuthSession | None = None
    scopes: tuple[str, ...] = ()

    @property
    def organization_id(self) -> int:
        return self.member.organization_id

    @property
    def csrf_token(self) -> str | None:
        return self.auth_session.csrf_token if self.auth_session else None


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette caches it; the endpoint can read it again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise PermissionDenied("the form's security token is missing or stale: reload the page")


def _authenticate(request: Request, db: DB) -> Actor:
    """Who is asking, by API token (Authorization: Bearer) or login cookie. A plain def:
    FastAPI runs it in its thread pool, so waiting for the database (SQLite's write lock,
    taken by the first query of a request that writes) never blocks the event loop."""
    token = _bearer(request)
    if token is not None:
        found_token = accounts_service.resolve_api_token(db, token=token)
        if found_token is None:
            raise NotAuthenticated("the API token is unknown or revoked")
        record, member = found_token
        if accounts_service.token_touch_due(record):
            if request.method in SAFE_METHODS:
                # A read takes no write lock: note the use in a short write of its own.
                with session_scope() as writer:
                    accounts_service.touch_api_token(writer, token_id=record.id)
            else:
                accounts_service.touch_api_token(db, token_id=record.id)
        audit.act_as(db, member_id=member.id, source_address=_client(request))
        return Actor(member=member, via="token", scopes=tuple(record.scopes))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = accounts_service.resolve_session(db, token=cookie)
        if found is not None:
            auth, member = found
            audit.act_as(db, member_id=member.id, source_address=_client(request))
            return Actor(member=member, via="session", auth_session=auth)
    raise NotAuthenticated("log in first, or send an API token as 'Authorization: Bearer <token>'")


async def current_actor(request: Request, actor: Annotated[Actor, Depends(_authenticate)]) -> Actor:
    """Authenticate by API token or login cookie. Cookie-authenticated requests that change
    something must carry the session's CSRF token (read from the form when not a header,
    which needs the event loop; no database work happens here)."""
    if actor.auth_session is not None and request.method not in SAFE_METHODS:
        await _check_csrf(request, actor.auth_session.csrf_token)
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require(permission: Permission) -> Callable[[Actor], Actor]:
    """A dependency that lets the request through only with ``permission``."""

    def check(actor: CurrentActor) -> Actor:
        permissions.require(actor.member, permission, list(actor.scopes) or None)
        return actor

    # Read by the security tests, which derive each route's required permission from its
    # dependencies rather than from a hand-kept list.
    check.permission = permission  # type: ignore[attr-defined]
    return check


Reader = Annotated[Actor, Depends(require(Permission.READ))]
Replier = Annotated[Actor, Depends(require(Permission.REPLY))]
Manager = Annotated[Actor, Depends(require(Permission.MANAGE))]
NoteTaker = Annotated[Actor, Depends(require(Permission.NOTE))]
ChannelAdmin = Annotated[Actor, Depends(require(Permission.CHANNELS_MANAGE))]
MemberAdmin = Annotated[Actor, Depends(require(Permission.MEMBERS_MANAGE))]
RoutingAdmin = Annotated[Actor, Depends(require(Permission.ROUTING_MANAGE))]
PrivacyAdmin = Annotated[Actor, Depends(require(Permission.PRIVACY))]


# The parameters that page through a list rather than choose it.
_PAGING_PARAMETERS = frozenset({"cursor", "limit"})


@dataclass(frozen=True)
class ListCursor:
    """Where a page of an API list starts: ``value`` is the cursor the service pages from (None
    for the first page), and ``next`` binds the cursor of the page after it to the same list."""

    value: str | None
    scope: str

    def next(self, cursor: str | None) -> str | None:
        return pagination.bind_cursor(cursor, scope=self.scope)


def _list_cursor(request: Request, actor: CurrentActor, cursor: Cursor = None) -> ListCursor:
    """The ``cursor`` parameter of a list, checked to be one this list issued. The list is its
    path (with its ids), its query parameters other than the paging ones, and who asks: a
    cursor from another list, from the same list with other filters or another order, or
    edited, would otherwise page silently through the wrong rows. The page size may change
    between pages. Depends on who asks, so an unauthenticated request is a 401 before its
    cursor is read."""
    chosen = sorted(
        (name, value)
        for name, value in request.query_params.multi_items()
        if name not in _PAGING_PARAMETERS
    )
    scope = json.dumps([request.url.path, chosen, actor.member.id])
    return ListCursor(value=pagination.unbind_cursor(cursor, scope=scope), scope=scope)


PageCursor = Annotated[ListCursor, Depends(_list_cursor)]
