"""CSRF: every route that changes something, enumerated from the app, refuses a request that
is authenticated by the login cookie but carries no token or a forged one, and the refused
request changes nothing. (API tokens sent as a header are not sent by browsers on their own,
so they need no CSRF token: checked last.)"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, AuthSession, Role
from socialdesk.conversations.models import Activity, Message
from tests.security.routes import RouteInfo
from tests.security.world import build_world, status_of

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _footprint(session: Session) -> tuple[int, ...]:
    counts = tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Message, Activity, AuditEvent)
    )
    revoked = session.scalar(
        select(func.count()).select_from(AuthSession).where(AuthSession.revoked_at.is_not(None))
    )
    session.commit()  # end the read: never hold SQLite's write lock while the app runs
    return (*counts, revoked or 0)


@pytest.mark.parametrize("forged", [None, "forged-token"])
def test_every_cookie_authenticated_change_needs_the_csrf_token(
    client: TestClient, session: Session, routes: list[RouteInfo], forged: str | None
) -> None:
    world = build_world(session, name="Csrf")
    owner = world.logins[Role.OWNER]  # may do everything: a 403 can only be the token
    unsafe = [r for r in routes if r.authenticated and r.method in UNSAFE]
    assert len(unsafe) > 30
    before = _footprint(session)
    for route in unsafe:
        status = status_of(
            client,
            route.method,
            world.path_for(route.path, caller=owner),
            login=owner,
            with_csrf=forged is not None,
            csrf=forged,
        )
        assert status == 403, f"{route} took a cookie request without its token: {status}"
        assert _footprint(session) == before, f"{route} changed something before refusing"
    # Still logged in: even logging out was refused.
    assert status_of(client, "GET", "/account", login=owner) == 200


def test_api_tokens_need_no_csrf_token(client: TestClient, session: Session) -> None:
    from socialdesk.accounts import service as accounts_service

    world = build_world(session, name="Bearer")
    member = world.logins[Role.OWNER].member
    token = accounts_service.create_api_token(session, member=member, name="script").token
    session.commit()
    response = client.post(
        f"/api/conversations/{world.ids['conversation_id']}/tags",
        json={"name": "vip"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code < 300, response.text
