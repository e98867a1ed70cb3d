"""Withdrawing a sent public reply from the conversation page: the action, its reason, the
states it shows, who is offered it, and refusals beside the form."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Role
from socialdesk.connectors import registry
from socialdesk.conversations.models import Message, WithdrawalState
from socialdesk.db.session import get_sessionmaker
from socialdesk.outbound import service as outbound
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import WithdrawingConnector, permanent
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import HX, Desk, login


@dataclass
class Sent:
    conversation_id: int
    message_id: int
    author: Member

    @property
    def url(self) -> str:
        return f"/conversations/{self.conversation_id}/messages/{self.message_id}/withdraw"


@pytest.fixture
def fake_x() -> Iterator[WithdrawingConnector]:
    connector = WithdrawingConnector()
    with registry.override(connector):
        yield connector


@pytest.fixture
def sent(session: Session, desk: Desk, jobs: JobRunner, fake_x: WithdrawingConnector) -> Sent:
    account = channels.brand_account(session, desk.org, kind="x")
    result = ingest(session, account, inbound(native_id="t1", author="cust", text="Refund?"))
    reply = outbound.queue_reply(
        session, conversation=result.conversation, author=desk.agent, text="Refund of 500 EUR"
    )
    session.commit()
    jobs.run_pending()
    return Sent(result.conversation.id, reply.id, desk.agent)


def _stored(message_id: int) -> Message:
    with get_sessionmaker(write=False)() as reader:
        message = reader.get(Message, message_id)
        assert message is not None
        return message


def _thread(client: TestClient, sent: Sent) -> str:
    response = client.get(f"/conversations/{sent.conversation_id}")
    assert response.status_code == 200
    return response.text


def test_the_author_withdraws_a_reply_with_a_reason(
    client: TestClient,
    desk: Desk,
    sent: Sent,
    jobs: JobRunner,
    fake_x: WithdrawingConnector,
) -> None:
    csrf = login(client, desk.agent)
    html = _thread(client, sent)
    assert "<summary>Withdraw</summary>" in html
    assert f'hx-post="{sent.url}"' in html
    assert f'<label for="withdraw-reason-{sent.message_id}">' in html
    assert "sse:message.withdrawal_changed" in html  # the open thread follows it live

    response = client.post(
        sent.url, data={"csrf_token": csrf, "reason": "Wrong amount: 50 EUR"}, headers=HX
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Being withdrawn</strong> from X" in response.text
    assert "Wrong amount: 50 EUR" in response.text
    assert "<summary>Withdraw</summary>" not in response.text

    jobs.run_pending()
    html = _thread(client, sent)
    assert fake_x.withdrawn == [_stored(sent.message_id).native_id]
    assert "<strong>Withdrawn</strong> from X by Alex Agent" in html
    assert "msg-withdrawn" in html
    assert "withdrew a reply: Wrong amount: 50 EUR" in html  # the trail


def test_without_htmx_the_form_redirects_back_to_the_reply(
    client: TestClient, desk: Desk, sent: Sent
) -> None:
    csrf = login(client, desk.agent)
    response = client.post(sent.url, data={"csrf_token": csrf, "reason": "Typo"})
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"#message-{sent.message_id}")
    assert _stored(sent.message_id).withdrawal_state == WithdrawalState.PENDING.value


def test_a_reason_is_required_and_the_refusal_is_shown_beside_the_form(
    client: TestClient, desk: Desk, sent: Sent
) -> None:
    csrf = login(client, desk.agent)
    response = client.post(sent.url, data={"csrf_token": csrf, "reason": "   "}, headers=HX)
    assert response.status_code == 422
    assert f'id="error-withdraw-{sent.message_id}"' in response.text
    assert "say why the reply is withdrawn" in response.text
    assert '<details class="withdraw" open>' in response.text
    assert _stored(sent.message_id).withdrawal_state is None


def test_a_failure_shows_the_reason_and_try_again(
    client: TestClient,
    desk: Desk,
    sent: Sent,
    jobs: JobRunner,
    fake_x: WithdrawingConnector,
) -> None:
    csrf = login(client, desk.agent)
    fake_x.withdraw_failures = [permanent("X refused the request (403): not allowed")]
    client.post(sent.url, data={"csrf_token": csrf, "reason": "Typo"}, headers=HX)
    jobs.run_pending()
    html = _thread(client, sent)
    assert "Could not be withdrawn:</strong> X refused the request (403): not allowed" in html
    assert "could not withdraw a reply: X refused the request (403): not allowed" in html
    assert '<input type="hidden" name="reason" value="Typo">' in html
    assert ">Try again</button>" in html

    again = client.post(sent.url, data={"csrf_token": csrf, "reason": "Typo"}, headers=HX)
    assert again.status_code == 200
    jobs.run_pending()
    assert _stored(sent.message_id).withdrawal_state == WithdrawalState.WITHDRAWN.value


def test_an_owner_is_offered_it_and_a_colleague_is_not(
    client: TestClient, session: Session, desk: Desk, sent: Sent
) -> None:
    colleague = accounts.member(session, desk.org, role=Role.APPROVER, name="Cole League")
    session.commit()
    csrf = login(client, colleague)
    assert "<summary>Withdraw</summary>" not in _thread(client, sent)
    refused = client.post(sent.url, data={"csrf_token": csrf, "reason": "Typo"}, headers=HX)
    assert refused.status_code == 422
    assert "only the reply&#39;s author, or an owner or admin, may withdraw it" in refused.text

    client.post("/logout", data={"csrf_token": csrf})
    login(client, desk.owner)
    assert "<summary>Withdraw</summary>" in _thread(client, sent)


def test_a_viewer_may_not(client: TestClient, desk: Desk, sent: Sent) -> None:
    csrf = login(client, desk.viewer)
    assert "<summary>Withdraw</summary>" not in _thread(client, sent)
    response = client.post(sent.url, data={"csrf_token": csrf, "reason": "Typo"})
    assert response.status_code == 403


def test_a_website_chat_reply_offers_no_withdraw(
    client: TestClient, session: Session, desk: Desk, jobs: JobRunner
) -> None:
    result = ingest(session, desk.web, inbound(author="ana", thread_key="visitor:ana"))
    outbound.queue_reply(session, conversation=result.conversation, author=desk.owner, text="Hi")
    session.commit()
    jobs.run_pending()
    login(client, desk.owner)
    html = client.get(f"/conversations/{result.conversation.id}").text
    assert "delivery-sent" in html
    assert "<summary>Withdraw</summary>" not in html


def test_another_organizations_reply_is_not_found(
    client: TestClient, session: Session, sent: Sent
) -> None:
    other = accounts.organization(session, name="Other")
    owner = accounts.member(session, other, role=Role.OWNER)
    session.commit()
    csrf = login(client, owner)
    response = client.post(sent.url, data={"csrf_token": csrf, "reason": "Typo"})
    assert response.status_code == 404
    assert _stored(sent.message_id).withdrawal_state is None
