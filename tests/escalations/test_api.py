"""The escalations API: ask, list, mark done, cancel; roles, token scopes and other
organizations' ids."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from tests.escalations.conftest import Desk


def _headers(session: Session, member: Member, scopes: list[str] | None = None) -> dict[str, str]:
    token = accounts_service.create_api_token(
        session, member=member, name="t", scopes=scopes or []
    ).token
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_ask_list_and_mark_done_over_the_api(
    client: TestClient, session: Session, desk: Desk
) -> None:
    alex = _headers(session, desk.alex)
    bo = _headers(session, desk.bo)
    base = f"/api/conversations/{desk.conversation.id}/escalations"
    made = client.post(
        base,
        json={
            "text": "Please refund order 123",
            "team_id": desk.billing.id,
            "due_at": "2026-01-05T15:00:00+01:00",
        },
        headers=alex,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "open"
    assert body["team"] == {"id": desk.billing.id, "name": "Billing"}
    assert body["member"] is None
    assert body["requested_by"]["name"] == "Alex Agent"
    assert body["due_at"] == "2026-01-05T14:00:00+00:00"
    assert body["overdue"] is False
    request_id = body["id"]

    assert [r["id"] for r in client.get(base, headers=bo).json()] == [request_id]
    mine = client.get("/api/escalations?scope=teams", headers=bo).json()
    assert [r["id"] for r in mine["items"]] == [request_id]
    assert client.get("/api/escalations", headers=bo).json()["items"] == []  # none by name
    asked = client.get("/api/escalations?scope=asked", headers=alex).json()
    assert [r["id"] for r in asked["items"]] == [request_id]

    done = client.post(
        f"/api/escalations/{request_id}/done", json={"resolution": "Refunded"}, headers=bo
    )
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["closed_by"]["name"] == "Bo Billing"
    assert done.json()["resolution"] == "Refunded"
    again = client.post(f"/api/escalations/{request_id}/cancel", headers=alex)
    assert again.status_code == 409
    assert "already done" in again.json()["error"]["message"]
    got = client.get(f"/api/escalations/{request_id}", headers=alex).json()
    assert got["status"] == "done"
    closed = client.get("/api/escalations?scope=teams&status=done", headers=bo).json()
    assert [r["id"] for r in closed["items"]] == [request_id]


def test_refusals_say_what_is_wrong(client: TestClient, session: Session, desk: Desk) -> None:
    alex = _headers(session, desk.alex)
    base = f"/api/conversations/{desk.conversation.id}/escalations"
    no_target = client.post(base, json={"text": "x"}, headers=alex)
    assert no_target.status_code == 422
    assert no_target.json()["error"]["field"] == "team_id"
    naive = client.post(
        base,
        json={"text": "x", "team_id": desk.billing.id, "due_at": "2026-01-05T15:00"},
        headers=alex,
    )
    assert naive.status_code == 422  # a due time without an offset is ambiguous
    made = client.post(base, json={"text": "x", "team_id": desk.billing.id}, headers=alex)
    empty = client.post(
        f"/api/escalations/{made.json()['id']}/done", json={"resolution": ""}, headers=alex
    )
    assert empty.status_code == 422
    assert empty.json()["error"]["field"] == "resolution"
    past = client.post(
        base,
        json={"text": "x", "team_id": desk.billing.id, "due_at": "2026-01-05T08:00:00+00:00"},
        headers=alex,
    )
    assert past.status_code == 422
    assert "in the future" in past.json()["error"]["message"]


def test_viewers_and_read_only_tokens_cannot_ask_or_close(
    client: TestClient, session: Session, desk: Desk
) -> None:
    base = f"/api/conversations/{desk.conversation.id}/escalations"
    ask = {"text": "Please refund", "team_id": desk.billing.id}
    viewer = _headers(session, desk.viewer)
    assert client.post(base, json=ask, headers=viewer).status_code == 403
    read_only = _headers(session, desk.alex, scopes=["read"])
    assert client.post(base, json=ask, headers=read_only).status_code == 403
    made = client.post(base, json=ask, headers=_headers(session, desk.alex)).json()
    assert client.get(base, headers=viewer).status_code == 200  # reading is fine
    for action in ("done", "cancel"):
        refused = client.post(
            f"/api/escalations/{made['id']}/{action}", json={"resolution": "x"}, headers=viewer
        )
        assert refused.status_code == 403


def test_another_organizations_requests_and_conversations_are_not_found(
    client: TestClient, session: Session, desk: Desk
) -> None:
    made = client.post(
        f"/api/conversations/{desk.conversation.id}/escalations",
        json={"text": "Please refund", "team_id": desk.billing.id},
        headers=_headers(session, desk.alex),
    ).json()
    stranger = _headers(session, desk.stranger)
    rid = made["id"]
    assert client.get(f"/api/escalations/{rid}", headers=stranger).status_code == 404
    assert (
        client.post(
            f"/api/escalations/{rid}/done", json={"resolution": "x"}, headers=stranger
        ).status_code
        == 404
    )
    assert client.post(f"/api/escalations/{rid}/cancel", headers=stranger).status_code == 404
    assert (
        client.get(
            f"/api/conversations/{desk.conversation.id}/escalations", headers=stranger
        ).status_code
        == 404
    )
    # Nor can one ask another organization's team from one's own conversation.
    own = client.post(
        f"/api/conversations/{desk.other_conversation.id}/escalations",
        json={"text": "x", "team_id": desk.billing.id},
        headers=stranger,
    )
    assert own.status_code == 404
    assert own.json()["error"]["field"] == "team_id"
    assert "does not exist" in own.json()["error"]["message"]
    assert client.get("/api/escalations?scope=asked", headers=stranger).json()["items"] == []
