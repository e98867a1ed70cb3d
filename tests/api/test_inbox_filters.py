"""The inbox API's colleague filter (one member's conversations, counted alike; a member of
another organization, or of none, is a 422 naming ``assignee``) and its search for customers
(by name, handle or address, never another organization's). On SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer

from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation


def _ids(client: TestClient, token: str, **params: str) -> list[int]:
    response = client.get("/api/conversations", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_one_colleagues_conversations_are_listed_and_counted(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation = session.get(Conversation, desk.a.conversation_id)
    assert conversation is not None
    conversations_service.assign(
        session, conversation=conversation, assignee_id=desk.a.agent.id, actor=desk.a.owner
    )
    session.commit()
    token = desk.a.owner_token
    assert _ids(client, token, assignee=str(desk.a.agent.id)) == [desk.a.conversation_id]
    assert _ids(client, token, assignee=str(desk.a.viewer.id)) == []
    counts = client.get(
        "/api/conversations/counts",
        headers=bearer(token),
        params={"assignee": str(desk.a.agent.id)},
    ).json()
    assert (counts["open"], counts["all"]) == (1, 1)
    # The assignee's own numbers stay those of the other choices.
    assert (counts["mine"], counts["unassigned"]) == (0, 1)


def test_a_member_of_another_organization_or_of_none_is_refused(
    client: TestClient, desk: Desk
) -> None:
    for member_id in (desk.b.agent.id, desk.b.owner.id, 987_654_321):
        for path in ("/api/conversations", "/api/conversations/counts"):
            response = client.get(
                path, headers=bearer(desk.a.owner_token), params={"assignee": str(member_id)}
            )
            assert response.status_code == 422, (path, member_id, response.text)
            error = response.json()["error"]
            assert error["field"] == "assignee"
            assert error["message"].startswith(
                f"assignee {member_id} is not a member of this organization"
            )


def test_the_search_finds_customers_of_the_organization_only(
    client: TestClient, desk: Desk
) -> None:
    # A's first customer is "A-Cust", @a-cust; B's is "B-Cust", @b-cust. Neither word is in a
    # message.
    for typed in ("a-cust", "@A-CUST", "A-Cu", "@a-c"):
        assert _ids(client, desk.a.owner_token, q=typed) == [desk.a.conversation_id], typed
    for typed in ("b-cust", "@b-cust"):
        assert _ids(client, desk.a.owner_token, q=typed) == [], typed
        assert _ids(client, desk.b.owner_token, q=typed) == [desk.b.conversation_id], typed
