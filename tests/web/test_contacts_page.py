"""The customers page: everyone who wrote to the desk, found by name or by a handle on any
channel, with how many conversations they had and a link to the latest; the data page's link
only for those who may export and erase. Another organization's customers never show."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login


def _row(html: str, contact_id: int) -> str:
    start = html.index(f'<tr data-contact-id="{contact_id}">')
    return html[start : html.index("</tr>", start)]


def test_customers_are_found_by_name_or_handle(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    first = ingest(
        session,
        desk.web,
        inbound(author="amara", thread_key="visitor:a1", at=clock.now() - timedelta(days=2)),
    )
    latest = ingest(
        session,
        desk.web,
        inbound(author="amara", thread_key="visitor:a2", at=clock.now() - timedelta(hours=1)),
    )
    ingest(session, desk.web, inbound(author="bodil", thread_key="visitor:b1"))
    other_org = accounts.organization(session)
    ingest(session, channels.brand_account(session, other_org), inbound(author="amara-too"))
    session.commit()
    amara = first.conversation.contact_id
    assert amara is not None
    assert latest.conversation.contact_id == amara
    latest_id = latest.conversation.id
    session.commit()

    login(client, desk.agent)
    page = client.get("/contacts")
    assert page.status_code == 200
    assert '<a href="/contacts" aria-current="page">Customers</a>' in page.text
    row = _row(page.text, amara)
    assert "Amara" in row
    assert "@amara" in row
    assert f'<a href="/conversations/{latest_id}">2 conversations</a>' in row
    assert "/privacy" not in page.text  # agents may not export or erase
    assert "Amara-Too" not in page.text

    found = client.get("/contacts", params={"q": "@amar"})
    assert f'data-contact-id="{amara}"' in found.text
    assert "Bodil" not in found.text
    none = client.get("/contacts", params={"q": "nobody-like-this"})
    assert "name or handle holds “nobody-like-this”." in none.text

    assert client.get("/contacts", params={"cursor": "garbage"}).status_code == 422


def test_admins_reach_the_data_page_from_the_list(
    client: TestClient, desk: Desk, session: Session
) -> None:
    contact_id = ingest(session, desk.web, inbound(author="cato")).conversation.contact_id
    session.commit()
    login(client, desk.owner)
    page = client.get("/contacts")
    assert f'<a href="/contacts/{contact_id}/privacy" class="nowrap">Their data</a>' in page.text
