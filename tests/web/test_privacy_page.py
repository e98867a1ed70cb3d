"""The page of a customer's data: owners and admins reach it from the conversation, download
the export, and erase after typing the confirmation word; agents see neither the link nor the
page."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent
from socialdesk.contacts import retention
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Conversation
from socialdesk.db.session import get_sessionmaker
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login


def _customer(session: Session, desk: Desk) -> tuple[int, int]:
    result = ingest(
        session,
        desk.web,
        inbound(text="Please forget me", author="mira", thread_key="visitor:mira"),
    )
    session.commit()
    contact_id = result.conversation.contact_id
    assert contact_id is not None
    return contact_id, result.conversation.id


def _exists(model: type[Contact] | type[Conversation], row_id: int) -> bool:
    with get_sessionmaker(write=False)() as reader:
        return reader.scalar(select(model.id).where(model.id == row_id)) is not None


def test_an_admin_exports_then_erases(client: TestClient, desk: Desk, session: Session) -> None:
    contact_id, conversation_id = _customer(session, desk)
    csrf = login(client, desk.owner)
    side = client.get(f"/conversations/{conversation_id}").text
    link = f'href="/contacts/{contact_id}/privacy?conversation={conversation_id}"'
    assert link in side

    page = client.get(f"/contacts/{contact_id}/privacy?conversation={conversation_id}")
    assert page.status_code == 200
    assert f'<a href="/conversations/{conversation_id}">' in page.text
    assert "Mira" in page.text
    assert "@mira" in page.text

    exported = client.post(f"/contacts/{contact_id}/export", data={"csrf_token": csrf})
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith("attachment;")
    document = json.loads(exported.text)
    assert document["conversations"][0]["messages"][0]["text"] == "Please forget me"

    # Without the word, nothing happens and the page says why.
    refused = client.post(
        f"/contacts/{contact_id}/erase", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert refused.status_code == 422
    assert "type erase in the box to confirm: nothing was erased" in refused.text
    assert 'aria-invalid="true" aria-describedby="error-erase"' in refused.text
    assert _exists(Contact, contact_id)

    done = client.post(
        f"/contacts/{contact_id}/erase", data={"csrf_token": csrf, "confirm": " Erase "}
    )
    assert done.status_code == 200
    assert "Mira's data is erased" in done.text
    assert "1 contact, 1 identity, 1 conversation, 1 message and 0 raw events" in done.text
    assert '<a class="button primary" href="/">Back to the inbox</a>' in done.text
    assert not _exists(Contact, contact_id)
    assert not _exists(Conversation, conversation_id)
    assert client.get(f"/conversations/{conversation_id}").status_code == 404
    with get_sessionmaker(write=False)() as reader:
        trail = {
            e.action: e.source_address
            for e in reader.scalars(
                select(AuditEvent).where(
                    AuditEvent.target_type == "contact", AuditEvent.target_id == str(contact_id)
                )
            )
        }
    # Both recorded, with where the request came from.
    assert trail == {"contact_exported": "testclient", "contact_erased": "testclient"}


def test_agents_have_no_way_in(client: TestClient, desk: Desk, session: Session) -> None:
    contact_id, conversation_id = _customer(session, desk)
    csrf = login(client, desk.agent)
    assert "/privacy" not in client.get(f"/conversations/{conversation_id}").text
    assert client.get(f"/contacts/{contact_id}/privacy").status_code == 403
    answer = client.post(
        f"/contacts/{contact_id}/erase", data={"csrf_token": csrf, "confirm": "erase"}
    )
    assert answer.status_code == 403
    assert _exists(Contact, contact_id)


def test_the_way_back_is_only_ever_a_conversation(
    client: TestClient, desk: Desk, session: Session
) -> None:
    contact_id, _ = _customer(session, desk)
    login(client, desk.owner)
    page = client.get(f"/contacts/{contact_id}/privacy?conversation=javascript:alert(1)")
    assert page.status_code == 200
    assert "Back to the conversation" not in page.text


def test_retention_is_set_on_its_admin_page(
    client: TestClient, desk: Desk, session: Session
) -> None:
    _customer(session, desk)
    org_id = desk.org.id
    csrf = login(client, desk.owner)
    page = client.get("/admin/retention")
    assert page.status_code == 200
    assert '<a href="/admin/retention" aria-current="page">Retention</a>' in page.text
    assert 'value="always" checked' in page.text

    refused = client.post(
        "/admin/retention", data={"csrf_token": csrf, "keep": "days", "days": "10"}
    )
    assert refused.status_code == 422
    assert "keep resolved conversations 30 to 3650 days, not 10" in refused.text
    assert 'value="10" aria-invalid="true"' in refused.text
    no_number = client.post(
        "/admin/retention", data={"csrf_token": csrf, "keep": "days", "days": "a year"}
    )
    assert no_number.status_code == 422
    assert "say how many days" in no_number.text

    saved = client.post("/admin/retention", data={"csrf_token": csrf, "keep": "days", "days": "90"})
    assert saved.status_code == 303
    again = client.get(saved.headers["location"])
    assert "Saved." in again.text
    assert 'value="days" checked' in again.text
    assert "No conversation is past it now." in again.text
    with get_sessionmaker(write=False)() as reader:
        assert retention.retention_settings(reader, organization_id=org_id).days == 90

    client.post("/admin/retention", data={"csrf_token": csrf, "keep": "always", "days": "90"})
    with get_sessionmaker(write=False)() as reader:
        assert retention.retention_settings(reader, organization_id=org_id).days is None

    client.cookies.clear()
    login(client, desk.agent)
    assert client.get("/admin/retention").status_code == 403
