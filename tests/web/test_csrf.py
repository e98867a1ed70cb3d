"""Every form of the desk and of the visitor chat refuses a post without its security token,
and the refused post changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Activity, Message
from socialdesk.web.chat import VISITOR_COOKIE
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login

FORM_ROUTES = [
    ("/conversations/{cid}/reply", {"text": "hello"}),
    ("/conversations/{cid}/notes", {"text": "a note"}),
    ("/conversations/{cid}/assign", {"assignee": "me"}),
    ("/conversations/{cid}/team", {"team": ""}),
    ("/conversations/{cid}/priority", {"priority": "urgent"}),
    ("/conversations/{cid}/status", {"status": "resolved"}),
    ("/conversations/{cid}/snooze", {"preset": "1h"}),
    ("/conversations/{cid}/tags", {"tag": "billing"}),
    ("/conversations/{cid}/tags/remove", {"tag": "billing"}),
    ("/inbox/batch", {"conversation_ids": "1", "change": "resolve"}),
    ("/conversations/{cid}/messages/{mid}/retry", {}),
    ("/conversations/{cid}/presence", {"activity": "viewing"}),
    ("/logout", {}),
]


def _counts(session: Session) -> tuple[int, int]:
    messages = session.scalar(select(func.count()).select_from(Message)) or 0
    activities = session.scalar(select(func.count()).select_from(Activity)) or 0
    session.commit()  # end the read (nothing to write): never hold SQLite's write lock
    return messages, activities


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_desk_forms_refuse_posts_without_the_session_token(
    client: TestClient, desk: Desk, session: Session, token: str | None
) -> None:
    result = ingest(session, desk.web, inbound(thread_key="visitor:v1", author="v1"))
    session.commit()
    ids = {"cid": result.conversation.id, "mid": result.message.id}
    login(client, desk.owner)
    before = _counts(session)
    for route, data in FORM_ROUTES:
        form = dict(data)
        if token is not None:
            form["csrf_token"] = token
        response = client.post(route.format(**ids), data=form)
        assert response.status_code == 403, route
        assert "security token is missing or stale" in response.text, route
        assert _counts(session) == before, route
    assert client.get("/").status_code == 200  # still logged in: logout was refused too


def test_htmx_posts_carry_the_token_in_a_header(
    client: TestClient, desk: Desk, session: Session
) -> None:
    result = ingest(session, desk.web, inbound(thread_key="visitor:v1", author="v1"))
    session.commit()
    csrf = login(client, desk.owner)
    url = f"/conversations/{result.conversation.id}/tags"
    refused = client.post(url, data={"tag": "vip"}, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    accepted = client.post(
        url, data={"tag": "vip"}, headers={"HX-Request": "true", "X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 200
    assert "#vip" in accepted.text


def test_visitor_form_refuses_posts_without_its_token(
    client: TestClient, desk: Desk, session: Session
) -> None:
    page = client.get(f"/chat/{desk.web.public_key}")
    assert client.cookies.get(VISITOR_COOKIE)
    for form in ({"text": "hi"}, {"text": "hi", "csrf_token": "forged"}):
        response = client.post(f"/chat/{desk.web.public_key}/messages", data=form)
        assert response.status_code == 403
        assert "stale" in response.text
    assert _counts(session) == (0, 0)
    assert page.status_code == 200


def test_visitor_token_of_one_visitor_does_not_work_for_another(
    client: TestClient, desk: Desk, session: Session
) -> None:
    from socialdesk.web.chat import visitor_csrf

    client.get(f"/chat/{desk.web.public_key}")
    response = client.post(
        f"/chat/{desk.web.public_key}/messages",
        data={"text": "hi", "csrf_token": visitor_csrf("someone-else")},
    )
    assert response.status_code == 403
    assert _counts(session) == (0, 0)
