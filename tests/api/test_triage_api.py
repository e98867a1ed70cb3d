from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.app import create_app


def test_triage_in_the_api_filters_and_one_click_correction(session: Session) -> None:
    org = accounts.organization(session)
    agent = accounts.member(session, org, role=Role.AGENT)
    viewer = accounts.member(session, org, role=Role.VIEWER)
    account = channels.brand_account(session, org)
    angry = ingest(
        session,
        account,
        inbound(
            native_id="a",
            author="c1",
            text="Your app crashed again and I lost my booking, furious!",
        ),
    )
    happy = ingest(
        session,
        account,
        inbound(native_id="b", author="c2", text="Thank you, the driver was so kind today"),
    )
    token = accounts_service.create_api_token(session, member=agent, name="t").token
    viewer_token = accounts_service.create_api_token(session, member=viewer, name="v").token
    session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as client:
        complaints = client.get(
            "/api/conversations", params={"complaint": "true"}, headers=auth
        ).json()["items"]
        assert [c["id"] for c in complaints] == [angry.conversation.id]
        assert complaints[0]["sentiment"] == "negative"
        positive = client.get(
            "/api/conversations", params={"sentiment": "positive"}, headers=auth
        ).json()["items"]
        assert [c["id"] for c in positive] == [happy.conversation.id]
        why = client.get(f"/api/messages/{angry.message.id}/triage", headers=auth).json()
        assert why["reasons"]
        fixed = client.post(
            f"/api/messages/{happy.message.id}/triage",
            json={"field": "intent", "value": "feedback"},
            headers=auth,
        )
        assert fixed.status_code == 200
        assert fixed.json()["intent"] == "feedback"
        assert fixed.json()["corrected"] is True
        refused = client.post(
            f"/api/messages/{happy.message.id}/triage",
            json={"field": "intent", "value": "praise"},
            headers={"Authorization": f"Bearer {viewer_token}"},
        )
        assert refused.status_code == 403
        bad = client.post(
            f"/api/messages/{happy.message.id}/triage",
            json={"field": "intent", "value": "rant"},
            headers=auth,
        )
        assert bad.status_code == 422
        assert "intent must be one of" in bad.json()["error"]["message"]


def test_the_inbox_sorted_by_priority(session: Session) -> None:
    from socialdesk.conversations import service as conversations_service
    from socialdesk.conversations.models import Priority

    org = accounts.organization(session)
    agent = accounts.member(session, org)
    account = channels.brand_account(session, org)
    calm = [
        ingest(
            session, account, inbound(native_id=f"n{i}", author=f"p{i}", text="hello")
        ).conversation
        for i in range(3)
    ]
    conversations_service.set_priority(
        session, conversation=calm[0], priority=Priority.URGENT, actor=None
    )
    token = accounts_service.create_api_token(session, member=agent, name="t").token
    session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as client:
        first = client.get(
            "/api/conversations", params={"sort": "priority", "limit": 1}, headers=auth
        ).json()
        assert [c["id"] for c in first["items"]] == [calm[0].id]
        rest = client.get(
            "/api/conversations",
            params={"sort": "priority", "cursor": first["next_cursor"]},
            headers=auth,
        ).json()
        assert calm[0].id not in [c["id"] for c in rest["items"]]
        assert len(rest["items"]) == 2
        assert (
            client.get("/api/conversations", params={"sort": "loudest"}, headers=auth).status_code
            == 422
        )
