"""Authentication and roles: API tokens, 401s and 403s as JSON errors."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.api.conftest import Desk, bearer

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import ApiToken
from socialdesk.common.clock import FrozenClock
from socialdesk.common.crypto import hash_token
from socialdesk.db.session import get_sessionmaker, session_scope
from socialdesk.notifications.models import Notification


def test_api_token_authenticates_as_its_member(client: TestClient, desk: Desk) -> None:
    response = client.get("/api/me", headers=bearer(desk.a.agent_token))
    assert response.status_code == 200
    body = response.json()
    assert body["member"]["id"] == desk.a.agent.id
    assert body["organization"]["id"] == desk.a.organization_id
    assert body["authenticated_via"] == "token"
    assert "conversations.reply" in body["permissions"]
    assert "channels.manage" not in body["permissions"]


def test_without_credentials_every_api_route_is_401_json(client: TestClient, desk: Desk) -> None:
    for path in ("/api/me", "/api/conversations", f"/api/conversations/{desk.a.conversation_id}"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == "not_authenticated"
        assert error["message"]


def test_unknown_token_is_401(client: TestClient, desk: Desk) -> None:
    response = client.get("/api/me", headers=bearer("sdk_not-a-real-token"))
    assert response.status_code == 401
    assert "token" in response.json()["error"]["message"]


def test_token_is_shown_once_listed_without_secret_and_revocable(
    client: TestClient, desk: Desk
) -> None:
    owner = bearer(desk.a.owner_token)
    created = client.post("/api/tokens", json={"name": "nightly export"}, headers=owner)
    assert created.status_code == 201
    secret = created.json()["token"]
    token_id = created.json()["id"]
    assert secret.startswith("sdk_")
    assert created.json()["prefix"] == secret[:10]

    assert client.get("/api/me", headers=bearer(secret)).status_code == 200

    listed = client.get("/api/tokens", headers=owner)
    assert listed.status_code == 200
    assert secret not in listed.text
    names = {t["name"]: t for t in listed.json()["items"]}
    assert names["nightly export"]["revoked_at"] is None
    assert "token" not in names["nightly export"]

    assert client.delete(f"/api/tokens/{token_id}", headers=owner).status_code == 204
    assert client.get("/api/me", headers=bearer(secret)).status_code == 401
    listed = client.get("/api/tokens", headers=owner).json()["items"]
    assert next(t for t in listed if t["id"] == token_id)["revoked_at"] is not None


def test_a_colleagues_token_cannot_be_seen_or_revoked(client: TestClient, desk: Desk) -> None:
    agent = bearer(desk.a.agent_token)
    assert desk.a.token_id not in {
        t["id"] for t in client.get("/api/tokens", headers=agent).json()["items"]
    }
    response = client.delete(f"/api/tokens/{desk.a.token_id}", headers=agent)
    assert response.status_code == 404
    assert client.get("/api/me", headers=bearer(desk.a.owner_token)).status_code == 200


def test_viewer_cannot_reply(client: TestClient, desk: Desk) -> None:
    response = client.post(
        f"/api/conversations/{desk.a.conversation_id}/replies",
        json={"text": "Let me look into it"},
        headers=bearer(desk.a.viewer_token),
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "viewer" in error["message"]
    thread = client.get(
        f"/api/conversations/{desk.a.conversation_id}/messages",
        headers=bearer(desk.a.viewer_token),
    )
    assert thread.status_code == 200
    assert [m["direction"] for m in thread.json()["items"]] == ["inbound"]


def test_viewer_and_agent_cannot_manage_brand_accounts(client: TestClient, desk: Desk) -> None:
    for token in (desk.a.viewer_token, desk.a.agent_token):
        response = client.post(
            "/api/brand-accounts",
            json={"kind": "web", "handle": "shop-chat"},
            headers=bearer(token),
        )
        assert response.status_code == 403


def test_session_cookie_needs_csrf_for_changes(client: TestClient, desk: Desk) -> None:
    """The API also serves the logged-in UI; a cookie alone must not be able to change things."""
    from socialdesk.accounts import service as accounts_service
    from socialdesk.db.session import session_scope

    with session_scope() as session:
        member = session.get(type(desk.a.agent), desk.a.agent.id)
        assert member is not None
        login = accounts_service.start_session(session, member=member, source_address=None)
    client.cookies.set("sd_session", login.token)
    try:
        assert client.get("/api/me").json()["authenticated_via"] == "session"
        path = f"/api/conversations/{desk.a.conversation_id}/claim"
        assert client.post(path).status_code == 403
        claimed = client.post(path, headers={"X-CSRF-Token": login.csrf_token})
        assert claimed.status_code == 200
        assert claimed.json()["assignee"]["id"] == desk.a.agent.id
    finally:
        client.cookies.clear()


def _last_used(token_hash: str) -> datetime | None:
    with get_sessionmaker(write=False)() as reader:
        return reader.scalar(select(ApiToken.last_used_at).where(ApiToken.token_hash == token_hash))


def test_a_read_notes_the_tokens_use_once_a_minute_outside_its_read_transaction(
    client: TestClient, desk: Desk, clock: FrozenClock
) -> None:
    hashed = hash_token(desk.a.agent_token)
    assert client.get("/api/me", headers=bearer(desk.a.agent_token)).status_code == 200
    first = _last_used(hashed)
    assert first == clock.now()
    clock.advance(timedelta(seconds=30))
    client.get("/api/me", headers=bearer(desk.a.agent_token))
    assert _last_used(hashed) == first
    clock.advance(timedelta(seconds=31))
    client.get("/api/me", headers=bearer(desk.a.agent_token))
    assert _last_used(hashed) == clock.now()

    # The lookup itself writes nothing: a read transaction that wrote would fail on SQLite
    # once another process had written since it began.
    clock.advance(timedelta(minutes=2))  # a touch is due again
    with get_sessionmaker(write=False)() as reading:
        found = accounts_service.resolve_api_token(reading, token=desk.a.agent_token)
        assert found is not None
        with session_scope() as other:
            other.add(
                Notification(
                    organization_id=desk.a.organization_id,
                    member_id=desk.a.agent.id,
                    kind="test",
                    title="written meanwhile",
                    created_at=clock.now(),
                )
            )
        assert not reading.dirty
        reading.commit()
