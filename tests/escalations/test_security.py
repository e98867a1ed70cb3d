"""The security suite's checks (tests/security) applied to this area's routes, with the
objects they take ids of: every escalation, notification and team-settings route is guarded
by its permission, refuses a cookie request without the CSRF token, sends anonymous callers to
log in, and answers 404 for another organization's ids."""

from __future__ import annotations

import json
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, Role, Team
from socialdesk.accounts.permissions import ROLE_PERMISSIONS
from socialdesk.conversations.models import Activity, Conversation
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification
from tests.security.routes import RouteInfo, app_routes
from tests.security.world import World, build_world, status_of

MINE = re.compile(r"escalations|notifications|^/admin/teams/\{team_id\}/(settings|webhook-test)$")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def routes(app: FastAPI) -> list[RouteInfo]:
    found = [r for r in app_routes(app) if MINE.search(r.path)]
    assert len(found) >= 20  # the area's routes were found
    return found


def _world(session: Session, name: str) -> World:
    """The security suite's world plus an escalation request and a notification (the
    owner's: the callers below are owners)."""
    world = build_world(session, name=name)
    owner = world.logins[Role.OWNER].member
    conversation = session.get_one(Conversation, world.ids["conversation_id"])
    request = escalations_service.create(
        session,
        conversation=conversation,
        requested_by=owner,
        text="Please refund",
        team_id=world.ids["team_id"],
    )
    (notification,) = notifications_service.notify(
        session,
        organization_id=world.org.id,
        member_ids=[owner.id],
        kind="test",
        title="For the owner",
    )
    session.commit()
    world.ids["escalation_id"] = request.id
    world.ids["notification_id"] = notification.id
    return world


def _footprint(session: Session) -> tuple[int, ...]:
    counts = tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Activity, AuditEvent, EscalationRequest)
    )
    read = session.scalar(
        select(func.count()).select_from(Notification).where(Notification.read_at.is_not(None))
    )
    closed = session.scalar(
        select(func.count())
        .select_from(EscalationRequest)
        .where(EscalationRequest.status != "open")
    )
    webhooks = session.scalar(
        select(func.count()).select_from(Team).where(Team.webhook_url_encrypted.is_not(None))
    )
    session.commit()
    return (*counts, read or 0, closed or 0, webhooks or 0)


def test_another_organizations_ids_are_not_found(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    a = _world(session, "Alpha")
    b = _world(session, "Beta")
    caller = b.logins[Role.OWNER]
    leaks: list[str] = []
    tried = 0
    for route in routes:
        for param in route.id_params:
            path = b.path_for(route.path, caller=caller, overrides={param: a.ids[param]})
            status = status_of(client, route.method, path, login=caller)
            tried += 1
            if status != 404:
                leaks.append(f"{route} with Alpha's {param}: {status}")
        if route.id_params:
            own = status_of(
                client, route.method, b.path_for(route.path, caller=caller), login=caller
            )
            if own == 404 or (route.method == "GET" and own != 200):
                leaks.append(f"{route} with Beta's own ids: {own}")
    assert not leaks, "\n".join(leaks)
    assert tried >= 15


def test_each_role_gets_exactly_what_its_permissions_allow(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    world = _world(session, "Roles")
    for role in Role:
        login = world.logins[role]
        for route in routes:
            allowed = route.permissions <= ROLE_PERMISSIONS[role]
            status = status_of(
                client, route.method, world.path_for(route.path, caller=login), login=login
            )
            if allowed:
                assert status not in (401, 403), f"{role.value} refused {route}: {status}"
                assert status < 500, f"{role.value} broke {route}: {status}"
            else:
                assert status == 403, f"{role.value} reached {route}: {status}"


def test_cookie_changes_need_the_csrf_token_and_anonymous_callers_log_in(
    client: TestClient, session: Session, routes: list[RouteInfo]
) -> None:
    world = _world(session, "Csrf")
    owner = world.logins[Role.OWNER]
    before = _footprint(session)
    for route in routes:
        path = world.path_for(route.path, caller=owner)
        body = json.dumps({"text": "x", "team_id": world.ids["team_id"]}).encode()
        if route.method in UNSAFE:
            for forged in (None, "forged"):
                status = status_of(
                    client,
                    route.method,
                    path,
                    login=owner,
                    with_csrf=forged is not None,
                    csrf=forged,
                    body=body if route.path.startswith("/api/") else b"",
                    content_type="application/json"
                    if route.path.startswith("/api/")
                    else "application/x-www-form-urlencoded",
                )
                assert status == 403, f"{route} took a cookie request without its token"
                assert _footprint(session) == before, f"{route} changed something first"
        anonymous = status_of(client, route.method, path, login=None)
        expected = 401 if route.path.startswith("/api/") else 303
        assert anonymous == expected, f"{route}: {anonymous} without a login"
