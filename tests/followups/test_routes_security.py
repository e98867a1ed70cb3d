"""The follow-up routes as the security suite sees them (tests/security), limited to this
domain's routes: each role gets exactly what its permissions allow, anonymous callers are sent
to log in, cookie-authenticated changes need the CSRF token, and another organization's
conversation is a 404 on every route that takes one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.accounts.permissions import ROLE_PERMISSIONS, Permission
from socialdesk.common.clock import FrozenClock
from tests.security.routes import RouteInfo, app_routes
from tests.security.world import build_world, status_of

MINE = ("/admin/follow-ups", "/api/admin/follow-ups", "/reports/care", "/api/reports/care")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _mine(route: RouteInfo) -> bool:
    return route.path.startswith(MINE) or "/followups" in route.path or "/follow-ups" in route.path


@pytest.fixture
def client(database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    app: FastAPI = create_app()
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def routes(client: TestClient) -> list[RouteInfo]:
    found = [r for r in app_routes(client.app) if _mine(r)]  # type: ignore[arg-type]  # the app
    assert len(found) == 19, [str(r) for r in found]
    return found


def test_every_route_declares_its_permission(routes: list[RouteInfo]) -> None:
    for route in routes:
        assert route.authenticated, route
        if "admin" in route.path:
            assert route.permissions == {Permission.ROUTING_MANAGE}, route
        elif route.method in UNSAFE:
            assert Permission.MANAGE in route.permissions, route
        else:
            assert route.permissions == {Permission.READ}, route


def test_each_role_gets_exactly_what_it_may(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    world = build_world(session, name="Care")
    for role in Role:
        login = world.logins[role]
        for route in routes:
            path = world.path_for(route.path, caller=login)
            status = status_of(client, route.method, path, login=login)
            if route.permissions <= ROLE_PERMISSIONS[role]:
                assert status not in (401, 403), f"{role.value} refused {route}: {status}"
                assert status < 500, f"{role.value} broke {route}: {status}"
                if route.method == "GET":
                    assert status == 200, f"{role.value} {route}: {status}"
            else:
                assert status == 403, f"{role.value} reached {route}: {status}"
        anonymous = status_of(client, "GET", "/reports/care", login=None)
        assert anonymous == 303


def test_anonymous_callers_and_forged_forms_are_refused(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    world = build_world(session, name="Anon")
    owner = world.logins[Role.OWNER]
    for route in routes:
        path = world.path_for(route.path, caller=owner)
        expected = 401 if route.path.startswith("/api/") else 303
        assert status_of(client, route.method, path, login=None) == expected, route
        if route.method in UNSAFE:
            forged = status_of(client, route.method, path, login=owner, csrf="forged")
            missing = status_of(client, route.method, path, login=owner, with_csrf=False)
            assert (forged, missing) == (403, 403), route


def test_another_organizations_conversation_is_404_everywhere(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    a = build_world(session, name="Alpha")
    b = build_world(session, name="Beta")
    caller = b.logins[Role.OWNER]
    tried = 0
    for route in routes:
        if "conversation_id" not in route.id_params:
            continue
        foreign = b.path_for(
            route.path, caller=caller, overrides={"conversation_id": a.ids["conversation_id"]}
        )
        assert status_of(client, route.method, foreign, login=caller) == 404, route
        own = status_of(client, route.method, b.path_for(route.path, caller=caller), login=caller)
        assert own != 404, route
        tried += 1
    assert tried == 9
