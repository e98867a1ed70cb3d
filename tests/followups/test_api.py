"""The REST API: policies (admins only), a conversation's follow-ups and opt-out, and the care
report, across two organizations."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Status
from tests.api import conftest as api_fixtures
from tests.api.conftest import Desk, bearer
from tests.conftest import JobRunner

# The API's fixtures (two organizations with tokens, a client on the app), as in tests/api.
client = api_fixtures.client
desk = api_fixtures.desk

POLICY = {"channel": "web", "delay_minutes": 90, "template": "Hi {name}!", "survey": "scale"}


def test_admins_set_list_and_remove_policies(client: TestClient, desk: Desk) -> None:
    owner = bearer(desk.a.owner_token)
    listed = client.get("/api/admin/follow-ups", headers=owner).json()
    assert listed["items"] == []
    assert listed["built_in"] == {
        "enabled": True,
        "delay_minutes": 1440,
        "template": "Hi {name}, checking in: is everything working again?",
        "survey": "none",
    }
    assert set(listed["placeholders"]) == {"name", "handle", "agent", "brand"}
    saved = client.put("/api/admin/follow-ups", json=POLICY, headers=owner)
    assert saved.status_code == 200, saved.text
    assert saved.json()["channel"] == "web"
    again = client.put("/api/admin/follow-ups", json={**POLICY, "enabled": False}, headers=owner)
    assert again.json()["id"] == saved.json()["id"]  # the same scope: replaced
    per_account = client.put(
        "/api/admin/follow-ups",
        json={"brand_account_id": desk.a.brand_account_id, "template": "Hey {handle}"},
        headers=owner,
    )
    assert per_account.status_code == 200
    items = client.get("/api/admin/follow-ups", headers=owner).json()["items"]
    assert [(i["channel"], i["brand_account_id"], i["enabled"]) for i in items] == [
        ("web", None, False),
        (None, desk.a.brand_account_id, True),
    ]
    removed = client.delete("/api/admin/follow-ups?channel=web", headers=owner)
    assert removed.status_code == 204
    assert client.delete("/api/admin/follow-ups?channel=web", headers=owner).status_code == 404


def test_unknown_placeholders_are_named(client: TestClient, desk: Desk) -> None:
    response = client.put(
        "/api/admin/follow-ups",
        json={"template": "Hi {first_name}, {name}: {status}?"},
        headers=bearer(desk.a.owner_token),
    )
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["field"] == "template"
    assert "unknown placeholders in the template: {first_name}, {status}" in body["message"]


def test_policies_are_for_admins_and_stay_in_their_organization(
    client: TestClient, desk: Desk
) -> None:
    agent = bearer(desk.a.agent_token)
    assert client.get("/api/admin/follow-ups", headers=agent).status_code == 403
    assert client.put("/api/admin/follow-ups", json=POLICY, headers=agent).status_code == 403
    theirs = client.put(
        "/api/admin/follow-ups",
        json={"brand_account_id": desk.b.brand_account_id, "template": "Hi"},
        headers=bearer(desk.a.owner_token),
    )
    assert theirs.status_code == 404
    client.put("/api/admin/follow-ups", json=POLICY, headers=bearer(desk.b.owner_token))
    assert (
        client.get("/api/admin/follow-ups", headers=bearer(desk.a.owner_token)).json()["items"]
        == []
    )


def test_a_conversations_follow_ups_send_now_and_opt_out(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    conversation = session.get_one(Conversation, desk.a.conversation_id)
    conversations_service.set_status(
        session, conversation=conversation, status=Status.RESOLVED, actor=desk.a.agent
    )
    session.commit()
    jobs.run_pending()
    url = f"/api/conversations/{desk.a.conversation_id}/follow-ups"
    viewer, agent = bearer(desk.a.viewer_token), bearer(desk.a.agent_token)
    listing = client.get(url, headers=viewer).json()
    assert listing["opted_out"] is False
    (item,) = listing["items"]
    assert (item["status"], item["due_at"]) == ("scheduled", "2026-01-06T09:00:00+00:00")
    assert client.post(f"{url}/send-now", headers=viewer).status_code == 403
    sent = client.post(f"{url}/send-now", headers=agent)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sent"
    assert sent.json()["text"].startswith("Hi A-Cust, checking in")
    assert client.post(f"{url}/cancel", headers=agent).status_code == 409
    assert client.post(f"{url}/opt-out", headers=agent).json()["opted_out"] is True
    assert client.delete(f"{url}/opt-out", headers=agent).json()["opted_out"] is False
    # Another organization's conversation does not exist for A.
    foreign = f"/api/conversations/{desk.b.conversation_id}/follow-ups"
    owner = bearer(desk.a.owner_token)
    assert client.get(foreign, headers=owner).status_code == 404
    assert client.post(f"{foreign}/opt-out", headers=owner).status_code == 404
    assert client.post(f"{foreign}/send-now", headers=owner).status_code == 404


def test_the_care_report(client: TestClient, desk: Desk) -> None:
    viewer = bearer(desk.a.viewer_token)
    report = client.get("/api/reports/care?start=2026-01-01&end=2026-01-05", headers=viewer)
    assert report.status_code == 200
    body = report.json()
    assert (body["start"], body["end"], body["timezone"]) == ("2026-01-01", "2026-01-05", "UTC")
    assert body["total"]["followup_rate"] is None
    assert body["total"]["satisfaction_distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    default = client.get("/api/reports/care", headers=viewer).json()
    assert (default["start"], default["end"]) == ("2025-12-07", "2026-01-05")
    exported = client.get("/api/reports/care.csv", headers=viewer)
    assert exported.status_code == 200
    assert exported.text.splitlines()[1] == "organization,,All,0,0,,0,,0,,0,0,0,0,0,0,0,,0"
    refused = client.get("/api/reports/care?start=2026-02-01&end=2026-01-01", headers=viewer)
    assert refused.status_code == 422
