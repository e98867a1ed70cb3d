"""Brand accounts through the API (credentials go in and never come out) and the API channel:
raw events pushed by an integration, idempotent on their native id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import Desk, bearer
from tests.connectors.fake_http import FakeProvider, recorded

import socialdesk.connectors.x as x_pkg
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.connectors import registry
from socialdesk.connectors.x import XConnector
from socialdesk.db.session import session_scope

X_ME = Path(x_pkg.__file__).parent / "fixtures" / "responses" / "users_me.json"
SECRET = "s3cr3t-access-token-0f-the-brand"
NEW_SECRET = "r0tated-access-token-0f-the-brand"


def _visitor_message(message_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "visitor_id": "v-77",
        "message_id": message_id,
        "text": text,
        "name": "Robin",
        "email": "robin@example.net",
        "sent_at": "2026-01-05T08:55:00+00:00",
        **extra,
    }


def test_credentials_are_never_returned(client: TestClient, desk: Desk) -> None:
    bodies: list[str] = []

    def record(response: httpx.Response) -> None:
        response.read()
        bodies.append(response.text)

    client.event_hooks["response"].append(record)
    owner = bearer(desk.a.owner_token)

    created = client.post(
        "/api/brand-accounts",
        json={
            "kind": "web",
            "handle": "help-chat",
            "display_name": "Help chat",
            "settings": {"sign_replies": True},
            "credentials": {"access_token": SECRET},
        },
        headers=owner,
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["has_credentials"] is True
    assert account["settings"] == {"sign_replies": True}
    account_id = account["id"]

    # Stored, encrypted, and readable by the server for its connector.
    with session_scope() as session:
        row = session.get(BrandAccount, account_id)
        assert row is not None
        assert row.credentials_encrypted is not None
        assert SECRET.encode() not in row.credentials_encrypted
        assert channels_service.context_for(row).credentials == {"access_token": SECRET}

    base = f"/api/brand-accounts/{account_id}"
    assert client.get("/api/brand-accounts", headers=owner).status_code == 200
    assert client.get(base, headers=owner).json()["has_credentials"] is True
    renamed = client.patch(base, json={"display_name": "Help"}, headers=owner)
    assert renamed.json()["display_name"] == "Help"
    assert renamed.json()["has_credentials"] is True  # left out: kept
    rotated = client.patch(base, json={"credentials": {"access_token": NEW_SECRET}}, headers=owner)
    assert rotated.status_code == 200
    with session_scope() as session:
        row = session.get(BrandAccount, account_id)
        assert row is not None
        assert channels_service.context_for(row).credentials == {"access_token": NEW_SECRET}

    # Errors must not echo what was sent either.
    duplicate = client.post(
        "/api/brand-accounts",
        json={"kind": "web", "handle": "help-chat", "credentials": {"access_token": SECRET}},
        headers=owner,
    )
    assert duplicate.status_code == 409
    for invalid, field in (
        ({"kind": "fax", "handle": "h", "credentials": {"access_token": SECRET}}, "kind"),
        (
            {"kind": "web", "handle": "h", "credentials": {"access_token": [SECRET, NEW_SECRET]}},
            "credentials",
        ),
        ({"kind": "web", "handle": "h", "credentials": SECRET}, "credentials"),
        ({"kind": "web", "handle": "h", "credentials": {SECRET: 1}}, "credentials"),
        (
            {"kind": "web", "handle": "h", "credentials": {"access_token": SECRET, "n": None}},
            "credentials",
        ),
    ):
        response = client.post("/api/brand-accounts", json=invalid, headers=owner)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
    bad_patch = client.patch(base, json={"credentials": {"k": {"nested": SECRET}}}, headers=owner)
    assert bad_patch.status_code == 422

    # The account at work: an event pushed, the inbox, the OpenAPI document.
    pushed = client.post(
        f"{base}/events",
        json={
            "native_id": "ev-1",
            "kind": "visitor.message",
            "payload": _visitor_message("m1", "hi"),
        },
        headers=owner,
    )
    assert pushed.status_code == 202
    client.get("/api/conversations", params={"status": "all"}, headers=owner)
    client.get("/openapi.json")

    cleared = client.patch(base, json={"credentials": None}, headers=owner)
    assert cleared.json()["has_credentials"] is False

    assert len(bodies) >= 15
    for body in bodies:
        assert SECRET not in body
        assert NEW_SECRET not in body


def test_creating_needs_an_installed_connector_and_a_known_kind(
    client: TestClient, desk: Desk
) -> None:
    owner = bearer(desk.a.owner_token)
    unknown = client.post("/api/brand-accounts", json={"kind": "fax", "handle": "x"}, headers=owner)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "kind"
    empty = client.post("/api/brand-accounts", json={"kind": "web", "handle": ""}, headers=owner)
    assert empty.json()["error"]["field"] == "handle"


def test_pushed_events_are_idempotent(client: TestClient, desk: Desk, jobs: Any) -> None:
    owner = bearer(desk.a.owner_token)
    path = f"/api/brand-accounts/{desk.a.brand_account_id}/events"
    event = {
        "native_id": "chat-1",
        "kind": "visitor.message",
        "payload": _visitor_message("chat-1", "Is the shop open on Sunday?"),
    }
    first = client.post(path, json=event, headers=owner)
    assert first.status_code == 202
    assert first.json()["duplicate"] is False
    assert first.json()["status"] == "pending"
    replay = client.post(path, json=event, headers=owner)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert replay.json()["event_id"] == first.json()["event_id"]

    jobs.run_pending()  # the event (once), and what reacts to the new conversation
    after = client.post(path, json=event, headers=owner)
    assert after.status_code == 200
    assert after.json() == {**replay.json(), "status": "processed"}
    jobs.run_pending()  # the replay added nothing: the thread below holds one message

    found = client.get(
        "/api/conversations", params={"q": "Sunday", "status": "all"}, headers=owner
    ).json()["items"]
    assert len(found) == 1
    conversation = found[0]
    assert conversation["contact"]["name"] == "Robin"
    assert conversation["contact"]["handle"] == "robin@example.net"
    messages = client.get(
        f"/api/conversations/{conversation['id']}/messages", headers=owner
    ).json()["items"]
    assert [(m["text"], m["visibility"]) for m in messages] == [
        ("Is the shop open on Sunday?", "direct")
    ]

    # The same visitor again: same conversation.
    follow_up = {
        "native_id": "chat-2",
        "kind": "visitor.message",
        "payload": _visitor_message("chat-2", "Or Saturday?"),
    }
    assert client.post(path, json=follow_up, headers=owner).status_code == 202
    jobs.run_pending()
    messages = client.get(
        f"/api/conversations/{conversation['id']}/messages", headers=owner
    ).json()["items"]
    assert [m["text"] for m in messages] == ["Is the shop open on Sunday?", "Or Saturday?"]


def test_pushed_events_are_checked_before_they_are_stored(
    client: TestClient, desk: Desk, jobs: Any
) -> None:
    owner = bearer(desk.a.owner_token)
    path = f"/api/brand-accounts/{desk.a.brand_account_id}/events"

    def push(kind: str, payload: dict[str, Any], token: str = desk.a.owner_token) -> Any:
        return client.post(
            path, json={"native_id": "e-9", "kind": kind, "payload": payload}, headers=bearer(token)
        )

    wrong_kind = push("visitor.typing", _visitor_message("e-9", "hi"))
    assert wrong_kind.status_code == 422
    assert wrong_kind.json()["error"]["field"] == "kind"
    assert "visitor.message" in wrong_kind.json()["error"]["message"]

    payload = _visitor_message("e-9", "hi")
    del payload["text"]
    missing = push("visitor.message", payload)
    assert missing.status_code == 422
    assert missing.json()["error"] == {
        "code": "invalid",
        "message": "payload is missing 'text'",
        "field": "payload",
    }
    naive = push("visitor.message", _visitor_message("e-9", "hi", sent_at="2026-01-05T08:55:00"))
    assert naive.status_code == 422
    assert "UTC offset" in naive.json()["error"]["message"]
    garbled = push("visitor.message", _visitor_message("e-9", "hi", sent_at="yesterday"))
    assert garbled.status_code == 422
    assert garbled.json()["error"]["field"] == "payload"

    assert (
        push("visitor.message", _visitor_message("e-9", "hi"), desk.a.agent_token).status_code
        == 403
    )
    # Nothing was stored by the refusals, so the corrected event is new.
    assert push("visitor.message", _visitor_message("e-9", "hi")).status_code == 202
    assert jobs.run_pending() >= 1
    assert owner  # the owner's token is what pushed


def test_pushing_to_an_account_without_an_installed_connector_is_409(
    client: TestClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialdesk.connectors import registry

    # As on a server where the Bluesky connector is not installed.
    installed = registry._discovered()
    monkeypatch.setattr(
        registry, "_discovered", lambda: {k: v for k, v in installed.items() if k != "bluesky"}
    )
    monkeypatch.setattr(
        registry, "_extra", {k: v for k, v in registry._extra.items() if k != "bluesky"}
    )
    assert "bluesky" not in registry.kinds()
    with session_scope() as session:
        account = channels_service.create(
            session, organization_id=desk.a.organization_id, kind="bluesky", handle="shop.bsky"
        )
        account_id = account.id
    response = client.post(
        f"/api/brand-accounts/{account_id}/events",
        json={"native_id": "at://1", "kind": "post", "payload": {}},
        headers=bearer(desk.a.owner_token),
    )
    assert response.status_code == 409
    assert "no connector for channel 'bluesky'" in response.json()["error"]["message"]


def test_check_signs_in_with_the_stored_credentials(client: TestClient, desk: Desk) -> None:
    """POST /brand-accounts/{id}/check: admins only; the answer names who the network says the
    account is, and the account's health follows; the credentials stay write-only."""
    x_network = FakeProvider().on("GET", "/2/users/me", recorded(X_ME))
    owner = bearer(desk.a.owner_token)
    created = client.post(
        "/api/brand-accounts",
        json={"kind": "x", "handle": "@TweepyDev", "credentials": {"access_token": SECRET}},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    with registry.override(XConnector(transport=x_network.transport, sleep=lambda _: None)):
        denied = client.post(
            f"/api/brand-accounts/{account_id}/check", headers=bearer(desk.a.agent_token)
        )
        assert denied.status_code == 403
        elsewhere = client.post(
            f"/api/brand-accounts/{account_id}/check", headers=bearer(desk.b.owner_token)
        )
        assert elsewhere.status_code == 404
        assert x_network.requests == []
        checked = client.post(f"/api/brand-accounts/{account_id}/check", headers=owner)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["ok"] is True
    assert body["detail"] == "signed in as @TweepyDev"
    assert body["health_changed"] is True
    assert body["account"]["health"] == "ok"
    assert body["account"]["health_checked_at"] == body["checked_at"]
    assert SECRET not in checked.text
    [call] = x_network.sent("GET", "/2/users/me")
    assert call.headers["authorization"] == f"Bearer {SECRET}"
