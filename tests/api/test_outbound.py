"""Replies through the API: queued, delivered by a job, failures kept with the reason and
retried, and the checks' reasons returned to the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer
from tests.factories.connectors import RecordingConnector, permanent
from tests.factories.conversations import inbound, ingest

from socialdesk.channels import service as channels_service
from socialdesk.connectors import registry
from socialdesk.outbound import checks
from socialdesk.outbound.checks import Decision, Draft, Outcome, Reason


@pytest.fixture
def fake_x() -> Iterator[RecordingConnector]:
    """A connector for kind x that records sends and fails on demand."""
    connector = RecordingConnector()
    with registry.override(connector):
        yield connector


@pytest.fixture
def x_conversation(session: Session, desk: Desk, fake_x: RecordingConnector) -> int:
    from socialdesk.accounts.models import Organization

    org = session.get(Organization, desk.a.organization_id)
    assert org is not None
    account = channels_service.create(
        session, organization_id=org.id, kind="x", handle="@shop", credentials={"t": "x"}
    )
    result = ingest(session, account, inbound(native_id="tw-1", author="9001", text="@shop help"))
    session.commit()
    return result.conversation.id


def _message(client: TestClient, token: str, message_id: int) -> dict[str, Any]:
    response = client.get(f"/api/messages/{message_id}", headers=bearer(token))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_reply_is_queued_then_sent_by_the_job(client: TestClient, desk: Desk, jobs: Any) -> None:
    agent = bearer(desk.a.agent_token)
    response = client.post(
        f"/api/conversations/{desk.a.conversation_id}/replies",
        json={"text": "Sorry about that, checking with the courier now"},
        headers=agent,
    )
    assert response.status_code == 202
    queued = response.json()
    assert queued["delivery_state"] == "queued"
    assert queued["direction"] == "outbound"
    assert queued["author"] == {"type": "member", "id": desk.a.agent.id, "name": desk.a.agent.name}
    assert queued["visibility"] == "public"  # answered in kind

    assert jobs.run_pending() >= 1
    sent = _message(client, desk.a.agent_token, queued["id"])
    assert sent["delivery_state"] == "sent"
    assert sent["native_id"]  # the channel's id for what it delivered
    assert sent["sent_at"] is not None
    thread = client.get(
        f"/api/conversations/{desk.a.conversation_id}/messages", headers=agent
    ).json()["items"]
    assert [m["delivery_state"] for m in thread] == [None, "sent"]
    detail = client.get(f"/api/conversations/{desk.a.conversation_id}", headers=agent).json()
    assert detail["first_response_at"] is not None


def test_failed_delivery_is_visible_with_reason_and_retry_sends_once(
    client: TestClient, desk: Desk, jobs: Any, fake_x: RecordingConnector, x_conversation: int
) -> None:
    agent = bearer(desk.a.agent_token)
    fake_x.failures.append(permanent("403: this app may not reply to that tweet"))
    queued = client.post(
        f"/api/conversations/{x_conversation}/replies", json={"text": "We can help"}, headers=agent
    ).json()
    jobs.run_pending()
    failed = _message(client, desk.a.agent_token, queued["id"])
    assert failed["delivery_state"] == "failed"
    assert failed["delivery_error"] == "403: this app may not reply to that tweet"
    thread = client.get(f"/api/conversations/{x_conversation}/messages", headers=agent).json()
    assert thread["items"][-1]["delivery_error"] == failed["delivery_error"]
    assert fake_x.sent == []

    retried = client.post(f"/api/messages/{queued['id']}/retry", headers=agent)
    assert retried.status_code == 202
    assert retried.json()["delivery_state"] == "queued"
    assert retried.json()["delivery_error"] is None
    jobs.run_pending()
    sent = _message(client, desk.a.agent_token, queued["id"])
    assert sent["delivery_state"] == "sent"
    assert sent["delivery_attempts"] == 2
    assert len(fake_x.sent) == 1
    assert fake_x.sent[0].text == "We can help"
    assert fake_x.sent[0].reply_to_native_id == "tw-1"

    again = client.post(f"/api/messages/{queued['id']}/retry", headers=agent)
    assert again.status_code == 409
    assert "only failed messages" in again.json()["error"]["message"]
    jobs.run_pending()
    assert len(fake_x.sent) == 1


def test_viewer_cannot_retry(client: TestClient, desk: Desk) -> None:
    response = client.post(
        f"/api/messages/{desk.a.message_id}/retry", headers=bearer(desk.a.viewer_token)
    )
    assert response.status_code == 403


def test_blocked_reply_is_422_with_reasons(
    client: TestClient, desk: Desk, jobs: Any, fake_x: RecordingConnector, x_conversation: int
) -> None:
    response = client.post(
        f"/api/conversations/{x_conversation}/replies",
        json={"text": "x" * 300},
        headers=bearer(desk.a.agent_token),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "text"
    assert error["reasons"] == [
        {
            "rule": "channel-length",
            "explain": "x allows 280 characters; this is 300",
            "decision": "block",
            "start": None,
            "end": None,
        }
    ]
    thread = client.get(
        f"/api/conversations/{x_conversation}/messages", headers=bearer(desk.a.agent_token)
    )
    assert len(thread.json()["items"]) == 1
    jobs.run_pending()
    assert fake_x.sent == []  # nothing was queued for delivery


def test_warning_needs_confirmation(
    client: TestClient, desk: Desk, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_promises(draft: Draft) -> Outcome:
        at = draft.text.find("guarantee")
        if at < 0:
            return Outcome(Decision.ALLOW)
        reason = Reason(
            rule="tone.promises",
            explain="avoid promising outcomes (clause 4.2)",
            decision=Decision.WARN,
            start=at,
            end=at + len("guarantee"),
        )
        return Outcome(Decision.WARN, [reason])

    monkeypatch.setattr(checks, "_checks", [no_promises])
    path = f"/api/conversations/{desk.a.conversation_id}/replies"
    agent = bearer(desk.a.agent_token)
    text = "I guarantee it arrives tomorrow"
    first = client.post(path, json={"text": text}, headers=agent)
    assert first.status_code == 409
    error = first.json()["error"]
    assert error["code"] == "confirm"
    assert error["reasons"] == [
        {
            "rule": "tone.promises",
            "explain": "avoid promising outcomes (clause 4.2)",
            "decision": "warn",
            "start": 2,
            "end": 11,
        }
    ]
    confirmed = client.post(path, json={"text": text, "confirm": True}, headers=agent)
    assert confirmed.status_code == 202
    assert confirmed.json()["delivery_state"] == "queued"
