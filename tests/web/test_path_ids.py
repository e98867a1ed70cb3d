"""A desk page whose id is not a row id (not a number, zero, or past 64 bits, which the
databases cannot even look up) is the page-not-found page, never a server error; the API keeps
answering such ids with a 422 that names the parameter."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.common.pagination import MAX_ROW_ID
from tests.web.conftest import Desk, login

TOO_BIG = str(MAX_ROW_ID + 1)
PAGES = (
    f"/conversations/{TOO_BIG}",
    "/conversations/abc",
    "/conversations/0",
    f"/admin/automation/{TOO_BIG}",
    f"/admin/routing/rules/{TOO_BIG}",
    f"/admin/sla/policies/{TOO_BIG}",
    f"/admin/alerts/{TOO_BIG}",
    f"/admin/members/{TOO_BIG}",
    f"/escalations/{TOO_BIG}",
)


@pytest.mark.parametrize("path", PAGES)
def test_a_page_with_an_id_that_names_no_row_is_not_found(
    client: TestClient, desk: Desk, path: str
) -> None:
    login(client, desk.owner)
    for headers in ({}, {"HX-Request": "true"}):
        page = client.get(path, headers=headers)
        assert page.status_code == 404, (path, page.status_code)
        assert "text/html" in page.headers["content-type"]
        assert "does not exist" in page.text


def test_a_form_post_to_an_id_past_64_bits_is_not_a_server_error(
    client: TestClient, desk: Desk
) -> None:
    token = login(client, desk.owner)
    answer = client.post(f"/admin/alerts/{TOO_BIG}/delete", data={"csrf_token": token})
    assert answer.status_code == 404


def test_the_api_still_names_the_parameter(
    client: TestClient, desk: Desk, session: Session
) -> None:
    token = accounts_service.create_api_token(session, member=desk.owner, name="tests").token
    session.commit()
    answer = client.get(
        f"/api/conversations/{TOO_BIG}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "conversation_id"
