"""Withdrawing a sent public reply through the API: 202 and the withdrawal in the message's
schema, errors as JSON naming the field, roles, authors and other organizations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer
from tests.factories import accounts
from tests.factories.connectors import WithdrawingConnector
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels import service as channels_service
from socialdesk.connectors import registry


@pytest.fixture
def fake_x() -> Iterator[WithdrawingConnector]:
    connector = WithdrawingConnector()
    with registry.override(connector):
        yield connector


@pytest.fixture
def reply_id(
    client: TestClient, session: Session, desk: Desk, jobs: Any, fake_x: WithdrawingConnector
) -> int:
    """A public reply the agent of organization A sent on X."""
    account = channels_service.create(
        session, organization_id=desk.a.organization_id, kind="x", handle="@shop"
    )
    result = ingest(session, account, inbound(native_id="tw-1", author="9001", text="Refund?"))
    session.commit()
    queued = client.post(
        f"/api/conversations/{result.conversation.id}/replies",
        json={"text": "Refund of 500 EUR sent"},
        headers=bearer(desk.a.agent_token),
    ).json()
    jobs.run_pending()
    return int(queued["id"])


def _withdraw(client: TestClient, token: str, message_id: int, body: Any) -> Any:
    return client.post(f"/api/messages/{message_id}/withdraw", json=body, headers=bearer(token))


def test_the_author_withdraws_and_the_message_shows_it(
    client: TestClient, desk: Desk, jobs: Any, fake_x: WithdrawingConnector, reply_id: int
) -> None:
    before = client.get(f"/api/messages/{reply_id}", headers=bearer(desk.a.agent_token)).json()
    assert before["withdrawal"] is None

    response = _withdraw(client, desk.a.agent_token, reply_id, {"reason": " Wrong amount "})
    assert response.status_code == 202
    withdrawal = response.json()["withdrawal"]
    assert withdrawal["state"] == "pending"
    assert withdrawal["reason"] == "Wrong amount"
    assert withdrawal["requested_by"] == {
        "id": desk.a.agent.id,
        "name": desk.a.agent.name,
        "initials": desk.a.agent.initials,
    }
    assert withdrawal["requested_at"] == "2026-01-05T09:00:00+00:00"
    assert withdrawal["withdrawn_at"] is None

    jobs.run_pending()
    done = client.get(f"/api/messages/{reply_id}", headers=bearer(desk.a.agent_token)).json()
    assert done["withdrawal"]["state"] == "withdrawn"
    assert done["withdrawal"]["withdrawn_at"] is not None
    assert done["delivery_state"] == "sent"
    assert fake_x.withdrawn == [done["native_id"]]

    again = _withdraw(client, desk.a.agent_token, reply_id, {"reason": "Again"})
    assert again.status_code == 202
    assert again.json()["withdrawal"]["reason"] == "Wrong amount"
    jobs.run_pending()
    assert len(fake_x.withdrawn) == 1


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}])
def test_a_reason_is_required(
    client: TestClient, desk: Desk, reply_id: int, body: dict[str, str]
) -> None:
    response = _withdraw(client, desk.a.agent_token, reply_id, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "reason"


def test_what_cannot_be_withdrawn_is_a_conflict_saying_why(client: TestClient, desk: Desk) -> None:
    # The website chat's customer message of organization A.
    response = _withdraw(client, desk.a.owner_token, desk.a.message_id, {"reason": "Typo"})
    assert response.status_code == 409
    assert "this message is the customer's" in response.json()["error"]["message"]


def test_a_colleague_may_not_and_an_admin_may(
    client: TestClient, session: Session, desk: Desk, reply_id: int
) -> None:
    org = session.get_one(Organization, desk.a.organization_id)
    colleague = accounts.member(session, org, role=Role.AGENT)
    colleague_token = accounts_service.create_api_token(session, member=colleague, name="t").token
    admin = accounts.member(session, org, role=Role.ADMIN)
    admin_token = accounts_service.create_api_token(session, member=admin, name="t").token
    session.commit()
    refused = _withdraw(client, colleague_token, reply_id, {"reason": "Typo"})
    assert refused.status_code == 403
    assert "author, or an owner or admin" in refused.json()["error"]["message"]
    allowed = _withdraw(client, admin_token, reply_id, {"reason": "Typo"})
    assert allowed.status_code == 202
    assert allowed.json()["withdrawal"]["requested_by"]["id"] == admin.id


def test_a_viewer_may_not(client: TestClient, desk: Desk, reply_id: int) -> None:
    response = _withdraw(client, desk.a.viewer_token, reply_id, {"reason": "Typo"})
    assert response.status_code == 403


def test_another_organizations_reply_is_not_found(
    client: TestClient, session: Session, desk: Desk, reply_id: int
) -> None:
    response = _withdraw(client, desk.b.owner_token, reply_id, {"reason": "Typo"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    owner = session.get_one(Member, desk.a.owner.id)
    assert owner.organization_id != desk.b.organization_id
