"""A page's cursor continues the list it came from, and nothing else.

Cursors of every list used to share one form (a time and an id), so a cursor from the inbox was
taken by the contacts list, or by the inbox under other filters, and answered with the wrong
pages without a word. Each is now bound to its list: the path, the filters and order, and who
asks; anywhere else it is a 422 naming ``cursor``.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.api.conftest import Desk, bearer


def _next_cursor(client: TestClient, path: str, token: str, **params: str | int) -> str:
    response = client.get(path, params={"limit": 1, **params}, headers=bearer(token))
    assert response.status_code == 200, response.text
    cursor = response.json()["next_cursor"]
    assert isinstance(cursor, str), f"{path} should have a second page"
    return cursor


def _refused(
    client: TestClient, path: str, token: str, cursor: str, **params: str | int
) -> dict[str, object]:
    response = client.get(path, params={**params, "cursor": cursor}, headers=bearer(token))
    assert response.status_code == 422, (path, params, response.text)
    error: dict[str, object] = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == "cursor"
    return error


def test_a_cursor_is_refused_by_another_list(client: TestClient, desk: Desk) -> None:
    owner = desk.a.owner_token
    inbox = _next_cursor(client, "/api/conversations", owner)
    error = _refused(client, "/api/contacts", owner, inbox)
    assert "leave cursor out for the first page" in str(error["message"])
    contacts = _next_cursor(client, "/api/contacts", owner)
    _refused(client, "/api/conversations", owner, contacts)
    _refused(client, "/api/members", owner, contacts)
    # The trail of one conversation is another list than the trail of another.
    first = f"/api/conversations/{desk.a.conversation_id}"
    for tag in ("late", "refund"):
        added = client.post(f"{first}/tags", json={"name": tag}, headers=bearer(owner))
        assert added.status_code == 200, added.text
    trail = _next_cursor(client, f"{first}/activities", owner)
    listed = client.get("/api/conversations", headers=bearer(owner)).json()["items"]
    (other,) = [c["id"] for c in listed if c["id"] != desk.a.conversation_id]
    _refused(client, f"/api/conversations/{other}/activities", owner, trail)


def test_a_cursor_is_refused_under_other_filters_or_another_order(
    client: TestClient, desk: Desk
) -> None:
    owner = desk.a.owner_token
    everything = _next_cursor(client, "/api/conversations", owner, status="all", sort="priority")
    # Its own list takes it, with the parameters in any order and another page size.
    rest = client.get(
        "/api/conversations",
        params=[("sort", "priority"), ("limit", "5"), ("cursor", everything), ("status", "all")],
        headers=bearer(owner),
    )
    assert rest.status_code == 200, rest.text
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    _refused(client, "/api/conversations", owner, everything, sort="priority")  # status=open
    _refused(client, "/api/conversations", owner, everything, status="all")  # sort=recent
    _refused(
        client, "/api/conversations", owner, everything, status="all", sort="priority", tag="x"
    )
    by_priority = _next_cursor(client, "/api/conversations", owner, sort="priority")
    _refused(client, "/api/conversations", owner, by_priority, sort="sla")
    newest = _next_cursor(client, "/api/contacts", owner)
    _refused(client, "/api/contacts", owner, newest, order="active")


def test_a_cursor_is_refused_for_someone_else(client: TestClient, desk: Desk) -> None:
    """Who asks chooses the list too (assignee=me, the brand accounts one may see...)."""
    cursor = _next_cursor(client, "/api/conversations", desk.a.owner_token, assignee="anyone")
    _refused(client, "/api/conversations", desk.a.agent_token, cursor, assignee="anyone")
    _refused(client, "/api/conversations", desk.b.owner_token, cursor, assignee="anyone")
    # Who asks is known before the cursor is read.
    assert client.get("/api/conversations", params={"cursor": cursor}).status_code == 401


def test_an_edited_cursor_is_refused(client: TestClient, desk: Desk) -> None:
    owner = desk.a.owner_token
    cursor = _next_cursor(client, "/api/members", owner)
    inner, _, mac = cursor.rpartition(".")
    edited_inner = ("A" if inner[0] != "A" else "B") + inner[1:]
    edited_mac = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for forged in (f"{edited_inner}.{mac}", f"{inner}.{edited_mac}", inner, f"{inner}.", "é.é"):
        error = _refused(client, "/api/members", owner, forged)
        assert "not one this server issued for this list" in str(error["message"])
