"""Role x route: every route of the app, enumerated from the app itself, called by a member of
every role; each role gets exactly what ROLE_PERMISSIONS allows it (403 where not allowed,
anything but 403 where allowed). The permission a route needs is read from its dependencies,
so a new route is covered the day it is added; a new route without a role check fails here
until it is listed below as public (with the reason) or as open to any member."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.accounts.permissions import ROLE_PERMISSIONS, TOKEN_SCOPES, Permission
from tests.security.routes import RouteInfo
from tests.security.world import build_world, status_of

# Routes anyone may call without logging in, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/login"): "the login form",
    ("POST", "/login"): "logging in (guarded by its own double-submit token)",
    ("GET", "/login/sso"): "single sign-on: leaves for the OpenID Connect provider",
    ("GET", "/login/sso/callback"): "single sign-on: the provider's answer (state + PKCE)",
    ("GET", "/chat/{public_key}"): "the website chat page for visitors",
    ("GET", "/chat/{public_key}/messages"): "a visitor's own messages (visitor cookie)",
    ("POST", "/chat/{public_key}/messages"): "a visitor writes (visitor cookie + token)",
    ("GET", "/chat/{public_key}/stream"): "live replies for a visitor (visitor cookie)",
    ("GET", "/chat/{public_key}/attachments/{attachment_id}"): (
        "a file sent to a visitor, only from their own chat's replies (visitor cookie)"
    ),
    ("GET", "/chat/{public_key}/widget.js"): "the widget script brand websites embed",
    ("GET", "/webhooks/facebook/{public_key}"): "Facebook's webhook handshake",
    ("POST", "/webhooks/facebook/{public_key}"): "Facebook's events (signature checked)",
    ("GET", "/invitations/{token}"): "accepting an invitation: the link is the credential",
    ("POST", "/invitations/{token}"): "accepting an invitation: the link is the credential",
    ("GET", "/password-reset/{token}"): "resetting a password: the link is the credential",
    ("POST", "/password-reset/{token}"): "resetting a password: the link is the credential",
    ("GET", "/static"): "stylesheets, scripts and images",
    ("GET", "/openapi.json"): "the API's description (no data)",
    ("GET", "/docs"): "the API's reference page (no data)",
    ("GET", "/docs/oauth2-redirect"): "part of the API reference page",
    ("GET", "/redoc"): "the API's reference page (no data)",
}

# Routes any logged-in member may call, whatever their role, and why.
ANY_MEMBER: dict[tuple[str, str], str] = {
    ("POST", "/logout"): "everyone may end their own login",
}


# What whole areas of the app must ask for (docs/permissions.md): reading permissions from
# the routes proves each route behaves as it declares; these rules catch a route that declares
# too little (an admin page guarded only by "read", say). A route matching a rule must need
# at least one of the rule's permissions.
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
AREA_RULES: list[tuple[str, re.Pattern[str], frozenset[Permission]]] = [
    ("*", re.compile(r"^/admin/accounts"), frozenset({Permission.CHANNELS_MANAGE})),
    (
        "*",
        re.compile(
            r"^(/api)?/admin/(routing|sla|business-hours|automation|alerts|follow-ups|promises"
            r"|saved-replies)"
        ),
        frozenset({Permission.ROUTING_MANAGE}),
    ),
    (
        "*",
        re.compile(
            r"^/admin/(?!accounts|routing|sla|business-hours|automation|alerts|follow-ups|promises"
            r"|saved-replies|retention)"
        ),
        frozenset({Permission.MEMBERS_MANAGE}),
    ),
    # A customer's data and how long conversations are kept.
    (
        "*",
        re.compile(r"^/admin/retention|^/contacts/\{contact_id\}/(privacy|export|erase)"),
        frozenset({Permission.PRIVACY}),
    ),
    ("*", re.compile(r"^/contacts/\{contact_id\}/merge"), frozenset({Permission.MANAGE})),
    (
        "unsafe",
        re.compile(r"^(/api)?/contacts/"),
        frozenset({Permission.MANAGE, Permission.PRIVACY}),
    ),
    ("DELETE", re.compile(r"^/api/contacts/[^/]+$"), frozenset({Permission.PRIVACY})),
    ("*", re.compile(r"^/api/contacts/[^/]+/export"), frozenset({Permission.PRIVACY})),
    ("*", re.compile(r"^(/api)?/approvals"), frozenset({Permission.APPROVE})),
    (
        "unsafe",
        re.compile(r"^(/api)?/conversations/"),
        frozenset({Permission.REPLY, Permission.MANAGE, Permission.NOTE}),
    ),
    # The inbox's bar changes conversations; saved views are each member's own (any role).
    ("unsafe", re.compile(r"^/inbox/(?!views)"), frozenset({Permission.MANAGE})),
    ("unsafe", re.compile(r"^/api/brand-accounts"), frozenset({Permission.CHANNELS_MANAGE})),
    ("unsafe", re.compile(r"^/api/saved-replies"), frozenset({Permission.ROUTING_MANAGE})),
    # Polls: asked, tried again and withdrawn by those who reply; held ones decided by
    # approvers.
    (
        "*",
        re.compile(r"^(/api)?/polls/\{poll_id\}/(approve|reject)"),
        frozenset({Permission.APPROVE}),
    ),
    (
        "unsafe",
        re.compile(r"^(/api)?/polls(/\{poll_id\}/(retry|withdraw))?$"),
        frozenset({Permission.REPLY}),
    ),
    # A reply is sent again or taken back off its network by those who reply.
    (
        "unsafe",
        re.compile(r"^/api/messages/\{message_id\}/(retry|withdraw)$"),
        frozenset({Permission.REPLY}),
    ),
]


def _key(route: RouteInfo) -> tuple[str, str]:
    return (route.method, route.path)


def test_every_route_is_guarded_or_listed_as_public(routes: list[RouteInfo]) -> None:
    assert len(routes) > 50  # the enumeration found the app's routes, not an empty list
    public = {_key(r) for r in routes if not r.authenticated}
    assert public == set(PUBLIC), "unlisted public routes, or listed ones that are gone"
    unchecked = {_key(r) for r in routes if r.authenticated and not r.permissions}
    assert unchecked == set(ANY_MEMBER), "routes that log in but check no permission"


def test_areas_ask_for_their_documented_permissions(routes: list[RouteInfo]) -> None:
    matched = 0
    for route in routes:
        for methods, pattern, needed in AREA_RULES:
            if methods == "unsafe" and route.method not in UNSAFE:
                continue
            if methods not in ("*", "unsafe") and route.method != methods:
                continue
            if pattern.search(route.path):
                matched += 1
                assert route.permissions & needed, f"{route} needs one of {sorted(needed)}"
    assert matched > 30


def test_anonymous_callers_are_sent_to_log_in(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    world = build_world(session, name="Anon")
    caller = world.logins[Role.OWNER]
    for route in routes:
        if not route.authenticated:
            continue
        status = status_of(
            client, route.method, world.path_for(route.path, caller=caller), login=None
        )
        expected = 401 if route.path.startswith("/api/") else 303
        assert status == expected, f"{route}: {status} without a login"


def test_each_role_gets_exactly_what_its_permissions_allow(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    world = build_world(session, name="Roles")
    # Logging out ends the caller's login: call it last.
    ordered = sorted((r for r in routes if r.authenticated), key=lambda r: _key(r) in ANY_MEMBER)
    table: dict[tuple[Role, str], int] = {}
    for role in Role:
        login = world.logins[role]
        granted = ROLE_PERMISSIONS[role]
        for route in ordered:
            allowed = route.permissions <= granted
            status = status_of(
                client, route.method, world.path_for(route.path, caller=login), login=login
            )
            table[(role, str(route))] = status
            if allowed:
                assert status not in (401, 403), f"{role.value} refused {route}: {status}"
                assert status != 303 or route.method != "GET", f"{role.value} logged out at {route}"
                assert status < 500, f"{role.value} broke {route}: {status}"
            else:
                assert status == 403, f"{role.value} reached {route}: {status}"
    # Every role was tried on every guarded route.
    assert len(table) == len(Role) * len(ordered)
    # The table is not trivially one-sided: some role is refused and some allowed on admin pages.
    assert table[(Role.VIEWER, "GET /admin/members")] == 403
    assert table[(Role.ADMIN, "GET /admin/members")] == 200


def test_each_api_token_scope_gets_exactly_what_it_allows(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    """The same table for API tokens: an owner's token narrowed to one scope reaches exactly
    the routes whose permissions the scope holds, pages and API alike."""
    world = build_world(session, name="Scopes")
    owner = world.logins[Role.OWNER]
    tokens = {
        scope: accounts_service.create_api_token(
            session, member=owner.member, name=scope, scopes=[scope]
        ).token
        for scope in TOKEN_SCOPES
    }
    session.commit()
    for scope, token in tokens.items():
        granted = TOKEN_SCOPES[scope]
        for route in routes:
            if not route.authenticated:
                continue
            allowed = route.permissions <= granted
            path = world.path_for(route.path, caller=owner)
            status = status_of(client, route.method, path, login=None, bearer=token)
            if allowed:
                assert status not in (401, 403), f"scope {scope} refused {route}: {status}"
                assert status < 500, f"scope {scope} broke {route}: {status}"
            else:
                assert status == 403, f"scope {scope} reached {route}: {status}"
