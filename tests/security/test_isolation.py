"""Tenant isolation: a member of organization B gets 404 for every object of organization A, on
every route (pages and API) that takes an id, enumerated from the app. Each id of a route is
tried in turn with A's object while the route's other ids are B's own, so a route that checks
only one of its ids is caught too. The caller is B's owner, who may do everything in B: a 404
here can only come from the organization check."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from tests.security.routes import RouteInfo
from tests.security.world import Login, build_world, status_of

FORM = "application/x-www-form-urlencoded"

# Path parameters that are not ids of an organization's objects.
NOT_IDS = {
    "public_key": "the website channel's public key: its routes are public by design",
    "token": "a one-time link's secret, not an id",
    "name": "a tag or starter name, the same words in every organization",
}

# JSON bodies for API routes that validate a body before looking the object up; without one
# the answer would be 422 and say nothing about isolation.
BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/api/conversations/{conversation_id}/replies"): {"text": "hello"},
    ("POST", "/api/conversations/{conversation_id}/notes"): {"text": "a note"},
    ("POST", "/api/conversations/{conversation_id}/assign"): {"assignee_id": None},
    ("POST", "/api/conversations/{conversation_id}/team"): {"team_id": None},
    ("POST", "/api/conversations/{conversation_id}/status"): {"status": "pending"},
    ("POST", "/api/conversations/{conversation_id}/priority"): {"priority": 1},
    ("POST", "/api/conversations/{conversation_id}/tags"): {"name": "vip"},
    ("POST", "/api/contacts/{contact_id}/merge"): {"other_contact_id": 1},
    ("PATCH", "/api/brand-accounts/{brand_account_id}"): {"display_name": "x"},
    ("POST", "/api/brand-accounts/{brand_account_id}/events"): {},
    ("PUT", "/api/brand-accounts/{brand_account_id}/policy"): {"yaml": "rules: []"},
    ("POST", "/api/approvals/{approval_id}/approve"): {},
    ("POST", "/api/approvals/{approval_id}/reject"): {"comment": "no"},
}


def test_members_of_another_organization_get_404_for_every_object(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    a = build_world(session, name="Alpha")
    b = build_world(session, name="Beta")
    caller = b.logins[Role.OWNER]
    a_token = a.logins[Role.OWNER].token_id
    tried = 0
    leaks: list[str] = []
    for route in routes:
        ids = [p for p in route.id_params if p not in NOT_IDS]
        if not route.authenticated or not ids:
            continue
        for param in ids:
            foreign = a_token if param == "token_id" else a.ids[param]
            path = b.path_for(route.path, caller=caller, overrides={param: foreign})
            status = _call(client, route, path, caller)
            tried += 1
            if status != 404:
                leaks.append(f"{route} with Alpha's {param}: {status}")
    assert not leaks, "\n".join(leaks)
    assert tried > 40  # the routes with ids were found and tried


def _call(client: TestClient, route: RouteInfo, path: str, login: Login) -> int:
    body = BODIES.get((route.method, route.path))
    return status_of(
        client,
        route.method,
        path,
        login=login,
        body=json.dumps(body).encode() if body is not None else b"",
        content_type="application/json" if body is not None else FORM,
    )


def test_the_same_calls_with_the_callers_own_ids_are_not_404(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    """The control: the 404s above come from the organization, not from a broken call."""
    b = build_world(session, name="Gamma")
    caller = b.logins[Role.OWNER]
    found: list[str] = []
    deleted: set[str] = set()

    def deletes(route: RouteInfo) -> bool:
        return route.method == "DELETE" or route.path.endswith("/delete")

    # Deletions last: an object deleted early would make the later calls on it 404. Once one
    # route deleted an object, the page's and the API's other delete of it may 404.
    for route in sorted(routes, key=deletes):
        ids = [p for p in route.id_params if p not in NOT_IDS]
        if not route.authenticated or not ids:
            continue
        status = _call(client, route, b.path_for(route.path, caller=caller), caller)
        if route.method == "GET":
            assert status == 200, f"{route}: {status} for the caller's own objects"
        if deletes(route) and status < 400:
            deleted.update(ids)
        elif status == 404 and not (deletes(route) and set(ids) <= deleted):
            found.append(f"{route}: 404")
    assert not found, "\n".join(found)
